"""The one worker data cache of the network claims (DESIGN.md §10, step 2).

Every network grid trains on a fixed subset (data seed 0 unless a claim says otherwise, the
same in every run of a grid, as a paper's training set is) of CIFAR-10 or MNIST loaded by
:func:`sgdnoise.nets.load_dataset`, optionally relabelled (``task``), with the unused
training images added to the test set (``heldout_test``), with its test images domain-
shifted (``domain_shift``) and made smaller: ``pool`` > 1 average-pools by that factor
(``ceil_mode``, so odd sides work), ``image_size`` > 0 pools to that side.  A worker
process loads each distinct subset once; the cache key is every argument, so runs with
other data never share a copy.  Importing this module imports no torch.
"""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=4)
def _cached(
    name: str,
    data_dir: str,
    n_train: int,
    n_test: int,
    data_seed: int,
    task: str,
    heldout_test: bool,
    pool: int,
    image_size: int,
    device: str,
    domain_shift: tuple | None,
):
    import torch.nn.functional as F

    from ..nets import load_dataset
    from ..nets.datasets import Dataset
    from ..nets.files import find_data_dir
    from ..nets.shifts import domain_shifted, downsample

    d = load_dataset(
        name,
        data_dir=find_data_dir(data_dir or None),
        n_train=n_train or None,  # 0 in a spec = the whole set (specs hold no None)
        n_test=n_test or None,
        seed=data_seed,
        task=task,
        device=device,
        download=False,
        heldout_test=heldout_test,
    )
    if domain_shift is not None:
        d = domain_shifted(d, **dict(domain_shift))
    if pool > 1:
        p = lambda x: F.avg_pool2d(x, pool, ceil_mode=True).contiguous()
        d = Dataset(
            d.name, d.task, p(d.x_train), d.y_train, p(d.x_test), d.y_test, d.num_classes,
            dict(d.meta, pool=pool),
        )  # fmt: skip
    if image_size:
        d = downsample(d, image_size)
    return d


def dataset(
    name: str,
    *,
    n_train: int,
    n_test: int,
    data_dir: str = "",
    data_seed: int = 0,
    task: str = "multiclass",
    heldout_test: bool = False,
    pool: int = 1,
    image_size: int = 0,
    device: str = "cpu",
    domain_shift: dict | None = None,
):
    """``name`` ∈ {cifar10, mnist}; ``data_dir`` "" means the default search
    (:func:`sgdnoise.nets.files.find_data_dir`); ``domain_shift`` holds the keyword
    arguments of :func:`sgdnoise.nets.shifts.domain_shifted` (contrast, brightness)."""
    shift = None if domain_shift is None else tuple(sorted(domain_shift.items()))
    return _cached(
        name, str(data_dir or ""), int(n_train), int(n_test), int(data_seed), task,
        bool(heldout_test), int(pool), int(image_size), device, shift,
    )  # fmt: skip
