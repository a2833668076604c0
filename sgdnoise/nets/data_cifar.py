"""CIFAR-10, python version (Krizhevsky 2009), read by our own code — no torchvision.

Layout: ``cifar-10-batches-py/`` holding ``data_batch_1`` … ``data_batch_5``, ``test_batch``
and ``batches.meta``, either extracted in a folder or inside the gzip tarball
``cifar-10-python.tar.gz`` (or the project's known subset ``cifar-10-python-subset.tar.gz``).
Each batch is a Python-2 pickle of a dict with ``data`` (uint8, N × 3072, channel-major RGB
32 × 32) and ``labels``; N is read from the file, never assumed to be 10,000.
Batches are unpickled by :mod:`sgdnoise.nets.unpickle`, which runs no code from the file.
"""

from __future__ import annotations

import os
import tarfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from .files import data_dir_from, download, verify_file
from .unpickle import restricted_loads

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
ARCHIVES = ("cifar-10-python.tar.gz", "cifar-10-python-subset.tar.gz")
CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
#: Vehicles of CIFAR-10 (the rest are animals): SGW23's animals-vs-vehicles task.
VEHICLES = (0, 1, 8, 9)


def _parse_batch(raw: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    d = restricted_loads(raw, source=source)
    if not isinstance(d, dict):
        raise ParameterError("data_dir", source, "a CIFAR-10 batch must pickle a dict")
    d = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in d.items()}
    if "data" not in d or "labels" not in d:
        raise ParameterError("data_dir", source, "a CIFAR-10 batch needs 'data' and 'labels'")
    data, labels = d["data"], np.asarray(d["labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise ParameterError("data_dir", source, "'data' must be a uint8 array of shape (N, 3072)")
    if data.shape[1] != 3 * 32 * 32 or labels.shape != (data.shape[0],):
        raise ParameterError(
            "data_dir",
            source,
            f"'data' has shape {data.shape} and 'labels' {labels.shape}; expected (N, 3072), (N,)",
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ParameterError("data_dir", source, "labels must lie in 0..9")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _read_folder(folder: Path) -> dict[str, bytes]:
    out = {}
    for name in (*TRAIN_BATCHES, TEST_BATCH):
        p = folder / name
        if not p.is_file():
            raise ParameterError("data_dir", str(folder), f"CIFAR-10 folder lacks {name}")
        out[name] = p.read_bytes()
    return out


def _read_archive(path: Path) -> dict[str, bytes]:
    out = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                name = Path(member.name).name
                if member.isfile() and name in (*TRAIN_BATCHES, TEST_BATCH):
                    out[name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise ParameterError(
            "data_dir", str(path), f"truncated or corrupt archive ({type(e).__name__}: {e})"
        ) from None
    missing = [n for n in (*TRAIN_BATCHES, TEST_BATCH) if n not in out]
    if missing:
        raise ParameterError("data_dir", str(path), f"archive lacks {', '.join(missing)}")
    return out


def locate_cifar10(data_dir: str | os.PathLike | None, *, download_missing: bool) -> Path:
    """The CIFAR-10 source under ``data_dir`` (or ``$SGDNOISE_DATA_DIR``): the path itself if
    it is an archive or a batches folder, else ``cifar-10-batches-py/``, else one of
    :data:`ARCHIVES`; downloads the official tarball when allowed and nothing is found."""
    root = data_dir_from(data_dir)
    if root is None:
        raise ParameterError(
            "data_dir", None, "say where CIFAR-10 is: data_dir argument or SGDNOISE_DATA_DIR"
        )
    if root.is_file() or (root.is_dir() and (root / TEST_BATCH).is_file()):
        return root
    if (root / FOLDER).is_dir():
        return root / FOLDER
    for name in ARCHIVES:
        if (root / name).is_file():
            return root / name
    if download_missing:
        return download(ARCHIVES[0], root)
    raise ParameterError(
        "data_dir",
        str(root),
        f"holds no CIFAR-10 ({FOLDER}/ or {' / '.join(ARCHIVES)}): put the official "
        "files there (or load_dataset(..., download=True) where a network exists)",
    )


def load_cifar10(
    data_dir: str | os.PathLike | None = None, *, verify: bool = True, download: bool = True
) -> dict:
    """All CIFAR-10 images found, as numpy arrays.

    Returns ``{"x_train": uint8 (N, 3, 32, 32), "y_train": int64 (N,), "x_test", "y_test",
    "source": path, "provenance": "official" | "subset" | "unverified"}``.
    """
    src = locate_cifar10(data_dir, download_missing=download)
    if src.is_file():
        provenance = verify_file(src, verify=verify)
        raw = _read_archive(src)
    else:
        # The batches' own digests are not published by the dataset's authors; an
        # extracted folder is read unverified (its pickles are still read safely).
        provenance = "unverified"
        raw = _read_folder(src)
    train = [_parse_batch(raw[n], f"{src}:{n}") for n in TRAIN_BATCHES]
    x_test, y_test = _parse_batch(raw[TEST_BATCH], f"{src}:{TEST_BATCH}")
    return {
        "x_train": np.concatenate([x for x, _ in train]),
        "y_train": np.concatenate([y for _, y in train]),
        "x_test": x_test,
        "y_test": y_test,
        "source": str(src),
        "provenance": provenance,
    }
