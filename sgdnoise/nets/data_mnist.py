"""MNIST in its official IDX format (LeCun et al. 1998), gzipped or raw — no torchvision.

IDX: a big-endian header ``0x00 0x00 <dtype=0x08 (uint8)> <ndim>`` followed by ``ndim``
uint32 sizes and the data.  Images are ``idx3`` (N × 28 × 28), labels ``idx1`` (N).  The
number of items comes from the header, and the payload must hold exactly that many bytes
(a truncated or padded file is refused).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from .files import data_dir_from, download, verify_file

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def parse_idx(raw: bytes, source: str, ndim: int) -> np.ndarray:
    """Decode one IDX payload of unsigned bytes with ``ndim`` dimensions."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ParameterError("data_dir", source, "not an IDX file (bad magic number)")
    if raw[2] != 0x08 or raw[3] != ndim:
        raise ParameterError(
            "data_dir", source, f"IDX type {raw[2]:#04x} with {raw[3]} dims; expected uint8, {ndim}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ParameterError("data_dir", source, "truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise ParameterError(
            "data_dir",
            source,
            f"IDX header says {shape} ({size} bytes) but the file holds {len(raw) - header}: "
            "truncated or corrupt",
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(root: Path, stem: str, download_missing: bool) -> Path:
    for name in (stem + ".gz", stem):
        for folder in (root, root / "mnist", root / "MNIST" / "raw"):
            if (folder / name).is_file():
                return folder / name
    if download_missing:
        return download(stem + ".gz", root / "mnist")
    raise ParameterError(
        "data_dir",
        str(root),
        f"holds no {stem}[.gz] (looked in ./, mnist/, MNIST/raw/): put the official files "
        "there (or load_dataset(..., download=True) where a network exists)",
    )


def _read(path: Path) -> bytes:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ParameterError(
                "data_dir", str(path), f"truncated or corrupt gzip ({type(e).__name__}: {e})"
            ) from None
    return raw


def load_mnist(
    data_dir: str | os.PathLike | None = None, *, verify: bool = True, download: bool = True
) -> dict:
    """All MNIST images found: ``{"x_train": uint8 (N, 1, 28, 28), "y_train": int64,
    "x_test", "y_test", "source", "provenance"}`` (provenance: the weakest of the four
    files' — ``official``, ``subset`` or ``unverified``)."""
    root = data_dir_from(data_dir)
    if root is None:
        raise ParameterError(
            "data_dir", None, "say where MNIST is: data_dir argument or SGDNOISE_DATA_DIR"
        )
    arrays, kinds = {}, []
    for key, stem in FILES.items():
        path = _find(root, stem, download)
        kinds.append(verify_file(path, verify=verify))
        arrays[key] = parse_idx(_read(path), str(path), 3 if key.endswith("images") else 1)
    for split in ("train", "test"):
        n_img, n_lab = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_img != n_lab:
            raise ParameterError(
                "data_dir", str(root), f"{split}: {n_img} images but {n_lab} labels"
            )
        if arrays[f"{split}_labels"].size and arrays[f"{split}_labels"].max() > 9:
            raise ParameterError("data_dir", str(root), f"{split} labels must lie in 0..9")
    order = ("unverified", "subset", "official")
    return {
        "x_train": arrays["train_images"][:, None],
        "y_train": arrays["train_labels"].astype(np.int64),
        "x_test": arrays["test_images"][:, None],
        "y_test": arrays["test_labels"].astype(np.int64),
        "source": str(root),
        "provenance": min(kinds, key=order.index),
    }
