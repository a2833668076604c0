"""Sharpness-aware minimization (Foret et al. 2021), the variant KCL23 compares against SGD.

One SAM step at radius ρ: with the minibatch gradient g at w, move to the ascent point
``w + ρ g/‖g‖``, take the minibatch gradient there, and apply *that* gradient at w:

    w ← w − η ∇L_B(w + ρ ∇L_B(w)/‖∇L_B(w)‖).

ρ = 0 is plain SGD.  Both gradients use the same minibatch (and, with batch norm in train
mode, that batch's statistics).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..validation import nonnegative


def sam_gradients(
    params: Sequence[torch.Tensor],
    loss_and_grads: Callable[[], tuple[torch.Tensor, Sequence[torch.Tensor]]],
    rho: float,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``(loss at w, gradient at the SAM ascent point)``; ``params`` are restored exactly.

    ``loss_and_grads()`` evaluates the minibatch loss and its gradient at the current params.
    """
    rho = nonnegative("rho", rho)
    loss, grads = loss_and_grads()
    if rho == 0:
        return loss, list(grads)
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    if not torch.isfinite(norm) or norm == 0:
        return loss, list(grads)
    params = list(params)
    with torch.no_grad():
        saved = [p.detach().clone() for p in params]
        torch._foreach_add_(params, [g * (rho / norm) for g in grads])
    try:
        _, grads_adv = loss_and_grads()
    finally:
        # copy back rather than subtract: w + e − e is not w in floating point.
        with torch.no_grad():
            torch._foreach_copy_(params, saved)
    return loss, list(grads_adv)
