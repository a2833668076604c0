"""One model factory: MLP, plain ConvNet, ResNets (ResNet-18-style and a small CPU one),
VGG-11 and a small VGG of ``depth`` conv-conv-pool blocks, each in the standard, NTK or
mean-field parameterization, with optional batch norm, dropout and SGW23's α-trick centred
output ``o(x) = f(w, x) − f(w0, x)``.

Widths: ``width`` is the hidden width of the MLP and the widening factor k of the
convolutional families (channels = base × k; P19's families).  ``num_outputs = 1`` gives a
scalar output (binary tasks, hinge loss), otherwise one logit per class.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from ..errors import ParameterError
from ..validation import choice, in_range, integer, positive
from .device import resolve_device
from .parameterization import (
    PARAMETERIZATIONS,
    Activation,
    ScaledConv2d,
    ScaledLinear,
    init_parameters,
)

ARCHITECTURES = ("mlp", "convnet", "resnet18", "resnet-small", "vgg11", "vgg")

_VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")
#: base channels of the first block of the small VGG (doubling per block, × width)
VGG_BASE = 16


def vgg_config(depth: int, base: int = VGG_BASE) -> tuple:
    """The small VGG's layer list: ``depth`` blocks of [conv, conv, maxpool 2] with ``base·2^i``
    channels in block i (VGG's pattern of two 3×3 convolutions per resolution)."""
    depth = integer("depth", depth, minimum=1)
    return tuple(x for i in range(depth) for x in (base * 2**i, base * 2**i, "M"))


class MLP(nn.Module):
    """``depth`` hidden layers of ``width`` units: [Linear → (BN) → act → (dropout)]×depth →
    readout."""

    def __init__(self, d_in, num_outputs, *, depth, width, p, batch_norm, dropout, sigma_w2):
        super().__init__()
        layers, n = [nn.Flatten()], d_in
        for _ in range(depth):
            layers.append(ScaledLinear(n, width, parameterization=p, sigma_w2=sigma_w2))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(Activation(p))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            n = width
        # LeCun scaling (σ_w² = 1) for the linear readout: no ReLU follows it.
        layers.append(ScaledLinear(n, num_outputs, parameterization=p, readout=True, sigma_w2=1.0))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def _conv_block(c_in, c_out, p, batch_norm, sigma_w2, stride=1):
    layers = [
        ScaledConv2d(
            c_in, c_out, 3, stride=stride, padding=1, parameterization=p, sigma_w2=sigma_w2
        )
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(Activation(p))
    return layers


class _Head(nn.Sequential):
    """Global average pool → (dropout) → readout."""

    def __init__(self, c, num_outputs, p, dropout):
        layers = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(ScaledLinear(c, num_outputs, parameterization=p, readout=True, sigma_w2=1.0))
        super().__init__(*layers)


class ConvNet(nn.Module):
    """Plain ConvNet: three stages of [conv3×3 → (BN) → act → maxpool 2] with 16k, 32k, 64k
    channels, then global average pooling and the readout."""

    def __init__(self, c_in, num_outputs, *, width, p, batch_norm, dropout, sigma_w2):
        super().__init__()
        layers, c = [], c_in
        for base in (16, 32, 64):
            layers += _conv_block(c, base * width, p, batch_norm, sigma_w2)
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
            c = base * width
        self.features = nn.Sequential(*layers)
        self.head = _Head(c, num_outputs, p, dropout)

    def forward(self, x):
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    """ResNet basic block: conv → (BN) → act → conv → (BN), plus identity or 1×1 shortcut."""

    def __init__(self, c_in, c_out, stride, p, batch_norm, sigma_w2):
        super().__init__()
        conv = lambda a, b, k, s, pad: ScaledConv2d(
            a, b, k, stride=s, padding=pad, parameterization=p, sigma_w2=sigma_w2
        )
        bn = (lambda c: nn.BatchNorm2d(c)) if batch_norm else (lambda c: nn.Identity())
        self.body = nn.Sequential(
            conv(c_in, c_out, 3, stride, 1), bn(c_out), Activation(p), conv(c_out, c_out, 3, 1, 1)
        )
        self.bn2 = bn(c_out)
        self.shortcut = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else nn.Sequential(conv(c_in, c_out, 1, stride, 0), bn(c_out))
        )
        self.act = Activation(p)

    def forward(self, x):
        return self.act(self.bn2(self.body(x)) + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet: a 3×3 stem, stages of basic blocks (channel doubling, stride 2 from the
    second stage), global average pool and readout.  ResNet-18: base 64, blocks (2,2,2,2);
    the small CPU ResNet: base 16, blocks (1,1,1).  Widening factor k multiplies channels."""

    def __init__(self, c_in, num_outputs, *, blocks, base, width, p, batch_norm, dropout, sigma_w2):
        super().__init__()
        c = base * width
        self.stem = nn.Sequential(*_conv_block(c_in, c, p, batch_norm, sigma_w2))
        stages = []
        for i, n in enumerate(blocks):
            c_out = base * width * 2**i
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                stages.append(BasicBlock(c, c_out, stride, p, batch_norm, sigma_w2))
                c = c_out
        self.stages = nn.Sequential(*stages)
        self.head = _Head(c, num_outputs, p, dropout)

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))


class VGG(nn.Module):
    """A VGG network (Simonyan & Zisserman 2015): the layer list ``config`` of 3×3 conv
    channels and ``"M"`` (maxpool 2), each conv followed by (BN) and the activation, channels
    × k, a single linear classifier after global pooling (the usual CIFAR variant)."""

    def __init__(self, c_in, num_outputs, *, config, width, p, batch_norm, dropout, sigma_w2):
        super().__init__()
        layers, c = [], c_in
        for v in config:
            if v == "M":
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            else:
                layers += _conv_block(c, v * width, p, batch_norm, sigma_w2)
                c = v * width
        self.features = nn.Sequential(*layers)
        self.head = _Head(c, num_outputs, p, dropout)

    def forward(self, x):
        return self.head(self.features(x))


class VGG11(VGG):
    """VGG-11 (configuration A of Simonyan & Zisserman 2015) for 32×32 inputs."""

    def __init__(self, c_in, num_outputs, **kw):
        super().__init__(c_in, num_outputs, config=_VGG11, **kw)


def _as_buffers(module: nn.Module) -> nn.Module:
    """Turn every parameter of ``module`` into a buffer: it moves with ``.to()`` and is saved in
    the state dict, but is no trainable parameter (not in ``parameters()``)."""
    for m in module.modules():
        for name, prm in list(m.named_parameters(recurse=False)):
            delattr(m, name)
            m.register_buffer(name, prm.detach().clone())
    return module


class CenteredOutput(nn.Module):
    """SGW23's α-trick: ``o(x) = f(w, x) − f(w0, x)`` with a frozen copy of the initial
    network, so that ``o ≡ 0`` at initialization.  The copy runs in the same train/eval mode
    as the live network (batch statistics alike) and without gradients.

    ``f(w0, x)`` never changes for a fixed input when the net has no batch norm or dropout, so
    a caller that trains on a fixed set can compute it once (:meth:`initial_outputs`) and pass
    its rows as ``f0``: one forward pass per step instead of two (the trainer does; 1.40x on
    the cpu-scale SGW23 CIFAR run, ``benchmarks/nets.py --only centered_precompute``)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.initial = _as_buffers(copy.deepcopy(model))

    def forward(self, x, f0: torch.Tensor | None = None):
        if f0 is None:
            with torch.no_grad():
                self.initial.train(self.training)
                f0 = self.initial(x)
        return self.model(x) - f0

    @property
    def pointwise(self) -> bool:
        """True when ``f(w0, x_i)`` depends on ``x_i`` alone (no batch norm, no active dropout):
        then it can be computed once per input set."""
        return not any(
            isinstance(m, nn.modules.batchnorm._BatchNorm)
            or (isinstance(m, nn.Dropout) and m.p > 0)
            for m in self.initial.modules()
        )

    @torch.no_grad()
    def initial_outputs(self, x: torch.Tensor, chunk_size: int = 1024) -> torch.Tensor | None:
        """``f(w0, x)`` for a fixed set of inputs, in chunks; None when it is not
        :attr:`pointwise` (each call must then run the frozen copy on its own batch)."""
        if not self.pointwise:
            return None
        return torch.cat(
            [self.initial(x[i : i + chunk_size]) for i in range(0, len(x), chunk_size)]
        )


def make_model(
    architecture: str,
    *,
    input_shape: tuple[int, ...],
    num_outputs: int,
    width: int = 1,
    depth: int = 2,
    parameterization: str = "standard",
    batch_norm: bool = False,
    dropout: float = 0.0,
    centered: bool = False,
    sigma_w2: float = 2.0,
    seed: int = 0,
    device: str = "auto",
    dtype: torch.dtype = torch.float32,
) -> nn.Module:
    """Build one network of :data:`ARCHITECTURES`, initialized from ``seed``.

    ``input_shape`` is (C, H, W) (or (d,) for the MLP); ``width`` ≥ 1 is the MLP's hidden
    width or the convolutional widening factor; ``depth`` the MLP's number of hidden layers
    or the small VGG's number of conv-conv-pool blocks (:func:`vgg_config`);
    ``dropout ∈ [0, 1)``; ``sigma_w2`` the weight-variance gain σ_w² of the hidden layers
    (the readout uses σ_w² = 1).  ``centered=True`` wraps the net in :class:`CenteredOutput`.
    """
    choice("architecture", architecture, ARCHITECTURES)
    choice("parameterization", parameterization, PARAMETERIZATIONS)
    width = integer("width", width, minimum=1)
    num_outputs = integer("num_outputs", num_outputs, minimum=1)
    dropout = in_range("dropout", dropout, 0.0, 1.0, high_open=True)
    sigma_w2 = positive("sigma_w2", sigma_w2)
    seed = integer("seed", seed, minimum=0)
    shape = tuple(input_shape)
    if not shape or any((not isinstance(s, int)) or s < 1 for s in shape):
        raise ParameterError("input_shape", input_shape, "must be a tuple of positive integers")
    common = dict(p=parameterization, batch_norm=bool(batch_norm), dropout=dropout)
    if architecture == "mlp":
        depth = integer("depth", depth, minimum=1)
        model = MLP(
            math.prod(shape), num_outputs, depth=depth, width=width, sigma_w2=sigma_w2, **common
        )
    else:
        if len(shape) != 3:
            raise ParameterError("input_shape", input_shape, f"{architecture} needs (C, H, W)")
        c_in = shape[0]
        if architecture == "convnet":
            model = ConvNet(c_in, num_outputs, width=width, sigma_w2=sigma_w2, **common)
        elif architecture == "vgg11":
            model = VGG11(c_in, num_outputs, width=width, sigma_w2=sigma_w2, **common)
        elif architecture == "vgg":
            model = VGG(
                c_in, num_outputs, config=vgg_config(depth), width=width, sigma_w2=sigma_w2,
                **common,
            )  # fmt: skip
        else:
            blocks, base = ((2, 2, 2, 2), 64) if architecture == "resnet18" else ((1, 1, 1), 16)
            model = ResNet(
                c_in,
                num_outputs,
                blocks=blocks,
                base=base,
                width=width,
                sigma_w2=sigma_w2,
                **common,
            )
    # initialize in the final dtype (on CPU, from one generator) so that draws are rounded
    # once: parameterizations then agree bit for bit in float64.
    init_parameters(model.to(dtype=dtype), seed)
    model = model.to(device=resolve_device(device))
    return CenteredOutput(model) if centered else model
