"""Losses against their closed forms and finite differences."""

from __future__ import annotations

import pytest
import torch

from sgdnoise.errors import ParameterError
from sgdnoise.nets import hinge_margin_loss, make_loss
from sgdnoise.nets.losses import margins, predictions


def test_hinge_closed_form_and_gradient():
    o = torch.linspace(-3, 3, 61, dtype=torch.float64)
    y = torch.tensor([0, 1], dtype=torch.int64).repeat(31)[:61]
    for alpha in (0.1, 1.0, 10.0):
        s = (2 * y - 1).to(torch.float64)
        expect = torch.clamp(1 - alpha * s * o, min=0) / alpha
        torch.testing.assert_close(hinge_margin_loss(o, y, alpha), expect, rtol=0, atol=1e-15)
        # gradient: −s where the margin α s o < 1, else 0; central differences with h = 1e-6
        # are exact for a piecewise-linear loss away from the kink (we avoid |α s o − 1| < 1e-3).
        oo = o.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(hinge_margin_loss(oo, y, alpha).sum(), oo)
        h = 1e-6
        fd = (hinge_margin_loss(o + h, y, alpha) - hinge_margin_loss(o - h, y, alpha)) / (2 * h)
        away = (alpha * s * o - 1).abs() > 1e-3
        torch.testing.assert_close(g[away], fd[away], rtol=0, atol=1e-8)
        torch.testing.assert_close(g[away], torch.where(alpha * s * o < 1, -s, 0.0)[away])


def test_scalar_cross_entropy_is_logistic_and_mse():
    o = torch.tensor([[-2.0], [0.5], [3.0]], dtype=torch.float64)
    y = torch.tensor([1, 0, 1])
    s = torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
    ce = make_loss("cross_entropy")(o, y)
    torch.testing.assert_close(ce, torch.log1p(torch.exp(-s * o[:, 0])))
    # a two-logit softmax with logits (0, o) is the same logistic loss
    two = torch.cat([torch.zeros_like(o), o], dim=1)
    torch.testing.assert_close(make_loss("cross_entropy")(two, y), ce)
    torch.testing.assert_close(make_loss("mse")(o, y), 0.5 * (o[:, 0] - s) ** 2)
    logits = torch.tensor([[1.0, 2.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(
        make_loss("mse")(logits, torch.tensor([1])),
        torch.tensor([0.5 * (1 + 1 + 0)], dtype=torch.float64),
    )


def test_margins_and_predictions():
    out = torch.tensor([[1.0, 3.0, 2.0], [0.0, -1.0, 5.0]])
    y = torch.tensor([1, 0])
    torch.testing.assert_close(margins(out, y), torch.tensor([1.0, -5.0]))
    assert predictions(out).tolist() == [1, 2]
    assert predictions(torch.tensor([[0.3], [-0.1]])).tolist() == [1, 0]


def test_bad_loss_input():
    with pytest.raises(ParameterError) as e:
        make_loss("l1")
    assert e.value.parameter == "loss"
    with pytest.raises(ParameterError) as e:
        make_loss("hinge", alpha=0)
    assert e.value.parameter == "alpha"
    with pytest.raises(ParameterError) as e:
        make_loss("hinge")(torch.zeros(2, 3), torch.tensor([0, 1]))
    assert e.value.parameter == "loss"
