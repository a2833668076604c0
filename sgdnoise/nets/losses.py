"""Per-sample training losses: cross-entropy, MSE and SGW23's hinge with margin.

Scalar-output models (``num_outputs = 1``) read a label ``y ∈ {0, 1}`` as the sign
``s = 2y − 1``; multi-output models see one logit per class.

* ``cross_entropy``: ``−log softmax(o)_y``; scalar output: the logistic loss ``log(1 + e^{−s o})``.
* ``mse``: ``½ ‖o − e_y‖²`` (one-hot target); scalar output: ``½ (o − s)²``.
* ``hinge``: ``(1/α) max(0, 1 − α s o)`` — the hinge with margin 1/α of SGW23 (α-trick:
  α ≫ 1 lazy, α ≪ 1 feature learning); scalar output only.  A point is *fitted* when its
  margin ``α s o ≥ 1`` (its loss and gradient vanish).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..errors import ParameterError
from ..validation import choice, positive

LOSSES = ("cross_entropy", "mse", "hinge")


def signs(y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``s = 2y − 1`` for binary labels ``y ∈ {0, 1}``."""
    return (2 * y - 1).to(dtype)


def hinge_margin_loss(out: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """Per-sample ``(1/α) max(0, 1 − α s o)`` for a scalar output ``o`` (shape (N,) or (N, 1))."""
    o = out.reshape(-1)
    return torch.relu(1.0 - alpha * signs(y, o.dtype) * o) / alpha


def margins(out: torch.Tensor, y: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Per-sample margins: ``α s o`` for scalar outputs; ``o_y − max_{c≠y} o_c`` otherwise."""
    if out.shape[-1] == 1 or out.ndim == 1:
        return alpha * signs(y, out.dtype) * out.reshape(-1)
    true = out.gather(1, y[:, None]).squeeze(1)
    other = out.scatter(1, y[:, None], float("-inf")).amax(dim=1)
    return true - other


def predictions(out: torch.Tensor) -> torch.Tensor:
    """Predicted class: ``o > 0`` for scalar outputs, ``argmax`` otherwise."""
    if out.ndim == 1 or out.shape[-1] == 1:
        return (out.reshape(-1) > 0).long()
    return out.argmax(dim=1)


def make_loss(
    name: str, *, alpha: float = 1.0
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``loss(out, y) -> per-sample losses`` (shape (N,)) for ``name`` in :data:`LOSSES`."""
    choice("loss", name, LOSSES)
    alpha = positive("alpha", alpha)

    def cross_entropy(out, y):
        if out.shape[-1] == 1:
            return F.softplus(-signs(y, out.dtype) * out.reshape(-1))
        return F.cross_entropy(out, y, reduction="none")

    def mse(out, y):
        if out.shape[-1] == 1:
            return 0.5 * (out.reshape(-1) - signs(y, out.dtype)) ** 2
        target = F.one_hot(y, out.shape[-1]).to(out.dtype)
        return 0.5 * ((out - target) ** 2).sum(dim=1)

    def hinge(out, y):
        if out.ndim > 1 and out.shape[-1] != 1:
            raise ParameterError(
                "loss", "hinge", f"needs a scalar-output model (num_outputs=1), got {out.shape[-1]}"
            )
        return hinge_margin_loss(out, y, alpha)

    return {"cross_entropy": cross_entropy, "mse": mse, "hinge": hinge}[name]
