"""BG21's shift decomposition of a trained network's test loss (`bg21-cifar`; our protocol).

Bradley & Gomez-Uribe (2021, abstract and §3) write the test loss near a training minimum
θ*_train as that of a quadratic basin whose own minimum θ*_test sits at the **shift**
``s = θ*_test − θ*_train`` (the line connecting train and test local minima, which "differ
due to dataset sampling or distribution shift"):

    L_test(θ) ≈ L*_test + ½ (x − s)ᵀ H_t (x − s),    x = θ − θ*_train,

so at the training minimum (x = 0) the test loss exceeds its own minimum by the
**shift-curvature** term ½ sᵀH_t s (:func:`sgdnoise.theory.shift.expected_test_loss_quadratic`
with a point-mass law, C = 0, b = 0: the one definition of the formula; evaluated in the span
of s, where sᵀH_t s is all of H_t that enters).

How we obtain the two minima on a network (the paper's protocol was not available; this
choice is ours).  A cross-entropy net has no exact minimum within reach, so each "minimum"
is what a fixed budget of **cold SGD** reaches (``fine_tune``: temperature ``T_ft`` below
the grid's, SDE time ``τ`` = η × steps, the same budget for every run):

* θ*_train: the trained iterate θ_T fine-tuned on the training set (removes SGD's
  temperature-T fluctuation, BG21's parameter-covariance term, in the directions that relax
  within τ);
* θ*_test: θ*_train fine-tuned on the test set (the descent of the test loss from the
  training minimum: the test minimum nearest it) — one per test set: the real CIFAR-10 test
  images (**sampling shift**) and the same images under
  :data:`sgdnoise.nets.shifts.DOMAIN_SHIFT` (**domain shift**);
* H_t: the Hessian of that test loss at θ*_test, through one Hessian-vector product
  (:class:`sgdnoise.nets.HessianOperator`, exact double backward).

Measured per test set, an exact telescoping of the test loss at the SGD iterate θ_T:

    L_test(θ_T) = L*_test + Π + N,
    Π = L_test(θ*_train) − L*_test,    N = L_test(θ_T) − L_test(θ*_train),

the **shift penalty** Π (what ½ sᵀH_t s predicts) and the **noise contribution** N (BG21's
parameter-covariance and bias terms, ½tr(H_t C) − sᵀH_t b + …, for one draw of the law).
Beside them: the measured penalty of the shift at the training minimum, L_test(θ*_train) −
L_train(θ*_train) = (L*_test − L*_train) + Π (the minima's depth difference plus the shift
penalty), and the generalization gap at the iterate, L_test(θ_T) − L_train(θ_T); ‖s‖; the
residual linear term ∇L_test(θ*_test)·s (zero at a true minimum); the test loss along the
segment θ*_test − u s (u ∈ [0, 1]) and its least-squares parabola L* + a u + c u² — c is
the curvature along the shift at the shift's own scale, which on a ReLU net includes the
kinks the pointwise Hessian (any HVP) does not see, a the unfinished descent; and sᵀH_t s
again by ``torch.func`` forward-over-reverse (an independent autograd path: checks the HVP).

Quadratic check (derived): for gradient flow on a quadratic for time τ, a direction of
curvature λ contributes ½λc²(1 − e^{−2λτ}) to Π and ½λc²(1 − e^{−λτ})² to ½sᵀHs, a ratio
tanh(λτ/2): the term matches the penalty in the directions that relaxed within the budget
and underestimates it in slower ones.  Importing this module imports torch.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from ..errors import ParameterError
from ..nets import HessianOperator, evaluate, train
from ..nets.datasets import Dataset
from ..nets.metrics import trainable
from ..theory.conventions import lr_from_temperature
from ..theory.shift import expected_test_loss_quadratic
from ..validation import integer, positive
from ._bg21_cifar_shift_analysis import LINE

#: the least-squares parabola L* + a·u + c·u² fitted to the line: c is the curvature along
#: the shift at the shift's own scale (a ReLU net's kinks included), a its slope at θ*_test
LINE_FIT = 2


def fine_tune(model, x, y, *, T: float, batch: int, time: float, seed: int, num_classes: int):
    """A copy of ``model`` after cold SGD on ``(x, y)``: η = T·B, ``round(time/η)`` steps of
    ``batch`` points (epoch sampling, seeded), one evaluation at the end.  Returns
    ``(model, diverged)``."""
    T, time = positive("T", T), positive("time", time)
    batch = integer("batch", batch, minimum=1)
    lr = lr_from_temperature(T, batch)
    steps = max(1, int(round(time / lr)))
    net = copy.deepcopy(model)
    data = Dataset("fine-tune", "multiclass", x, y, x[:0], y[:0], num_classes, {})
    res = train(net, data, lr=lr, batch_size=min(batch, len(x)), max_steps=steps,
                eval_every=steps, eval_test=False, seed=seed)  # fmt: skip
    return net, res.diverged


def flat(model) -> torch.Tensor:
    """All trainable parameters as one flat vector (HessianOperator's order)."""
    return torch.cat([p.detach().reshape(-1) for _, p in trainable(model)])


def _load_flat(model, v: torch.Tensor) -> None:
    with torch.no_grad():
        i = 0
        for _, p in trainable(model):
            n = p.numel()
            p.copy_(v[i : i + n].view_as(p))
            i += n


def _loss(model, x, y) -> float:
    return evaluate(model, x, y, chunk_size=1024)["loss"]


def line_losses(model, theta_test, s, x, y, us=LINE) -> list[float]:
    """Test loss at θ*_test − u·s for each u (u = 0: the test minimum; u = 1: the training
    minimum).  ``model`` is used as scratch and left at θ*_test."""
    out = []
    for u in us:
        _load_flat(model, theta_test - u * s)
        out.append(_loss(model, x, y))
    _load_flat(model, theta_test)
    return out


def line_fit(line, us=LINE) -> tuple[float, float]:
    """``(a, c)`` of the least-squares parabola ``L* + a u + c u²`` through the losses along
    the segment (``L*`` fitted too): on an exact quadratic basin with θ*_test its minimum,
    a = 0 and c = ½ sᵀH_t s."""
    c2, c1, _ = np.polyfit(np.asarray(us, float), np.asarray(line, float), LINE_FIT)
    return float(c1), float(c2)


def func_sHs(model, s, x, y) -> float:
    """``sᵀ H s`` by forward-over-reverse (``torch.func.jvp`` of ``torch.func.grad``): an
    autograd path independent of :class:`HessianOperator`'s retained double backward, for
    the machinery check.  Both are the pointwise Hessian: neither sees a ReLU's kinks.
    NaN for a net with batch norm (its in-place running statistics do not go through
    forward-mode AD; the smoke nets have none)."""
    from torch.func import functional_call, grad, jvp

    if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return math.nan

    from ..nets.losses import make_loss

    fn = make_loss("cross_entropy")
    names = [n for n, _ in trainable(model)]
    params = {n: p.detach() for n, p in trainable(model)}
    sizes = [p.numel() for p in params.values()]
    tangent = {n: t.view_as(params[n]) for n, t in zip(names, torch.split(s, sizes))}

    def loss(p):
        return fn(functional_call(model, p, (x,)), y).mean()

    _, hv = jvp(grad(loss), (params,), (tangent,))
    return float(sum((hv[n] * tangent[n]).sum() for n in names))


def shift_terms(train_min, test_min, x, y) -> dict:
    """The shift-curvature term of ``test_min`` (θ*_test) against ``train_min`` (θ*_train) on
    the test set ``(x, y)``: theory's ½sᵀH_t s (H_t by one HVP at θ*_test) and the same
    by ``torch.func`` (machinery check), the measured penalty, the residual linear term
    ∇L_test(θ*_test)·s, the loss along the segment and its parabola's coefficients."""
    a, b = flat(train_min), flat(test_min)
    s = b - a
    norm = float(torch.linalg.vector_norm(s))
    if not math.isfinite(norm) or norm == 0.0:
        raise ParameterError("test_min", norm, "must differ from train_min by a finite shift")
    # chunks of 1024 points bound the double backward's memory on the full 10k test set
    # (paper scale); with batch norm the chunk is also the batch that normalizes, while the
    # losses are taken in eval mode — the MLPs of smoke and cpu have none
    op = HessianOperator(test_min, x, y, chunk_size=1024)
    sHs = float(s @ op.matvec(s))
    g_s = float(op.gradient() @ s)
    L_star = _loss(test_min, x, y)
    L_train_min = _loss(train_min, x, y)
    # theory's one definition, in the span of s: H restricted to ŝ is sᵀHs/‖s‖²
    predicted, terms = expected_test_loss_quadratic(L_star, [[sHs / norm**2]], [[0.0]], [norm])
    line = line_losses(test_min, b, s, x, y)
    slope, curv = line_fit(line)
    return {
        "penalty": L_train_min - L_star,
        "shift_curvature": terms["shift_curvature"],
        "predicted_loss": predicted,
        "test_min_loss": L_star,
        "train_min_loss": L_train_min,
        "shift_norm": norm,
        "func_shift_curvature": 0.5 * func_sHs(test_min, s, x, y),
        "line_curvature": curv,
        "line_slope": slope,
        "linear_term": g_s,
        **{f"line_{i}": v for i, v in enumerate(line)},  # scalars: the store keeps numbers
    }


def decompose(model, data, tests: dict, *, T: float, batch: int, time: float, seed: int):
    """BG21's decomposition (module doc) of the trained ``model`` (θ_T, left unchanged) with
    training set ``data`` and test sets ``tests`` = {name: (x, y)}: a flat dict
    ``{name}_{quantity}`` plus ``train_noise`` = L_train(θ_T) − L_train(θ*_train) and
    ``shift_diverged`` (1.0 when a fine-tune diverged: its quantities are left out)."""
    kw = dict(T=T, batch=batch, time=time, seed=seed, num_classes=data.num_classes)
    train_min, bad = fine_tune(model, data.x_train, data.y_train, **kw)
    out = {"shift_diverged": float(bad)}  # the store keeps numbers: 1.0 = diverged
    if bad:
        return out
    L_iter_train = _loss(model, data.x_train, data.y_train)
    L_train_min = _loss(train_min, data.x_train, data.y_train)
    out["train_noise"] = L_iter_train - L_train_min
    for name, (x, y) in tests.items():
        test_min, bad = fine_tune(train_min, x, y, **kw)
        if bad:
            out["shift_diverged"] = 1.0
            continue
        terms = shift_terms(train_min, test_min, x, y)
        L_iter = _loss(model, x, y)
        terms["noise"] = L_iter - terms["train_min_loss"]
        terms["gap"] = L_iter - L_iter_train
        terms["train_min_gap"] = terms["train_min_loss"] - L_train_min
        out.update({f"{name}_{k}": v for k, v in terms.items()})
    return out
