"""Measurements on a network and a data set: loss and accuracy, full-batch gradient norm,
relative weight change ``‖w − w0‖/‖w0‖`` overall and per layer.

*Measurement mode* (KCL23's protocol, DESIGN.md §4.5): batch norm in train mode (batch
statistics, in chunks of the training batch size, so the measured loss is the one SGD sees)
with its running statistics left untouched, and dropout off.  *Evaluation mode* (test
accuracy and the like): the usual ``model.eval()``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from .losses import make_loss, margins, predictions


def trainable(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """``(name, parameter)`` of every parameter that requires a gradient."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def chunks(n: int, size: int | None) -> Iterator[slice]:
    size = n if size is None else max(1, int(size))
    for i in range(0, n, size):
        yield slice(i, min(n, i + size))


@contextlib.contextmanager
def measurement_mode(model: nn.Module):
    """Batch norm in train mode with its running statistics restored afterwards; dropout off;
    every module's previous mode restored on exit."""
    modes = {m: m.training for m in model.modules()}
    saved = {
        m: {k: b.detach().clone() for k, b in m.named_buffers(recurse=False)}
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    }
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout | nn.Dropout1d | nn.Dropout2d | nn.AlphaDropout):
            m.eval()
    try:
        yield model
    finally:
        with torch.no_grad():
            for m, bufs in saved.items():
                for k, b in bufs.items():
                    getattr(m, k).copy_(b)
        for m, t in modes.items():
            m.training = t


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: str = "cross_entropy",
    alpha: float = 1.0,
    chunk_size: int = 1024,
    mode: str = "eval",
    f0: torch.Tensor | None = None,
) -> dict[str, float]:
    """Mean loss, accuracy and the fraction of points with margin ≥ 1 ("fitted", meaningful for
    the hinge loss) over ``(x, y)``; ``mode="eval"`` uses ``model.eval()``, ``"measure"``
    the measurement mode.  ``f0``: a :class:`~sgdnoise.nets.models.CenteredOutput`'s
    precomputed ``f(w0, x)`` (its ``initial_outputs(x)``), row for row with ``x``."""
    fn = make_loss(loss, alpha=alpha)
    total = correct = fitted = 0.0
    ctx = measurement_mode(model) if mode == "measure" else _eval_mode(model)
    with ctx:
        for s in chunks(len(x), chunk_size):
            out = model(x[s]) if f0 is None else model(x[s], f0=f0[s])
            total += float(fn(out, y[s]).sum())
            correct += float((predictions(out) == y[s]).sum())
            fitted += float((margins(out, y[s], alpha) >= 1.0).sum())
    n = max(len(x), 1)
    return {"loss": total / n, "accuracy": correct / n, "fitted": fitted / n}


@contextlib.contextmanager
def _eval_mode(model):
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for m, t in modes.items():
            m.training = t


def full_gradient(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: str = "cross_entropy",
    alpha: float = 1.0,
    chunk_size: int | None = None,
) -> list[torch.Tensor]:
    """∇L over the whole set, ``L = (1/N) Σ_i ℓ_i``, accumulated chunk by chunk in measurement
    mode (each chunk of ``chunk_size`` normalizes with its own batch statistics)."""
    fn = make_loss(loss, alpha=alpha)
    params = [p for _, p in trainable(model)]
    acc = [torch.zeros_like(p) for p in params]
    with measurement_mode(model):
        for s in chunks(len(x), chunk_size):
            part = fn(model(x[s]), y[s]).sum() / len(x)
            for a, g in zip(acc, torch.autograd.grad(part, params)):
                a.add_(g)
    return acc


def full_gradient_norm(model, x, y, **kwargs) -> float:
    """``‖∇L(w)‖₂`` over the whole training set (see :func:`full_gradient`)."""
    g = full_gradient(model, x, y, **kwargs)
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in g])))


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of every trainable parameter (the reference point w0)."""
    return {n: p.detach().clone() for n, p in trainable(model)}


def weight_change(model: nn.Module, initial: dict[str, torch.Tensor]) -> dict:
    """``‖w − w0‖/‖w0‖`` over all trainable parameters and per layer (parameters grouped by
    their module's name)."""
    num = den = 0.0
    per: dict[str, list[float]] = {}
    for name, p in trainable(model):
        w0 = initial[name]
        d2 = float(((p.detach() - w0) ** 2).sum())
        n2 = float((w0**2).sum())
        num, den = num + d2, den + n2
        layer = name.rsplit(".", 1)[0] if "." in name else name
        acc = per.setdefault(layer, [0.0, 0.0])
        acc[0] += d2
        acc[1] += n2
    rel = lambda a, b: (a / b) ** 0.5 if b > 0 else float("inf") if a > 0 else 0.0
    return {"overall": rel(num, den), "per_layer": {k: rel(a, b) for k, (a, b) in per.items()}}
