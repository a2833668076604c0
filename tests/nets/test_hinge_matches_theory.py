"""The torch hinge-with-margin loss of the trainer is the symbolic one of sgdnoise.theory.hinge:
values and autograd slopes agree with the sympy expression and its derivative."""

import numpy as np
import torch

from sgdnoise.nets.losses import hinge_margin_loss
from sgdnoise.theory.hinge import hinge_dloss_do, hinge_loss


def test_torch_hinge_equals_sympy_definition():
    rng = np.random.default_rng(0)
    for alpha in (0.01, 1.0, 30.0):
        # outputs spread around the margin 1/α, avoiding the kink itself (a measure-zero set)
        o = rng.normal(0, 2.0 / alpha, size=500)
        o = o[np.abs(alpha * o - 1) > 1e-6]
        y01 = rng.integers(0, 2, size=o.size)
        s = 2 * y01 - 1
        ot = torch.tensor(o, dtype=torch.float64, requires_grad=True)
        loss = hinge_margin_loss(ot, torch.tensor(y01), alpha)
        np.testing.assert_allclose(
            loss.detach().numpy(), hinge_loss(o, s, alpha), rtol=1e-13, atol=1e-13
        )
        loss.sum().backward()
        np.testing.assert_allclose(
            ot.grad.numpy(), hinge_dloss_do(o, s, alpha), rtol=1e-13, atol=1e-13
        )
