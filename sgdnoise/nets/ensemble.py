"""Many small networks trained at once: ``torch.func.vmap`` over stacked parameters.

M copies of one architecture, each with its own initialization seed, learning rate and batch
stream, take their SGD steps in a single vectorized call (``functional_call`` + ``grad``
under ``vmap``).  Model m follows exactly the trajectory that :func:`sgdnoise.nets.train`
gives with ``seed=seeds[m]`` and ``lr=lrs[m]`` (same batches, same update), which the tests
check; the point is speed on grids of small models (P19, SGW23 sweeps).

Batch norm is not supported (its running statistics are updated in place, which ``vmap``
forbids); dropout is (each model draws its own masks).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ..errors import ParameterError
from ..validation import integer, positive
from .datasets import Dataset
from .losses import make_loss
from .sampling import BatchSampler


def train_ensemble(
    build: Callable[[int], nn.Module],
    data: Dataset,
    *,
    lrs: Sequence[float],
    seeds: Sequence[int],
    batch_size: int,
    steps: int,
    loss: str = "cross_entropy",
    alpha: float = 1.0,
    sampling: str = "epoch",
) -> list[nn.Module]:
    """Train ``len(seeds)`` models ``build(seed)`` with plain SGD at rates ``lrs`` for ``steps``
    steps of ``batch_size``; returns the trained models (ordinary modules)."""
    if len(lrs) != len(seeds) or len(seeds) == 0:
        raise ParameterError("lrs", list(lrs), "needs one learning rate per seed (at least one)")
    lrs = [positive("lrs", v) for v in lrs]
    seeds = [integer("seeds", s, minimum=0) for s in seeds]
    batch_size = integer("batch_size", batch_size, minimum=1)
    steps = integer("steps", steps, minimum=1)
    n = data.n_train
    if batch_size > n:
        raise ParameterError("batch_size", batch_size, f"must be <= n_train={n}")
    models = [build(s) for s in seeds]
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in models[0].modules()):
        raise ParameterError("build", "batch_norm", "vmap ensembles need models without batch norm")
    params, buffers = stack_module_state(models)
    params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    leaves = list(params.values())
    base = copy.deepcopy(models[0]).to("meta")
    loss_fn = make_loss(loss, alpha=alpha)
    x, y = data.x_train, data.y_train
    device = x.device
    rate = torch.tensor(lrs, dtype=x.dtype, device=device)
    per_epoch = -(-n // batch_size)
    samplers = [BatchSampler(n, sampling, s) for s in seeds]

    def forward(p, b, xb):
        return functional_call(base, (p, b), (xb,))

    # Only the forward pass is vmapped; the per-sample losses of all M·B outputs are one
    # ordinary call, and the backward pass is ordinary autograd on the sum of the M mean
    # losses: model m's loss depends only on its own slice, so the gradient of the sum is
    # every model's own gradient.  (Measured several times faster on CPU than
    # vmap(grad(...)) for small MLPs, whose cost is per-call overhead.)
    outputs = vmap(forward, in_dims=(0, 0, 0), randomness="different")
    rates = [rate.view(-1, *([1] * (p.ndim - 1))) for p in leaves]
    m = len(seeds)
    for k in range(steps):
        idx = torch.stack([s.next(batch_size, k // per_epoch) for s in samplers]).to(device)
        b = idx.shape[1]  # the last batch of an epoch may be short
        out = outputs(params, buffers, x[idx])
        per_sample = loss_fn(out.reshape(m * b, -1), y[idx].reshape(-1))
        total = per_sample.view(m, b).mean(dim=1).sum()
        grads = torch.autograd.grad(total, leaves)
        with torch.no_grad():
            for p, g, r in zip(leaves, grads, rates):
                p.sub_(r * g)
    for j, model in enumerate(models):
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(params[name][j])
    return models
