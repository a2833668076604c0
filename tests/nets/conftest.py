"""Builders of tiny data files in the official CIFAR-10 / MNIST formats (written by the tests
themselves; nothing is copied from the real data), and single-threaded torch while these
tests run: the nets here are tiny, and on a shared 2-core machine OpenMP's thread hand-offs
cost more than the arithmetic (measured: 4 µs vs 110 µs per small cross-entropy call)."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def cifar_batch_bytes(n: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    payload = {"batch_label": "training batch", "labels": labels, "data": data}
    return pickle.dumps(payload, protocol=2), data, np.array(labels)


def write_cifar_folder(root: Path, n_per_batch: int = 7) -> dict:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    truth = {}
    for i, name in enumerate(BATCHES):
        raw, data, labels = cifar_batch_bytes(n_per_batch + (i == 5), seed=i)
        (folder / name).write_bytes(raw)
        truth[name] = (data, labels)
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": ["x"] * 10}, protocol=2))
    return truth


def write_cifar_tarball(folder: Path, path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    return path


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def write_mnist(root: Path, n_train=9, n_test=5, gz=False) -> dict:
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, size=n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, size=n_test),
    }
    root.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        raw = idx_bytes(a)
        if gz:
            (root / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (root / name).write_bytes(raw)
    return arrays


@pytest.fixture
def cifar_dir(tmp_path):
    truth = write_cifar_folder(tmp_path / "cifar")
    return tmp_path / "cifar", truth


@pytest.fixture
def mnist_dir(tmp_path):
    arrays = write_mnist(tmp_path / "mnist_raw")
    return tmp_path / "mnist_raw", arrays


def malicious_pickle(marker: Path) -> bytes:
    """A protocol-2 pickle whose loading would call os.system (creating ``marker``)."""

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    buf = io.BytesIO()
    pickle.dump({"data": Evil(), "labels": [0]}, buf, protocol=2)
    return buf.getvalue()
