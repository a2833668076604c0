"""The forward pass of M networks of one architecture on stacked parameters ``[M, ...]``.

Three engines, used by :mod:`sgdnoise.nets.ensemble`:

* :class:`LayerStack` — layer stacks (the MLP of :mod:`.models`: flatten, scaled linear,
  batch norm, activation, dropout) compiled to batched kernels: ``baddbmm`` for the linear
  layers, :func:`torch.nn.functional.batch_norm` on the members' channels side by side
  (``[B, M·C]``, stacked running statistics updated in place), and dropout drawing each
  member's mask from that member's own generator exactly as ``F.dropout`` draws it from
  torch's global one.  On CPU each member's slice goes through the same kernels, with the
  same shapes and reduction order, as a single network's pass (checked bit for bit by
  tests/nets/test_ensemble.py), so members follow a single run's trajectory exactly.
* :class:`LoopStack` — any other architecture on CPU (convolutional nets): member by member
  through a single run's kernels, in ``train``'s layout (channels_last) and with each
  member's random streams as the global ones around its pass, so members follow ``train``
  bit for bit with batch norm, dropout (a single run's masks) and SAM; no batching gain
  (on CPU ``vmap`` loses to a single run's convolutions, see
  :data:`sgdnoise.nets.ensemble.CPU_LOOP_MEMBERS`).
* :class:`VmapStack` — any other architecture off the CPU (convolutional nets, with or
  without batch norm): ``torch.func.vmap`` of ``functional_call`` over the stacked
  parameters and buffers.
  Batch norm's running mean/var and ``num_batches_tracked`` are stacked buffers that each
  member's train-mode pass updates in place (its own slice, with its own batch statistics),
  and eval-mode passes read them — the single run's statistics, to rounding.  Rounding
  differs from a single run (vmap's batched convolutions reduce in another order; see
  tests/nets/test_ensemble_conv.py for how far that goes over 200 steps) and dropout masks
  are each member's own (drawn outside ``vmap`` from its stream with its p: a single run's
  masks, as the layer stack's).
"""

from __future__ import annotations

import contextlib
import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError
from .models import MLP
from .parameterization import Activation, ScaledLinear

_DROPOUT = (nn.Dropout,)
#: multiply-adds per member below which torch's CPU ``bmm`` uses its naive kernel
_NAIVE_BMM = 400


def layer_list(model: nn.Module) -> list[tuple[str, nn.Module]] | None:
    """``(prefix, layer)`` of a model that is a plain layer stack, else None."""
    if isinstance(model, MLP):
        seq, prefix = model.net, "net."
    elif isinstance(model, nn.Sequential):
        seq, prefix = model, ""
    else:
        return None
    out = []
    for name, layer in seq.named_children():
        ok = isinstance(
            layer,
            nn.Flatten | ScaledLinear | nn.Linear | nn.BatchNorm1d | Activation | nn.ReLU,
        ) or isinstance(layer, (*_DROPOUT, nn.Identity))
        if not ok:
            return None
        out.append((prefix + name + ".", layer))
    return out


class _BatchedLinear(torch.autograd.Function):
    """``y_m = x_m W_mᵀ + b_m`` for every member, with the gradients formed by the products a
    single ``F.linear`` backward uses (``∂W = gᵀx``, ``∂x = g W``; autograd's ``bmm`` rule
    would form ``∂W`` as ``(xᵀg)ᵀ``, which MKL rounds differently for narrow outputs)."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        wt = w.transpose(1, 2)
        return torch.baddbmm(b.unsqueeze(1), x, wt) if b is not None else torch.bmm(x, wt)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx = torch.bmm(g, w) if ctx.needs_input_grad[0] else None
        gw = torch.bmm(g.transpose(1, 2), x) if ctx.needs_input_grad[1] else None
        gb = g.sum(1) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return gx, gw, gb


class _ContiguousGrad(torch.autograd.Function):
    """Identity whose backward hands on a contiguous ``[M, B, C]`` gradient: the layer below
    then reduces its bias gradient over B in a single run's memory order (the batch-norm
    backward returns it in ``[B, M·C]`` order otherwise)."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return g.contiguous()


class _Generators:
    """One random stream per member, drawn exactly as a single run draws from torch's global
    generators after ``torch.manual_seed(seed)`` (the trainer seeds them inside
    ``fork_rng``): a seeded CPU ``torch.Generator`` per member and, on CUDA, the default
    CUDA generator's state after that seed, swapped in around each draw.  Dropout masks
    draw from them, and a callback runs with member m's streams as torch's global ones
    (:meth:`as_global`), so that what it draws, and the masks after it, are a single run's."""

    def __init__(self, seeds, device: torch.device):
        self.device = device
        self.cpu = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self.states = None
        if device.type == "cuda":
            g = torch.Generator(device=device)
            self.states = [g.manual_seed(int(s)).get_state() for s in seeds]

    def keep(self, alive: list[int]) -> None:
        self.cpu = [self.cpu[i] for i in alive]
        if self.states is not None:
            self.states = [self.states[i] for i in alive]

    def save(self) -> list:
        return [
            (g.get_state(), None if self.states is None else self.states[m])
            for m, g in enumerate(self.cpu)
        ]

    def restore(self, states: list, which: list[int]) -> None:
        for i in which:
            self.cpu[i].set_state(states[i][0])
            if self.states is not None:
                self.states[i] = states[i][1]

    @contextlib.contextmanager
    def as_global(self, m: int):
        """Member m's streams as torch's global generators for the duration (the caller's
        restored afterwards, member m's advanced by what was drawn)."""
        cuda = self.states is not None
        with torch.random.fork_rng(devices=[self.device] if cuda else []):
            torch.set_rng_state(self.cpu[m].get_state())
            if cuda:
                torch.cuda.set_rng_state(self.states[m], self.device)
            try:
                yield
            finally:
                self.cpu[m].set_state(torch.get_rng_state())
                if cuda:
                    self.states[m] = torch.cuda.get_rng_state(self.device)

    def dropout(self, x: torch.Tensor, ps: list[float]) -> torch.Tensor:
        """``F.dropout(x[m], ps[m], training=True)`` for every member m."""
        if self.states is None:
            # ATen's CPU dropout: noise = empty_like(x).bernoulli_(1-p); noise /= 1-p; x*noise
            noise = torch.empty(x.shape, dtype=x.dtype, device=x.device)
            for m, (g, p) in enumerate(zip(self.cpu, ps)):
                if p > 0:
                    noise[m].bernoulli_(1 - p, generator=g)
                    noise[m].div_(1 - p)
                else:
                    noise[m].fill_(1.0)
            return x * noise
        default = torch.cuda.default_generators[x.device.index or 0]
        outs = []
        saved = default.get_state()
        try:
            for m, p in enumerate(ps):
                if p > 0:
                    default.set_state(self.states[m])
                    outs.append(F.dropout(x[m], p, training=True))
                    self.states[m] = default.get_state()
                else:
                    outs.append(x[m])
        finally:
            default.set_state(saved)
        return torch.stack(outs)


class LayerStack:
    """Batched forward of a layer stack; ``params``/``buffers`` are dicts of ``[M, ...]``."""

    exact = True
    channels_last = False

    def __init__(self, models: list[nn.Module], layers: list[tuple[str, nn.Module]]):
        self.ops = []
        for prefix, layer in layers:
            peers = [dict(m.named_modules())[prefix[:-1]] for m in models]
            if isinstance(layer, nn.Flatten):
                self.ops.append(("flatten",))
            elif isinstance(layer, ScaledLinear | nn.Linear):
                mult = [float(getattr(p, "multiplier", 1.0)) for p in peers]
                same = all(c == mult[0] for c in mult)
                self.ops.append(
                    ("linear", prefix, mult[0] if same else mult, layer.bias is not None)
                )
            elif isinstance(layer, nn.BatchNorm1d):
                for p in peers:
                    if p.momentum is None or not p.track_running_stats:
                        raise ParameterError(
                            "build", "batch_norm", "ensembles need BN with momentum and stats"
                        )
                    if p.momentum != layer.momentum or p.eps != layer.eps:
                        raise ParameterError(
                            "build", "batch_norm", "members need equal BN momentum and eps"
                        )
                self.ops.append(("bn", prefix, layer.momentum, layer.eps, layer.affine))
            elif isinstance(layer, Activation):
                self.ops.append(("act", layer.gain))
            elif isinstance(layer, nn.ReLU):
                self.ops.append(("act", 1.0))
            elif isinstance(layer, _DROPOUT):
                self.ops.append(("dropout", [float(p.p) for p in peers]))
        self.device = None

    def keep(self, alive: list[int]) -> None:
        """Drop the members not in ``alive`` from per-member constants."""
        for i, op in enumerate(self.ops):
            if op[0] == "linear" and isinstance(op[2], list):
                self.ops[i] = (op[0], op[1], [op[2][j] for j in alive], op[3])
            elif op[0] == "dropout":
                self.ops[i] = ("dropout", [op[1][j] for j in alive])

    def has_dropout(self) -> bool:
        return any(op[0] == "dropout" and any(p > 0 for p in op[1]) for op in self.ops)

    def __call__(self, params, buffers, x, *, training: bool, gens=None, shared=False):
        """``x``: ``[M, B, ...]``, or ``[B, ...]`` seen by every member when ``shared``;
        returns ``[M, B, out]``."""
        m = next(iter(params.values())).shape[0]
        if shared:
            x = x.unsqueeze(0).expand(m, *x.shape)
        for op in self.ops:
            kind = op[0]
            if kind == "flatten":
                x = x.reshape(x.shape[0], x.shape[1], -1)
            elif kind == "linear":
                _, prefix, mult, has_bias = op
                w = params[prefix + "weight"]
                if isinstance(mult, list):
                    w = w * torch.tensor(mult, dtype=w.dtype, device=w.device).view(-1, 1, 1)
                elif mult != 1.0:
                    w = w * mult
                if w.shape[1] == 1 or x.shape[1] * w.shape[1] * w.shape[2] < _NAIVE_BMM:
                    # torch's CPU bmm runs a naive loop below this size, and a scalar
                    # output (SGW23's hinge nets) is a matrix-vector product that MKL
                    # rounds differently from the batched one; a single run's addmm does
                    # neither: per-member linear keeps the rounding identical
                    bias = [params[prefix + "bias"][j] if has_bias else None for j in range(m)]
                    x = torch.stack([F.linear(x[j], w[j], bias[j]) for j in range(m)])
                else:
                    x = _BatchedLinear.apply(x, w, params[prefix + "bias"] if has_bias else None)
            elif kind == "bn":
                _, prefix, momentum, eps, affine = op
                mm, b, c = x.shape
                flat = _ContiguousGrad.apply(x).transpose(0, 1).reshape(b, mm * c)
                y = F.batch_norm(
                    flat,
                    buffers[prefix + "running_mean"].view(-1),
                    buffers[prefix + "running_var"].view(-1),
                    params[prefix + "weight"].reshape(-1) if affine else None,
                    params[prefix + "bias"].reshape(-1) if affine else None,
                    training,
                    momentum,
                    eps,
                )
                if training:
                    buffers[prefix + "num_batches_tracked"].add_(1)
                x = y.view(b, mm, c).transpose(0, 1).contiguous()
            elif kind == "act":
                x = F.relu(x)
                if op[1] != 1.0:
                    x = x * op[1]
            elif kind == "dropout":
                if training and any(p > 0 for p in op[1]):
                    x = gens.dropout(x, op[1])
        return x


class _MaskedDropout(nn.Module):
    """Dropout by a mask handed in as the buffer ``mask`` (``[B, ...]``, already scaled by
    1/(1−p)): under ``vmap`` each member's own, drawn outside from its own generator."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mask", None)  # functional_call fills it per pass

    def forward(self, x):
        return x * self.mask if self.training and self.mask is not None else x


class VmapStack:
    """``vmap(functional_call)`` forward for architectures that are not layer stacks.

    Dropout: each ``nn.Dropout`` of the shell is a :class:`_MaskedDropout` whose mask, per
    member and pass, is drawn before the pass from the member's own random stream with the
    member's own p (``_Generators.dropout``: a single run's draw), in the order a pass meets
    the layers (recorded once per batch shape by a meta-device pass) — not ``vmap``'s
    ``randomness="different"``, which draws from the global generator and would use the
    first member's p for all."""

    exact = False
    channels_last = False

    def __init__(self, models: list[nn.Module]):
        from torch.func import functional_call, vmap

        for bn in models[0].modules():
            if isinstance(bn, nn.modules.batchnorm._BatchNorm) and (
                bn.momentum is None or not bn.track_running_stats
            ):  # a cumulative average reads num_batches_tracked as a Python number
                raise ParameterError(
                    "build", "batch_norm", "ensembles need BN with momentum and running stats"
                )
        base = copy.deepcopy(models[0]).to("meta")
        self._ps = {}  # dropout layer name → every member's p
        for name, mod in list(base.named_modules()):
            if isinstance(mod, _DROPOUT):
                self._ps[name] = [float(dict(m.named_modules())[name].p) for m in models]
                parent, _, leaf = name.rpartition(".")
                setattr(base.get_submodule(parent) if parent else base, leaf, _MaskedDropout())

        def one(p, b, xb):
            return functional_call(base, (p, b), (xb,))

        self._train = vmap(one, in_dims=(0, 0, 0))
        self._shared = vmap(one, in_dims=(0, 0, None))
        self._base = base
        self._shapes: dict[tuple, list[tuple[str, tuple]]] = {}

    def keep(self, alive: list[int]) -> None:
        self._ps = {k: [v[j] for j in alive] for k, v in self._ps.items()}

    def has_dropout(self) -> bool:
        return any(p > 0 for ps in self._ps.values() for p in ps)

    def _dropout_inputs(self, shape: tuple) -> list[tuple[str, tuple]]:
        """(layer, input shape) of every dropout layer, in the order one pass meets them."""
        if shape not in self._shapes:
            seen = []
            hooks = [
                self._base.get_submodule(n).register_forward_pre_hook(
                    lambda _m, a, n=n: seen.append((n, tuple(a[0].shape)))
                )
                for n in self._ps
            ]
            try:
                with torch.no_grad():
                    self._base(torch.empty(shape, device="meta"))
            finally:
                for h in hooks:
                    h.remove()
            self._shapes[shape] = seen
        return self._shapes[shape]

    def __call__(self, params, buffers, x, *, training: bool, gens=None, shared=False):
        self._base.train(training)
        if training and self.has_dropout():
            m = next(iter(params.values())).shape[0]
            buffers = dict(buffers)
            for name, shape in self._dropout_inputs(tuple(x.shape[1:])):
                ones = torch.ones((m, *shape), dtype=x.dtype, device=x.device)
                buffers[name + ".mask"] = gens.dropout(ones, self._ps[name])
        return (self._shared if shared else self._train)(params, buffers, x)


def member_rows(t: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """``[M, ...]`` stack → ``[M, n]``, each row in a single run's memory order (a 4-D
    channels_last tensor is laid out O, kh, kw, I): a reduction over a row then rounds as a
    single run's reduction over its tensor."""
    if channels_last and t.ndim == 5:
        t = t.permute(0, 1, 3, 4, 2)
    return t.reshape(t.shape[0], -1)


def _layout(t: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """An input in ``train``'s layout: ``train`` moves its images with ``.contiguous``."""
    return t.contiguous(memory_format=torch.channels_last) if channels_last and t.ndim == 4 else t


def _param_layout(t: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """A weight in ``train``'s layout: ``train`` moves its model with ``Module.to``, whose
    ``Tensor.to`` restrides a weight whose layout is ambiguous (one input channel, or a 1×1
    kernel), where ``.contiguous`` keeps the NCHW strides — and oneDNN picks its convolution
    path from the strides (a VGG on 1-channel images differed from ``train`` by 1e-7)."""
    return t.to(memory_format=torch.channels_last) if channels_last and t.ndim == 4 else t


class LoopStack:
    """Member by member: ``functional_call`` of the architecture on member m's slices of the
    stacks, in a single run's memory layout (``channels_last`` for conv nets on images, as
    ``train``'s default) and, in train mode, with m's random streams as torch's global ones
    around its pass.  Each member thus runs a single run's kernels, rounding and dropout
    masks, and follows ``train`` bit for bit (batch-norm statistics in the stacks' slices,
    updated in place); there is no batching gain — the CPU engine for convolutional nets,
    where ``vmap``'s grouped convolutions lose to a single run's (see
    :data:`sgdnoise.nets.ensemble.CPU_LOOP_MEMBERS`)."""

    exact = True

    def __init__(self, models: list[nn.Module], channels_last: bool):
        self._base = copy.deepcopy(models[0]).to("meta")
        # every parameter/buffer slot of the shell, filled with a member's slices before its
        # pass (what functional_call does, without its per-call walk over the modules: 10%
        # of a small ResNet's step)
        self._slots = [
            (kind, getattr(mod, kind), n, f"{name}.{n}" if name else n)
            for name, mod in self._base.named_modules()
            for kind in ("_parameters", "_buffers")
            for n, t in getattr(mod, kind).items()
            if t is not None
        ]
        self.channels_last = channels_last
        self._dropout = any(isinstance(x, _DROPOUT) and x.p > 0 for x in models[0].modules())

    def keep(self, alive: list[int]) -> None:
        return None

    def has_dropout(self) -> bool:
        return self._dropout

    def __call__(self, params, buffers, x, *, training: bool, gens=None, shared=False):
        if self._base.training != training:  # .train() walks every module: only on a change
            self._base.train(training)
        cl = self.channels_last
        # unbind: one backward node per stack (stacking the members' gradients), not a
        # select per member that scatters into a zero tensor of the whole stack
        ps = {k: v.unbind(0) for k, v in params.items()}
        bs = {k: v.unbind(0) for k, v in buffers.items()}  # views: BN updates the stacks
        outs = []
        for j in range(next(iter(params.values())).shape[0]):
            for kind, slot, n, full in self._slots:
                slot[n] = _param_layout(ps[full][j], cl) if kind == "_parameters" else bs[full][j]
            xj = _layout(x if shared else x[j], cl)
            draws = training and self._dropout
            with gens.as_global(j) if draws else contextlib.nullcontext():
                outs.append(self._base(xj))
        return torch.stack(outs)
