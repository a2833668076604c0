"""Where data files live, which checksums they must have, and fetching them (DESIGN.md §6).

Location: the ``data_dir`` argument, else the environment variable ``SGDNOISE_DATA_DIR``.
(:func:`find_data_dir` adds the project machines' ``../shared/data`` as a last fallback.)

Checksums: the official release files are checked against their published MD5s.  The
real-data subsets kept on the project's machines (see ``../shared/data/README.md``) are not
the official files; they are accepted as *known subsets* by their own checksums.  A file
carrying a known name whose digest matches neither is refused (corrupt, truncated or a
different file).  Files under names we hold no checksum for are read unverified and say so
in the dataset's provenance.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import ParameterError

ENV_VAR = "SGDNOISE_DATA_DIR"


@dataclass(frozen=True)
class KnownFile:
    """A data file we hold a checksum for: ``kind`` is ``"official"`` or ``"subset"``."""

    name: str
    algorithm: str
    digest: str
    kind: str
    note: str = ""


#: Every data file we can verify, keyed by file name; a name may have several accepted
#: versions (the official release and a known subset of it).
KNOWN_FILES: dict[str, tuple[KnownFile, ...]] = {}


def _register(*files: KnownFile) -> None:
    for f in files:
        KNOWN_FILES[f.name] = KNOWN_FILES.get(f.name, ()) + (f,)


_register(
    KnownFile(
        "cifar-10-python.tar.gz",
        "md5",
        "c58f30108f718f92721af3b95e74349a",
        "official",
        "CIFAR-10 python version (Krizhevsky 2009), 170,498,071 bytes",
    ),
    KnownFile(
        "cifar-10-python-subset.tar.gz",
        "sha256",
        "097cec677ab1c92d09568cde258332f1090c4635d63ed724fdf3d96d0b057b8f",
        "subset",
        "first 1017 images of each official batch (../shared/data)",
    ),
    KnownFile("train-images-idx3-ubyte.gz", "md5", "f68b3c2dcbeaaa9fbdd348bbdeb94873", "official"),
    KnownFile("train-labels-idx1-ubyte.gz", "md5", "d53e105ee54ea40749a09fcbcd1e9432", "official"),
    KnownFile("t10k-images-idx3-ubyte.gz", "md5", "9fb629c4189551a2d022fa330f9573f3", "official"),
    KnownFile("t10k-labels-idx1-ubyte.gz", "md5", "ec29112dd5afa0611ce80d1b7f02629c", "official"),
    KnownFile(
        "train-images-idx3-ubyte.gz",
        "md5",
        "7bbefc240cb6e09436dbb55e95a50196",
        "subset",
        "first 17,435 official training images (../shared/data)",
    ),
    KnownFile(
        "train-labels-idx1-ubyte.gz",
        "md5",
        "b938dc175896eae07c093b8d3f9e2b75",
        "subset",
        "first 17,435 official training labels (../shared/data)",
    ),
)

#: Official download locations (the MNIST site often refuses robots; the second URL is the
#: long-standing mirror used by torchvision, serving byte-identical, checksum-verified files).
URLS: dict[str, tuple[str, ...]] = {
    "cifar-10-python.tar.gz": ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
    **{
        name: (
            f"https://yann.lecun.com/exdb/mnist/{name}",
            f"https://ossci-datasets.s3.amazonaws.com/mnist/{name}",
        )
        for name in (
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        )
    },
}


def data_dir_from(data_dir: str | os.PathLike | None) -> Path | None:
    """The folder the user named: ``data_dir`` or ``$SGDNOISE_DATA_DIR`` (``None`` if neither)."""
    if data_dir is None:
        env = os.environ.get(ENV_VAR)
        if not env:
            return None
        data_dir = env
    return Path(data_dir).expanduser()


def find_data_dir(
    data_dir: str | os.PathLike | None = None, *, extra: tuple[Path, ...] = ()
) -> Path:
    """``data_dir``, else ``$SGDNOISE_DATA_DIR``, else the first existing of ``extra`` and of
    ``../shared/data`` relative to the current folder and to this repository; otherwise a
    :class:`ParameterError` saying where it looked."""
    named = data_dir_from(data_dir)
    if named is not None:
        if not named.exists():
            raise ParameterError("data_dir", str(named), "does not exist")
        return named
    repo = Path(__file__).resolve().parents[2]
    candidates = (*extra, Path.cwd().parent / "shared" / "data", repo.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    raise ParameterError(
        "data_dir",
        None,
        f"no data folder given: pass data_dir / --data-dir or set {ENV_VAR}; "
        f"also looked in {', '.join(str(c) for c in candidates)}",
    )


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(path: Path, *, verify: bool = True) -> str:
    """Check ``path`` against the checksums held for its name.

    Returns the provenance: ``"official"``, ``"subset"`` or ``"unverified"`` (no checksum
    known for this name, or ``verify=False``).  A known name with an unknown digest raises
    :class:`ParameterError` (``parameter="data_dir"``).
    """
    known = KNOWN_FILES.get(path.name)
    if not verify or not known:
        return "unverified"
    digests = {}
    for k in known:
        if k.algorithm not in digests:
            digests[k.algorithm] = file_digest(path, k.algorithm)
        if digests[k.algorithm] == k.digest:
            return k.kind
    expected = ", ".join(f"{k.kind} {k.algorithm} {k.digest}" for k in known)
    got = ", ".join(f"{a} {d}" for a, d in digests.items())
    raise ParameterError(
        "data_dir",
        str(path),
        f"checksum mismatch (got {got}; expected {expected}): the file is corrupt, truncated "
        "or not the release it is named after; delete it and download again",
    )


def download(name: str, folder: Path) -> Path:
    """Fetch ``name`` from its official location into ``folder`` and verify it.

    Without a network this fails fast with a :class:`ParameterError` telling the user to put
    the files in place by hand.
    """
    if name not in URLS:
        raise ParameterError("name", name, f"no download location known; known: {sorted(URLS)}")
    # the folders this call creates are removed again if nothing could be fetched (issue 16:
    # a failed download must not leave empty folders behind)
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _fetch(name, folder)
    except BaseException:
        for p in created:  # deepest first
            try:
                p.rmdir()
            except OSError:
                break  # not empty (or not ours to remove): leave it and its parents
        raise


def _fetch(name: str, folder: Path) -> Path:
    target = folder / name
    errors = []
    for url in URLS[name]:
        partial = target.with_name(name + ".part")
        try:
            with urllib.request.urlopen(url, timeout=30) as r, open(partial, "wb") as f:
                shutil.copyfileobj(r, f)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            errors.append(f"{url}: {e}")
            partial.unlink(missing_ok=True)
            continue
        os.replace(partial, target)
        if verify_file(target) != "official":
            raise ParameterError("data_dir", str(target), "downloaded file is not the official one")
        return target
    raise ParameterError(
        "data_dir",
        str(folder),
        f"{name} is not there and could not be downloaded (no network?): "
        + "; ".join(errors)
        + f". Put the file into {folder} by hand or point {ENV_VAR} at a folder holding it",
    )
