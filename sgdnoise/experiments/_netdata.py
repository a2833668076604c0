"""The real-data subsets the network claims train on (cached per worker process).

A fixed subset (data seed 0, the same in every run of a grid, as a paper's training set is)
of CIFAR-10 or MNIST via :func:`sgdnoise.nets.load_dataset`; ``pool`` > 1 average-pools the
images by that factor (small inputs for smoke-scale nets).  Importing this module imports no
torch.
"""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=4)
def pooled_dataset(
    name: str, n_train: int, n_test: int, pool: int, data_dir: str, device: str = "cpu"
):
    """``name`` ∈ {cifar10, mnist}; ``data_dir`` "" means the default search
    (:func:`sgdnoise.nets.files.find_data_dir`)."""
    import torch

    from ..nets import load_dataset
    from ..nets.datasets import Dataset
    from ..nets.files import find_data_dir

    d = load_dataset(
        name,
        data_dir=find_data_dir(data_dir or None),
        n_train=n_train,
        n_test=n_test,
        seed=0,
        device=device,
    )
    if pool > 1:
        p = torch.nn.functional.avg_pool2d
        d = Dataset(
            d.name,
            d.task,
            p(d.x_train, pool),
            d.y_train,
            p(d.x_test, pool),
            d.y_test,
            d.num_classes,
            dict(d.meta, pool=pool),
        )
    return d
