"""Layers that carry their parameterization: ``standard`` | ``ntk`` | ``mean-field``.

A layer's effective weight is ``W_eff = c · W`` with a fixed multiplier ``c``:

* ``standard``: ``W ~ N(0, σ_w²/n_in)``, ``c = 1`` (He init for σ_w² = 2);
* ``ntk`` (Jacot et al. 2018; P19): ``W ~ N(0, 1)``, ``c = σ_w/sqrt(n_in)`` — the same function
  at initialization, but SGD at rate ε on W moves ``W_eff`` at rate ``ε c² = ε σ_w²/n_in``
  (:mod:`sgdnoise.theory.parameterization` derives it; P19 §2);
* ``mean-field`` (SGW23): ``W ~ N(0, 1)``, ``c = 1/sqrt(n_in)`` for hidden layers and
  ``c = 1/h`` for the readout (``f = (1/h) Σ β_i z_i``), with the activation normalized to
  unit second moment under a standard Gaussian input (``sqrt(2)·ReLU``).

Biases start at zero with multiplier 1 in every parameterization.  Batch-norm scales and
shifts are ordinary (multiplier-1) parameters.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..theory import parameterization as theory

PARAMETERIZATIONS = theory.PARAMETERIZATIONS
#: ``E[relu(z)^2] = 1/2`` for ``z ~ N(0, 1)``, so ``sqrt(2)·relu`` has unit second moment.
RELU_NORMALIZER = math.sqrt(2.0)


def layer_scale(
    parameterization: str, fan_in: int, *, readout: bool, sigma_w2: float
) -> tuple[float, float]:
    """``(init_std, multiplier)`` of a layer's weight (the definitions live in
    :mod:`sgdnoise.theory.parameterization`)."""
    return (
        theory.init_std(parameterization, fan_in, sigma_w2=sigma_w2),
        theory.layer_multiplier(parameterization, fan_in, sigma_w2=sigma_w2, readout=readout),
    )


class _Scaled(nn.Module):
    """Shared bookkeeping: multiplier, fan-in, σ_w² and seeded initialization."""

    def _setup(self, parameterization, fan_in, readout, sigma_w2):
        self.parameterization = parameterization
        self.fan_in = int(fan_in)
        self.sigma_w2 = float(sigma_w2)
        self.readout = readout
        self.init_std, self.multiplier = layer_scale(
            parameterization, fan_in, readout=readout, sigma_w2=sigma_w2
        )

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        w = torch.randn(self.weight.shape, generator=generator, dtype=torch.float64)
        self.weight.copy_(w * self.init_std)
        if self.bias is not None:
            self.bias.zero_()

    def effective_weight(self) -> torch.Tensor:
        return self.weight if self.multiplier == 1.0 else self.weight * self.multiplier


class ScaledLinear(_Scaled):
    """``y = (c W) x + b``."""

    def __init__(self, n_in, n_out, *, parameterization, readout=False, sigma_w2=2.0, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_out, n_in))
        self.bias = nn.Parameter(torch.zeros(n_out)) if bias else None
        self._setup(parameterization, n_in, readout, sigma_w2)

    def forward(self, x):
        return F.linear(x, self.effective_weight(), self.bias)


class ScaledConv2d(_Scaled):
    """``y = (c W) ⋆ x + b`` with fan-in ``n_in = C_in k²``."""

    def __init__(
        self, c_in, c_out, kernel, *, stride=1, padding=0, parameterization, sigma_w2=2.0, bias=True
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.stride, self.padding = stride, padding
        self._setup(parameterization, c_in * kernel * kernel, False, sigma_w2)

    def forward(self, x):
        return F.conv2d(x, self.effective_weight(), self.bias, self.stride, self.padding)


class Activation(nn.Module):
    """ReLU, times ``sqrt(2)`` under the mean-field parameterization (unit second moment)."""

    def __init__(self, parameterization: str):
        super().__init__()
        self.gain = RELU_NORMALIZER if parameterization == "mean-field" else 1.0

    def forward(self, x):
        y = F.relu(x)
        return y if self.gain == 1.0 else y * self.gain


def scaled_layers(model: nn.Module) -> dict[str, _Scaled]:
    """Every parameterized layer of ``model`` by its module name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, _Scaled)}


def init_parameters(model: nn.Module, seed: int) -> nn.Module:
    """Seeded initialization of every scaled layer, in module order, from one CPU generator
    (identical weights on every device); batch-norm layers get γ = 1, β = 0."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _Scaled):
            m.reset_parameters(g)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_parameters()
    return model


def to_standard(model: nn.Module) -> tuple[nn.Module, dict[str, float]]:
    """The standard-parameterized twin of ``model`` and the per-parameter rate multipliers
    that make its SGD identical, step for step, to SGD on ``model``.

    Each layer's weight becomes its effective weight ``c·u`` with multiplier 1; by
    :func:`sgdnoise.theory.parameterization.equivalent_standard_lr` its rate must be ``ε c²``
    when ``model`` trains at rate ε.  Biases and batch-norm parameters (multiplier 1) keep ε.
    Pass the returned dict as ``lr_scale`` to :func:`sgdnoise.nets.train`.
    """
    twin = copy.deepcopy(model)
    lr_scale: dict[str, float] = {}
    for name, layer in scaled_layers(twin).items():
        c = layer.multiplier
        with torch.no_grad():
            layer.weight.mul_(c)
        if isinstance(layer.weight, nn.Parameter):  # not the frozen copy of CenteredOutput
            lr_scale[f"{name}.weight"] = theory.equivalent_standard_lr(1.0, c)
        layer.multiplier = 1.0
        layer.parameterization = "standard"
    return twin, lr_scale
