"""Many networks of one architecture trained at once: one vectorized SGD step for all members.

Members share the architecture, width, batch size, sampling and data; they differ in
initialization seed, learning rate η_m, and per-member scalars (dropout p, SAM radius ρ_m,
init scale — anything that ``build`` puts in the member's module).  Each step, every
active member m takes

    w_m ← w_m − η_m g_m,    g_m = (1/B) Σ_{i ∈ batch_m} ∇ℓ_i(w_m)   (SAM: g_m at the ascent point)

on its own batch stream (``BatchSampler(n, sampling, seed_m)``), exactly the update of
:func:`sgdnoise.nets.train` with ``seed=seed_m, lr=η_m``.  The forward pass is batched
(:mod:`.ensemble_forward`: ``baddbmm`` layer stacks for MLPs; other nets member by member
on CPU, through ``vmap`` elsewhere — batch norm included, running statistics stacked per
member); the backward pass is ordinary autograd on Σ_m L_m (member m's loss depends only on
its own slice, so the gradient of the sum is every member's own gradient).

*Exactness.*  On CPU, for layer stacks (the MLP, with batch norm and dropout), each
member's slice goes through the same kernels, shapes and reduction order as a single run
(``baddbmm`` slices equal ``addmm``; ``batch_norm`` on ``[B, M·C]`` equals per-member
``[B, C]``; each member's dropout mask is drawn from a generator seeded like the single
run's global one; the update ``w − η·g`` is two IEEE operations in both), so members follow
a single run's trajectory *bit for bit* — tests/nets/test_ensemble.py checks 0 difference
over 300 steps in float32.  Convolutional nets on CPU run member by member through a single
run's kernels in ``train``'s channels_last layout (weights restrided by ``Tensor.to`` as
``Module.to`` does, which matters for layout-ambiguous weights such as a first conv on
1-channel images; SAM norms and weight changes reduced in that layout's order): bit for bit
too, with batch norm, dropout and SAM, records included (tests/nets/test_ensemble_conv.py:
ConvNet, ResNet, and KCL23's VGG on 1-channel images with and without BN).  Where kernels
split reductions differently (several threads, CUDA, the ``vmap`` engine for convolutional
nets off the CPU) the difference starts at one rounding (≈ 1e-7 relative in float32) and
grows at the dynamics' own rate, as the difference between two single runs whose weights
differ by one ulp does: for BN ConvNets through ``vmap`` over 200 steps
(tests/nets/test_ensemble_conv.py) ≤ 2e-15 in float64, and in float32 2e-7 for most
members but 1e-3 for some, where a ReLU or max-pool choice flips —
as far as ``train`` moves when only its memory layout changes (channels_last
vs contiguous).

*``train``'s protocol per member.*  A ``callback(m, module, record)`` runs where ``train``
runs ``callback(module, record)`` — after each evaluation, module holding member m's
weights, m's random streams as the global ones — and may stop member m alone.  A
``schedule`` (η_k, B_k per step, the trainer's plan) is shared by all members.  Members
may be SGW23's centred nets (:class:`~.models.CenteredOutput`): the stack holds the inner
nets and f(w0, x) is computed once per member on the train and test sets, as ``train`` does.

*Per-member stopping.*  A member whose minibatch loss is non-finite or exceeds
``explode_factor`` × its first loss (or whose weights are non-finite at an epoch end) is
recorded as diverged at that step; one that reaches ``target_train_accuracy`` (or fits every
point, ``stop_when_fitted``) at an evaluation is measured there and frozen.  Stopped
members leave the stacks (the rest compute less), and their module holds the weights at
the stop, as ``train`` leaves them.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Collection, Sequence

import torch
from torch import nn

from ..errors import ParameterError
from ..validation import choice, integer, nonnegative, positive
from .datasets import Dataset
from .ensemble_forward import (
    LayerStack,
    LoopStack,
    VmapStack,
    _Generators,
    _layout,
    layer_list,
    member_rows,
)
from .losses import make_loss, margins, predictions
from .metrics import weight_change
from .models import CenteredOutput
from .sampling import SAMPLINGS, BatchSampler
from .trainer import TrainResult, check_run_length, step_plan, uses_channels_last

#: bytes of the members' training-step working set that one CPU ensemble keeps within
#: (the 32 MiB last-level cache of the machine it was tuned on).  Measured on the P19 MLPs
#: (2-core EPYC, load average 11–16, 2026-12-02; 3 epochs of the cpu grid): at width 512
#: 8 members per task took 0.7–1.0× the time per member of 3 (four comparisons), at width
#: 128 28 members 0.4–1.1× that of 14–19; far beyond it (16 MB of weights per ensemble at
#: width 512) the step streams the weights from memory and loses to sequential runs.
CPU_CACHE_BUDGET = 32 * 2**20
#: the largest ensemble: past it per-step overhead is already amortized
MAX_MEMBERS = 64
#: members per CPU task of a net that is not an MLP layer stack (convolutional nets).  On CPU
#: ``vmap``'s batched (grouped) convolutions lose to a single run's channels-last ones at the
#: claims' cpu-scale sizes — 4 members, 20 steps, sequential ``train`` time over the vmap
#: ensemble's (2 cores, load average 6–7, 2026-12-02): BN ResNet-small k = 1 / 4 on 8×8,
#: B = 32: 0.97 / 1.20; k = 2 on 16×16, B = 16 / 64: 0.76 / 0.59; BN VGG (2 blocks) on
#: 16×16, B = 16 / 64: 0.72 / 0.54; ConvNet on 32×32, B = 128 (no BN) / 32 (BN): 0.40 /
#: 0.42; one member 0.46–0.55.  ``benchmarks/nets.py --only conv_ensemble`` (4 members, 40
#: steps, best of 3, load 5–7): vmap 1.21 / 0.90 / 0.54 for ResNet-small k = 1 on 8×8
#: B = 32 / VGG 16×16 B = 16 / ResNet-small k = 2 16×16 B = 64.  vmap gains ≤ 1.2× only on
#: the smallest nets (8×8 images) and loses up to 2.5× elsewhere, and it is not exact; so
#: such members run one after another through a single run's kernels
#: (:class:`~.ensemble_forward.LoopStack`, bit for bit): 0.96 / 1.35 / 0.97 in that
#: benchmark, 1.02–1.08 in a second (40 steps, load 7–8), 0.82–0.89 with one member (the
#: ensemble's per-step bookkeeping, shared by the members) — 4 members amortize it and
#: leave a sweep's tasks many enough to spread over its workers.
CPU_LOOP_MEMBERS = 4


def _per(name: str, v, m: int, check) -> list[float]:
    vals = list(v) if isinstance(v, Sequence) and not isinstance(v, str) else [v] * m
    if len(vals) != m:
        raise ParameterError(name, list(vals), f"needs one value per member ({m})")
    return [check(name, x) for x in vals]


def _activations(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Values every leaf module outputs for one input of ``input_shape`` (what autograd
    keeps for the backward pass, about): counted by forward hooks on a meta-device copy (no
    memory, no arithmetic)."""
    meta = copy.deepcopy(model).to("meta")
    total = 0

    def count(_mod, _inp, out):
        nonlocal total
        total += out.numel() if isinstance(out, torch.Tensor) else 0

    hooks = [m.register_forward_hook(count) for m in meta.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            meta(torch.empty(1, *input_shape, device="meta"))
    finally:
        for h in hooks:
            h.remove()
    return total


def ensemble_size(
    model: nn.Module,
    *,
    batch_size: int,
    device: str | torch.device = "cpu",
    eval_chunk=0,
    input_shape: tuple[int, ...] | None = None,
) -> int:
    """How many members of ``model``'s architecture to train at once on ``device``.

    CPU, MLP layer stacks: as many as keep the members' weights, gradients, initial copies
    and activations of one training batch (and of an evaluation chunk of ``eval_chunk``
    points, when evaluations are frequent enough to matter; the P19 runs evaluate 4 times in
    320 steps) within :data:`CPU_CACHE_BUDGET` — small models gain by amortizing per-call
    overhead over many members, large ones are memory-bound once their weights leave the
    cache (at width 512, 1.4 MB of weights per member, this gives 5).  CPU, any other net
    (convolutional): :data:`CPU_LOOP_MEMBERS` — its members run one after another through a
    single run's kernels (``vmap`` does not pay on CPU; the measurements are there).  CUDA:
    a quarter of the free memory, by the same count, a conv net's activations counted per
    leaf module for one input of ``input_shape`` (default: (C, 32, 32), CIFAR's images — an
    upper bound for the claims' pooled ones; the count by ``out_features`` alone missed the
    C×H×W maps, 50–600× too few).  At least 1, at most :data:`MAX_MEMBERS`."""
    batch_size = integer("batch_size", batch_size, minimum=1)
    dev = torch.device(device)
    stack = layer_list(model.model if isinstance(model, CenteredOutput) else model) is not None
    if dev.type == "cpu" and not stack:
        return CPU_LOOP_MEMBERS
    n_params = sum(p.numel() for p in model.parameters())
    if stack:  # linear → (BN) → activation: three values per unit of width kept
        acts = 3 * sum(m.out_features for m in model.modules() if hasattr(m, "out_features"))
    else:
        if input_shape is None:
            w = next(p for p in model.parameters() if p.ndim == 4)  # the first convolution
            input_shape = (w.shape[1], 32, 32)
        acts = _activations(model, tuple(input_shape))
    item = next(model.parameters()).element_size()
    per_member = item * (4 * n_params + acts * (batch_size + eval_chunk))
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        budget = free / 4
    else:
        budget = CPU_CACHE_BUDGET
    return int(max(1, min(MAX_MEMBERS, budget // per_member)))


class _Batches:
    """Each step's index batches of all members, ``[M, b]``: row m is what
    ``BatchSampler(n, sampling, seed_m)`` gives a single run with that seed.  Under epoch
    sampling each member's permutation is drawn once per epoch by its own sampler (the same
    draw a single run makes) and every step slices all members' at once, instead of M
    Python calls and a stack per step (the per-step overhead of small-model ensembles)."""

    def __init__(self, n: int, sampling: str, seeds: Sequence[int]):
        self.samplers = [BatchSampler(n, sampling, s) for s in seeds]
        self.n = n
        self.epoch_wise = sampling == "epoch"
        self.perms: torch.Tensor | None = None
        self.epoch: int | None = None
        self.cursor = 0

    def next(self, batch_size: int, epoch: int) -> torch.Tensor:
        if not self.epoch_wise:
            return torch.stack([s.next(batch_size, epoch) for s in self.samplers])
        # BatchSampler's own rule for a new permutation; next(n) hands over all of it
        if self.perms is None or epoch != self.epoch or self.cursor >= self.n:
            self.perms = torch.stack([s.next(self.n, epoch) for s in self.samplers])
            self.epoch, self.cursor = epoch, 0
        idx = self.perms[:, self.cursor : self.cursor + min(batch_size, self.n)]
        self.cursor += idx.shape[1]
        return idx

    def keep(self, rows: list[int]) -> None:
        self.samplers = [self.samplers[j] for j in rows]
        if self.perms is not None:
            self.perms = self.perms[rows]


def _stack(models, named):
    names = [n for n, _ in named(models[0])]
    for m in models[1:]:
        other = dict(named(m))
        if set(other) != set(names) or any(other[n].shape != t.shape for n, t in named(models[0])):
            raise ParameterError("models", "mixed", "members need one architecture and width")
    return {n: torch.stack([dict(named(m))[n].detach() for m in models]).clone() for n in names}


def _engine(models, x: torch.Tensor):
    """The forward engine: the exact layer stack for MLPs; for other nets member by member
    on CPU (a single run's kernels: vmap does not pay there, :data:`CPU_LOOP_MEMBERS`) and
    ``vmap`` elsewhere.  Conv nets on images run in channels_last, as ``train``'s default."""
    layers = layer_list(models[0])
    if layers is not None and all(layer_list(m) is not None for m in models):
        return LayerStack(models, layers)
    if x.device.type == "cpu":
        return LoopStack(models, channels_last=uses_channels_last(models[0], x))
    return VmapStack(models)


def train_members(
    models: Sequence[nn.Module],
    data: Dataset,
    *,
    lrs: Sequence[float] | float | None = None,
    seeds: Sequence[int],
    batch_size: int | None = None,
    schedule=None,
    epochs: int | None = None,
    max_steps: int | None = None,
    loss: str = "cross_entropy",
    alpha: float = 1.0,
    sampling: str = "epoch",
    rho: Sequence[float] | float = 0.0,
    stop_when_fitted: bool = False,
    target_train_accuracy: float | None = None,
    eval_every: int | None = None,
    eval_test: bool = True,
    train_eval_epochs: Collection[int] | None = None,
    test_eval_epochs: Collection[int] | None = None,
    explode_factor: float = 1e4,
    on_stop: Callable[[int, nn.Module, TrainResult], None] | None = None,
    callback: Callable[[int, nn.Module, dict], bool | None] | None = None,
) -> list[TrainResult]:
    """Train the member modules ``models`` (one architecture, on ``data``'s device) in place,
    member m as ``train(models[m], data, lr=lrs[m], batch_size=..., seed=seeds[m], rho=rho[m],
    ...)`` would; one :class:`TrainResult` per member, in order.  Convolutional members on
    CPU are moved to channels_last memory format first, as ``train`` moves its model.

    Evaluations (train set, and test set when ``eval_test``) run at the end of every epoch
    (or every ``eval_every`` steps) and at the end, batched over the members.  To evaluate
    no more often than a claim needs, ``train_eval_epochs`` / ``test_eval_epochs`` name the
    epochs (1-based, the record's ``epoch``) at which each set is evaluated (None: all; the
    last evaluation always includes the train set; stopping criteria evaluate the train set
    every time).  ``on_stop(m, module, result)`` runs when member m stops (diverged, frozen
    by a criterion, or at the end), its module holding its final weights — the place to
    measure it (λmax, gradient norm) and release it.

    ``schedule`` (instead of ``lrs`` and ``batch_size``; ``epochs`` then required) is
    ``train``'s: any object with ``expand(n_train, epochs)``, shared by all members — step k
    uses η_k and B_k for every member (the trainer's own plan, :func:`~.trainer.step_plan`), and a
    member that reaches the schedule's end stops with ``stop_reason="schedule_end"``.

    ``callback(m, module, record)`` is ``train``'s ``callback(model, record)`` per member:
    after each evaluation, for every member m still training, ``module`` = ``models[m]``
    holding m's current weights and buffers, in train mode, with m's random streams as
    torch's global generators (as inside ``train``'s seeded ``fork_rng``); it may add
    entries to ``record`` (kept in m's history) and change the module (read back into the
    stack); True stops m with ``stop_reason="callback"``, the record that stopped it kept.
    It is called before the stopping criteria are checked, as in ``train``.
    """
    m_all = len(models)
    if m_all == 0:
        raise ParameterError("models", [], "needs at least one member")
    seeds = [integer("seeds", s, minimum=0) for s in seeds]
    if len(seeds) != m_all:
        raise ParameterError("seeds", seeds, f"needs one seed per member ({m_all})")
    if schedule is None:
        lrs = _per("lrs", lrs, m_all, positive)
    elif lrs is not None:
        raise ParameterError("lrs", lrs, "give either schedule or lrs/batch_size")
    rhos = _per("rho", rho, m_all, nonnegative)
    choice("sampling", sampling, SAMPLINGS)
    alpha = positive("alpha", alpha)
    explode_factor = positive("explode_factor", explode_factor)
    n = data.n_train
    epochs, max_steps, eval_every, target_train_accuracy = check_run_length(
        epochs, max_steps, eval_every, target_train_accuracy
    )
    if epochs is None and max_steps is None:
        raise ParameterError("max_steps", None, "give epochs or max_steps")
    # the trainer's plan of (η_k, B_k, epoch_k): with lrs, η_k is each member's own rate
    plan, _ = step_plan(n, None if schedule else lrs[0], batch_size, schedule, epochs, max_steps,
                    sampling)  # fmt: skip
    x, y = data.x_train, data.y_train
    device = x.device
    for mod in models:
        first = next(mod.parameters())
        if first.device != device or first.dtype != x.dtype:
            raise ParameterError(
                "data",
                f"{device}/{x.dtype}",
                f"must match the members' {first.device}/{first.dtype}",
            )
    loss_fn = make_loss(loss, alpha=alpha)
    # SGW23's centred members: the stack holds the live inner nets; f(w0, x) is computed
    # once per member on the fixed train/test sets (as train does) and subtracted
    centered = [isinstance(m, CenteredOutput) for m in models]
    if any(centered) and not all(centered):
        raise ParameterError("models", "mixed", "all members centred (CenteredOutput) or none")
    nets = [m.model for m in models] if centered[0] else list(models)
    engine = _engine(nets, x)
    if engine.channels_last:  # the members take train's layout, as train moves its model
        for m in models:
            m.to(memory_format=torch.channels_last)
    f0_train = f0_test = None
    if centered[0]:
        if not all(m.pointwise for m in models):
            raise ParameterError(
                "models", "CenteredOutput", "centred members without batch norm or dropout"
            )
        xf = _layout(x, engine.channels_last)  # train's f(w0, x) on its own copy of x
        f0_train = torch.stack([m.initial_outputs(xf) for m in models])
        if eval_test and len(data.x_test):
            f0_test = torch.stack([m.initial_outputs(data.x_test) for m in models])
    prefix = "model." if centered[0] else ""  # the members' own parameter names
    params = _stack(nets, lambda m: list(m.named_parameters()))
    buffers = _stack(nets, lambda m: list(m.named_buffers()))
    for p in params.values():
        p.requires_grad_(True)
    w0 = {k: v.detach().clone() for k, v in params.items()}
    batches = _Batches(n, sampling, seeds)
    gens = _Generators(seeds, device) if engine.has_dropout() or callback else None
    criteria = stop_when_fitted or target_train_accuracy is not None
    has_test = eval_test and len(data.x_test) > 0

    alive = list(range(m_all))  # original indices of the members still training
    results: list[TrainResult | None] = [None] * m_all
    histories: list[list[dict]] = [[] for _ in range(m_all)]
    first_loss: list[float | None] = [None] * m_all
    t_member = [0.0] * m_all
    seen = 0
    t0 = time.perf_counter()

    def rate_views(dtype):
        """Each member's own η_m, shaped to scale its gradient rows (None: the schedule's)."""
        if schedule is not None:
            return None
        r = torch.tensor([lrs[i] for i in alive], dtype=dtype, device=device)
        return {nd: r.view(-1, *([1] * (nd - 1))) for nd in {p.ndim for p in params.values()}}

    rates = rate_views(x.dtype)
    rho_t = torch.tensor([rhos[i] for i in alive], dtype=x.dtype, device=device)

    def flat_rows(t):  # per-member rows in a single run's memory order (its reductions' rounding)
        return member_rows(t, engine.channels_last)

    def write_back(j: int, i: int) -> None:
        with torch.no_grad():
            for name, p in nets[i].named_parameters():
                p.copy_(params[name][j])
            for name, b in nets[i].named_buffers():
                b.copy_(buffers[name][j])

    def read_back(j: int, i: int) -> None:
        with torch.no_grad():
            for name, p in nets[i].named_parameters():
                params[name][j] = p.detach()
            for name, b in nets[i].named_buffers():
                buffers[name][j] = b

    def call_back(j: int, i: int, rec: dict) -> bool:
        """``train``'s callback protocol for member i (stack row j)."""
        write_back(j, i)
        models[i].train()
        with gens.as_global(j):
            stop = callback(i, models[i], rec)
        models[i].train()
        read_back(j, i)
        return bool(stop)

    def finish(j: int, i: int, step: int, stop: str, diverged_step, last_loss=None):
        write_back(j, i)
        h = histories[i]
        diverged = stop == "diverged"
        final = {} if diverged else dict(h[-1]) if h else {}
        if diverged:
            final["train_loss"] = last_loss
        if not diverged:  # the module holds the final weights: train's own measurement
            start = {prefix + k: _layout(v[j], engine.channels_last) for k, v in w0.items()}
            final["weight_change_per_layer"] = weight_change(models[i], start)["per_layer"]
        else:
            final["weight_change_per_layer"] = {}
        res = TrainResult(
            steps=step, epochs=seen / n, time=t_member[i], stop_reason=stop,
            diverged=diverged, diverged_step=diverged_step, history=h, final=final,
            seconds=time.perf_counter() - t0,
        )  # fmt: skip
        results[i] = res
        if on_stop is not None:
            on_stop(i, models[i], res)

    def compact(keep: list[int]) -> None:
        """Keep the stack rows ``keep`` (positions in ``alive``)."""
        nonlocal params, buffers, w0, rates, rho_t, alive, f0_train, f0_test
        sel = torch.tensor(keep, dtype=torch.long, device=device)
        with torch.no_grad():
            params = {
                k: v.detach().index_select(0, sel).requires_grad_(True) for k, v in params.items()
            }
            buffers = {k: v.index_select(0, sel) for k, v in buffers.items()}
            w0 = {k: v.index_select(0, sel) for k, v in w0.items()}
            if f0_train is not None:
                f0_train = f0_train.index_select(0, sel)
            if f0_test is not None:
                f0_test = f0_test.index_select(0, sel)
        rho_t = rho_t.index_select(0, sel)
        engine.keep(keep)
        batches.keep(keep)
        if gens is not None:
            gens.keep(keep)
        alive = [alive[j] for j in keep]
        rates = rate_views(x.dtype)

    def loss_and_grads(xb, yb, b, f0b):
        leaves = list(params.values())
        out = engine(params, buffers, xb, training=True, gens=gens)
        if f0b is not None:
            out = out - f0b
        per = loss_fn(out.reshape(len(alive) * b, -1), yb.reshape(-1)).view(len(alive), b)
        means = per.mean(dim=1)
        return means, torch.autograd.grad(means.sum(), leaves)

    def sam(xb, yb, b, f0b, grads):
        """The SAM gradient of each member with ρ_m > 0 (sgdnoise.nets.sam, per member)."""
        norms = torch.stack([torch.linalg.vector_norm(flat_rows(g), dim=1) for g in grads], 1)
        norm = torch.linalg.vector_norm(norms, dim=1)
        active = (rho_t > 0) & torch.isfinite(norm) & (norm != 0)
        if not bool(active.any()):
            return grads
        scale = torch.where(active, norm.reciprocal() * rho_t, torch.zeros_like(norm))
        idle = [j for j, a in enumerate(active.tolist()) if not a]
        saved_rng = gens.save() if gens is not None else None
        saved_buf = {k: v.clone() for k, v in buffers.items()} if idle else None
        with torch.no_grad():
            saved = [p.detach().clone() for p in params.values()]
            for p, g in zip(params.values(), grads):
                v = scale.view(-1, *([1] * (g.ndim - 1)))
                p.add_(torch.where(v != 0, g * v, torch.zeros_like(g)))
        try:
            _, adv = loss_and_grads(xb, yb, b, f0b)
        finally:
            with torch.no_grad():
                for p, s in zip(params.values(), saved):
                    p.copy_(s)
        if idle:  # members without SAM this step: no second pass (rng, BN statistics)
            if gens is not None:
                gens.restore(saved_rng, idle)
            rows = torch.tensor(idle, device=device)
            for k, v in buffers.items():
                v[rows] = saved_buf[k][rows]
        keep = active.view(-1)
        return [torch.where(keep.view(-1, *([1] * (g.ndim - 1))), a, g) for g, a in zip(grads, adv)]

    @torch.no_grad()
    def evaluate_all(xs, ys, chunk, f0):
        ma = len(alive)
        tot = torch.zeros(ma, dtype=torch.float64, device=device)
        cor = torch.zeros(ma, dtype=torch.float64, device=device)
        fit = torch.zeros(ma, dtype=torch.float64, device=device)
        for s in range(0, len(xs), chunk):
            out = engine(params, buffers, xs[s : s + chunk], training=False, shared=True)
            if f0 is not None:
                out = out - f0[:, s : s + chunk]
            c = out.shape[1]
            flat = out.reshape(ma * c, -1)
            yy = ys[s : s + chunk].repeat(ma)
            tot += loss_fn(flat, yy).view(ma, c).sum(1).double()
            cor += (predictions(flat) == yy).view(ma, c).sum(1).double()
            fit += (margins(flat, yy, alpha) >= 1.0).view(ma, c).sum(1).double()
        nn_ = max(len(xs), 1)
        return [
            {"loss": a / nn_, "accuracy": b / nn_, "fitted": c / nn_}
            for a, b, c in zip(tot.tolist(), cor.tolist(), fit.tolist())
        ]

    @torch.no_grad()
    def weight_changes():
        num = sum(flat_rows((p.detach() - w0[k]) ** 2).sum(1).double() for k, p in params.items())
        den = sum(flat_rows(w0[k] ** 2).sum(1).double() for k in params)
        return [_rel(a, b) for a, b in zip(num.tolist(), den.tolist())]

    @torch.no_grad()
    def finite_rows():
        ok = torch.ones(len(alive), dtype=torch.bool, device=device)
        for p in params.values():
            ok &= torch.isfinite(p.detach()).flatten(1).all(1)
        return ok.tolist()

    step = 0
    pending = next(plan, None)
    while pending is not None:
        lr_k, b_k, epoch_k = pending
        idx = batches.next(b_k, epoch_k).to(device)
        b = idx.shape[1]
        xb, yb = x[idx], y[idx]
        f0b = None
        if f0_train is not None:
            f0b = f0_train[torch.arange(len(alive), device=device).unsqueeze(1), idx]
        means, grads = loss_and_grads(xb, yb, b, f0b)
        if any(rhos[i] > 0 for i in alive):
            grads = sam(xb, yb, b, f0b, grads)
        vals = means.detach().tolist()
        bad = []
        for j, (i, v) in enumerate(zip(alive, vals)):
            if first_loss[i] is None:
                first_loss[i] = max(abs(v), 1e-12)
            if not math.isfinite(v) or v > explode_factor * first_loss[i]:
                bad.append(j)
        if bad:
            for j in bad:
                finish(j, alive[j], step, "diverged", step, vals[j])
            keep = [j for j in range(len(alive)) if j not in set(bad)]
            sel = torch.tensor(keep, dtype=torch.long, device=device)
            grads = [g.index_select(0, sel) for g in grads]
            compact(keep)
            if not alive:
                break
        with torch.no_grad():
            for p, g in zip(params.values(), grads):
                # two IEEE operations, as the trainer's update: bit-identical per member
                # (in place on the fresh gradient: no temporary the size of the weights)
                p.sub_(g.mul_(lr_k if schedule is not None else rates[g.ndim]))
        step += 1
        seen += b
        for i in alive:
            t_member[i] += lr_k if schedule is not None else lrs[i]
        pending = next(plan, None)
        last = pending is None
        end_of_epoch = last or pending[2] != epoch_k
        due = step % eval_every == 0 if eval_every else end_of_epoch
        if not (due or last):
            continue
        ok = finite_rows()
        if not all(ok):
            nonfinite = [j for j, f in enumerate(ok) if not f]
            for j in nonfinite:
                finish(j, alive[j], step, "diverged", step, float("nan"))
            compact([j for j in range(len(alive)) if ok[j]])
            if not alive:
                break
        epoch = epoch_k + 1 if end_of_epoch else epoch_k
        want_train = criteria or last or train_eval_epochs is None or epoch in train_eval_epochs
        want_test = has_test and (test_eval_epochs is None or epoch in test_eval_epochs)
        if not (want_train or want_test):
            continue
        chunk = max(b_k, 256)
        tr = evaluate_all(x, y, chunk, f0_train) if want_train else None
        te = evaluate_all(data.x_test, data.y_test, chunk, f0_test) if want_test else None
        wc = weight_changes()
        wall = time.perf_counter() - t0
        stops = []
        for j, i in enumerate(alive):
            lr_i = lr_k if schedule is not None else lrs[i]
            rec = {"step": step, "epoch": epoch, "time": t_member[i], "lr": lr_i, "batch_size": b_k}
            if tr is not None:
                rec.update({f"train_{q}": v for q, v in tr[j].items()})
            if te is not None:
                rec.update({f"test_{q}": v for q, v in te[j].items()})
            rec["weight_change"] = wc[j]
            rec["wall"] = wall
            histories[i].append(rec)
            # the callback sees every record, the stopping one included (as in train)
            if callback is not None and call_back(j, i, rec):
                stops.append((j, "callback"))
            elif stop_when_fitted and rec["train_fitted"] >= 1.0:
                stops.append((j, "fitted"))
            elif (
                target_train_accuracy is not None and rec["train_accuracy"] >= target_train_accuracy
            ):
                stops.append((j, "train_accuracy"))
        if stops:
            for j, why in stops:
                finish(j, alive[j], step, why, None)
            gone = {j for j, _ in stops}
            compact([j for j in range(len(alive)) if j not in gone])
            if not alive:
                break
    end = (
        "schedule_end"
        if schedule is not None
        else "max_epochs"
        if epochs is not None and (max_steps is None or step < max_steps)
        else "max_steps"
    )
    for j, i in enumerate(alive):
        finish(j, i, step, end, None)
    return results  # type: ignore[return-value]


def _rel(a: float, b: float) -> float:
    return (a / b) ** 0.5 if b > 0 else float("inf") if a > 0 else 0.0


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
    steps of ``batch_size`` (no evaluations); the trained models (ordinary modules), model m
    exactly as ``train(build(seeds[m]), lr=lrs[m], seed=seeds[m], max_steps=steps)`` leaves
    it (see the module docstring for where "exactly" holds bit for bit)."""
    if len(lrs) != len(seeds) or len(seeds) == 0:
        raise ParameterError("lrs", list(lrs), "needs one learning rate per seed (at least one)")
    steps = integer("steps", steps, minimum=1)
    models = [build(integer("seeds", s, minimum=0)) for s in seeds]
    train_members(
        models, data, lrs=lrs, seeds=seeds, batch_size=batch_size, max_steps=steps, loss=loss,
        alpha=alpha, sampling=sampling, eval_test=False, train_eval_epochs=(),
        test_eval_epochs=(),
    )  # fmt: skip
    return models
