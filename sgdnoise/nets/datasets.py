"""Datasets as device tensors: subsets of size P with a seed, binary tasks, standardization.

The whole (sub)set lives on the training device as one tensor (airbench style, DESIGN.md §6);
the trainer indexes it directly, there is no DataLoader in the hot loop.

Tasks:

* ``"multiclass"``: the ten digit / object classes.
* ``"binary"``: MNIST even (1) vs odd (0); CIFAR-10 animals (1) vs vehicles (0) (SGW23).
  For scalar-output models the label ``y ∈ {0, 1}`` is read as the sign ``2y − 1``.

Standardization: per-channel mean and standard deviation of the *training subset* (the test
set is transformed with the same numbers, so nothing leaks from test to train).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import ParameterError
from ..validation import boolean, choice, integer
from .data_cifar import VEHICLES, load_cifar10
from .data_mnist import load_mnist
from .device import resolve_device

DATASETS = ("cifar10", "mnist")
TASKS = ("multiclass", "binary")


@dataclass
class Dataset:
    """Train and test tensors on one device; ``x`` is (N, C, H, W) float, ``y`` int64."""

    name: str
    task: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    meta: dict = field(default_factory=dict)

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def to(self, device=None, dtype=None) -> Dataset:
        """The same data on another device / float dtype (labels stay int64)."""
        conv = lambda x: x.to(device=device, dtype=dtype)
        return Dataset(
            self.name,
            self.task,
            conv(self.x_train),
            self.y_train.to(device),
            conv(self.x_test),
            self.y_test.to(device),
            self.num_classes,
            dict(self.meta),
        )


def binary_labels(name: str, labels: np.ndarray) -> np.ndarray:
    """SGW23's binary tasks: MNIST even → 1, odd → 0; CIFAR-10 animal → 1, vehicle → 0."""
    if name == "mnist":
        return (labels % 2 == 0).astype(np.int64)
    return (~np.isin(labels, VEHICLES)).astype(np.int64)


def choose_subset(n_available: int, size: int | None, seed: int, parameter: str) -> np.ndarray:
    """Indices of a uniformly random subset of ``size`` of ``n_available`` (all when None),
    drawn without replacement from ``numpy.random.default_rng(seed)``, sorted."""
    if size is None:
        return np.arange(n_available)
    size = integer(parameter, size, minimum=1)
    if size > n_available:
        raise ParameterError(parameter, size, f"must be <= {n_available}, the images available")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_available, size=size, replace=False))


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    task: str = "multiclass",
    standardize: bool = True,
    device: str = "auto",
    dtype: torch.dtype = torch.float32,
    verify: bool = True,
    download: bool = True,
    heldout_test: bool = False,
) -> Dataset:
    """Load ``name`` (``"cifar10"`` | ``"mnist"``) from ``data_dir`` (or
    ``$SGDNOISE_DATA_DIR``), take a seeded subset of ``n_train`` training and ``n_test``
    test images (all when None), relabel for ``task`` and standardize per channel.

    ``heldout_test=True`` appends every training image outside the training subset to the
    test set (after the ``n_test`` test images, in file order): held-out images of the same
    distribution, for a test error whose binomial error ``sqrt(p(1−p)/n)`` would otherwise
    swamp the differences a claim compares (the test file here holds 1017 CIFAR images)."""
    choice("name", name, DATASETS)
    choice("task", task, TASKS)
    seed = integer("seed", seed, minimum=0)
    boolean("heldout_test", heldout_test)
    dev = resolve_device(device)
    raw = (load_cifar10 if name == "cifar10" else load_mnist)(
        data_dir, verify=verify, download=download
    )
    # Independent streams for the two subsets so that changing n_test never moves the
    # training subset.
    i_tr = choose_subset(len(raw["y_train"]), n_train, seed, "n_train")
    i_te = choose_subset(len(raw["y_test"]), n_test, seed + 1, "n_test")
    x_tr = raw["x_train"][i_tr].astype(np.float64) / 255.0
    x_te = raw["x_test"][i_te].astype(np.float64) / 255.0
    y_tr, y_te = raw["y_train"][i_tr], raw["y_test"][i_te]
    i_held = np.setdiff1d(np.arange(len(raw["y_train"])), i_tr) if heldout_test else []
    if len(i_held):
        x_te = np.concatenate([x_te, raw["x_train"][i_held].astype(np.float64) / 255.0])
        y_te = np.concatenate([y_te, raw["y_train"][i_held]])
    if task == "binary":
        y_tr, y_te = binary_labels(name, y_tr), binary_labels(name, y_te)
    mean = std = None
    if standardize:
        mean = x_tr.mean(axis=(0, 2, 3), keepdims=True)
        std = x_tr.std(axis=(0, 2, 3), keepdims=True)
        std = np.where(std > 0, std, 1.0)
        x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    t = lambda a, dt: torch.as_tensor(np.ascontiguousarray(a)).to(device=dev, dtype=dt)
    return Dataset(
        name=name,
        task=task,
        x_train=t(x_tr, dtype),
        y_train=t(y_tr, torch.int64),
        x_test=t(x_te, dtype),
        y_test=t(y_te, torch.int64),
        num_classes=2 if task == "binary" else 10,
        meta={
            "source": raw["source"],
            "provenance": raw["provenance"],
            "n_available_train": len(raw["y_train"]),
            "n_available_test": len(raw["y_test"]),
            "train_indices": i_tr,
            "test_indices": i_te,
            "heldout_train_indices": np.asarray(i_held, dtype=np.int64),
            "seed": seed,
            "channel_mean": None if mean is None else mean.ravel().tolist(),
            "channel_std": None if std is None else std.ravel().tolist(),
        },
    )


def check_data(name: str, data_dir: str | os.PathLike | None = None) -> dict:
    """Read data set ``name`` in full from ``data_dir`` (or ``$SGDNOISE_DATA_DIR``, else the
    project machines' ``../shared/data``) without downloading: the file's checksum, its
    format (archive, pickles through the restricted unpickler, IDX headers) and its labels
    are all checked.  Returns ``{"source", "provenance", "n_train", "n_test"}``; raises
    :class:`ParameterError` (``data_dir``) on anything missing or wrong.  Run before any
    output is created (``sgdnoise reproduce``, issue 16)."""
    from .files import find_data_dir

    choice("name", name, DATASETS)
    folder = find_data_dir(data_dir)
    raw = (load_cifar10 if name == "cifar10" else load_mnist)(folder, download=False)
    return {
        "source": raw["source"],
        "provenance": raw["provenance"],
        "n_train": len(raw["y_train"]),
        "n_test": len(raw["y_test"]),
    }


def synthetic_dataset(
    *,
    n_train: int,
    n_test: int,
    input_shape: tuple[int, ...] = (1, 8, 8),
    num_classes: int = 2,
    seed: int = 0,
    device: str = "auto",
    dtype: torch.dtype = torch.float32,
) -> Dataset:
    """A seeded Gaussian-input teacher task (labels from a random linear teacher) for
    smoke-scale checks that must not depend on data files; never a stand-in for a claim's
    real-data scale."""
    n_train = integer("n_train", n_train, minimum=1)
    n_test = integer("n_test", n_test, minimum=1)
    num_classes = integer("num_classes", num_classes, minimum=2)
    dev = resolve_device(device)
    g = torch.Generator().manual_seed(integer("seed", seed, minimum=0))
    d = int(np.prod(input_shape))
    teacher = torch.randn(d, num_classes, generator=g, dtype=torch.float64)
    x = torch.randn(n_train + n_test, *input_shape, generator=g, dtype=torch.float64)
    y = (x.reshape(len(x), -1) @ teacher).argmax(dim=1)
    return Dataset(
        "synthetic",
        "binary" if num_classes == 2 else "multiclass",
        x[:n_train].to(dev, dtype),
        y[:n_train].to(dev),
        x[n_train:].to(dev, dtype),
        y[n_train:].to(dev),
        num_classes,
        {"source": "synthetic", "provenance": "synthetic", "seed": seed},
    )
