"""The SGD trainer: one readable loop (DESIGN.md §3, §4.2–4.5).

    w_{k+1} = w_k − η_k g_k,    g_k = (1/B_k) Σ_{i ∈ batch_k} ∇ℓ_i(w_k)

Plain SGD, no momentum unless asked; ``rho > 0`` replaces g_k by the SAM gradient
(:mod:`sgdnoise.nets.sam`).  η_k and B_k are either constants (``lr``, ``batch_size``) or come
from a schedule object of :mod:`sgdnoise.theory.schedules` — anything with
``expand(n_train, epochs)`` returning per-step arrays ``.lr``, ``.batch_size``, ``.epoch``.
Per-parameter rate multipliers (``lr_scale``) express e.g. the standard-parameterization
equivalent of NTK-parameterized SGD (:mod:`sgdnoise.theory.parameterization`).

Stopping: a step cap, an epoch cap, the end of the schedule, every training point fitted
(margin ≥ 1, SGW23), or train accuracy ≥ a threshold (KCL23).  Divergence — a non-finite or
exploding minibatch loss, or non-finite weights — ends the run as a *result* recorded with its
step, never an exception.  Seeded: batches come from a CPU generator seeded by ``seed``;
dropout draws from torch's generator, forked and seeded for the run; on CPU two runs with the
same arguments give identical weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import ParameterError
from ..validation import choice, in_range, integer, nonnegative, positive
from .datasets import Dataset
from .losses import make_loss
from .metrics import evaluate, snapshot, trainable, weight_change
from .models import CenteredOutput
from .parameterization import ScaledConv2d
from .sam import sam_gradients
from .sampling import SAMPLINGS, BatchSampler


@dataclass
class TrainResult:
    """What a run did: how far it went, why it stopped, and what it measured on the way.

    ``time`` is SGW23's ``t = Σ_k η_k``; ``history`` holds one record per evaluation
    (step, epoch, time, lr, batch_size, train_loss, train_accuracy, fitted, test_* when asked,
    plus anything a callback adds).
    """

    steps: int
    epochs: float
    time: float
    stop_reason: str
    diverged: bool
    diverged_step: int | None
    history: list[dict] = field(default_factory=list)
    final: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def fitted(self) -> bool:
        return self.stop_reason == "fitted"


def uses_channels_last(model: nn.Module, x: torch.Tensor) -> bool:
    """``train``'s default memory layout: channels_last whenever the inputs are images and
    the model convolves (oneDNN's and cuDNN's convolutions run faster in NHWC).  One rule,
    shared with the ensembles, whose members must take the layout a single run takes."""
    return x.ndim == 4 and any(isinstance(m, ScaledConv2d) for m in model.modules())


def step_plan(
    n: int, lr, batch_size, schedule, epochs, max_steps, sampling
) -> tuple[Iterator[tuple[float, int, int]], int | None]:
    """Per-step (η_k, B_k, epoch_k) and the total number of steps when known: from
    ``schedule.expand(n, epochs)``, or constant (lr, batch_size) capped by epochs/max_steps.
    Shared by :func:`train` and the batched ensembles, so both take the same steps."""
    if schedule is not None:
        if lr is not None or batch_size is not None:
            raise ParameterError("schedule", schedule, "give either schedule or lr/batch_size")
        if epochs is None:
            raise ParameterError("epochs", epochs, "a schedule needs the number of epochs")
        if not callable(getattr(schedule, "expand", None)):
            raise ParameterError("schedule", schedule, "must have expand(n_train, epochs)")
        plan = schedule.expand(n, epochs)
        lrs = np.asarray(plan.lr, dtype=float)
        bs = np.asarray(plan.batch_size)
        ep = np.asarray(plan.epoch)
        if not (len(lrs) == len(bs) == len(ep)) or len(lrs) == 0:
            raise ParameterError("schedule", schedule, "expand() must give equal-length arrays")
        if not np.all(np.isfinite(lrs)) or np.any(lrs < 0) or np.any(bs < 1):
            raise ParameterError("schedule", schedule, "needs finite lr >= 0 and batch sizes >= 1")
        total = len(lrs) if max_steps is None else min(len(lrs), max_steps)
        it = ((float(lrs[k]), int(bs[k]), int(ep[k])) for k in range(total))
        return it, total
    if lr is None or batch_size is None:
        raise ParameterError("lr", lr, "give lr and batch_size (or a schedule)")
    lr = positive("lr", lr)
    batch_size = integer("batch_size", batch_size, minimum=1)
    if batch_size > n and sampling != "replacement":
        raise ParameterError("batch_size", batch_size, f"must be <= n_train={n}")
    per_epoch = math.ceil(n / batch_size)
    caps = [c for c in (None if epochs is None else epochs * per_epoch, max_steps) if c is not None]
    total = min(caps) if caps else None

    def gen():
        k = 0
        while total is None or k < total:
            yield lr, batch_size, k // per_epoch
            k += 1

    return gen(), total


def check_run_length(epochs, max_steps, eval_every, target_train_accuracy):
    """The run-length arguments shared by :func:`train` and the batched ensembles, checked:
    positive integers (or None) and an accuracy target in [0, 1]."""
    if epochs is not None:
        epochs = integer("epochs", epochs, minimum=1)
    if max_steps is not None:
        max_steps = integer("max_steps", max_steps, minimum=1)
    if eval_every is not None:
        eval_every = integer("eval_every", eval_every, minimum=1)
    if target_train_accuracy is not None:
        target_train_accuracy = in_range("target_train_accuracy", target_train_accuracy, 0, 1)
    return epochs, max_steps, eval_every, target_train_accuracy


def train(
    model: nn.Module,
    data: Dataset,
    *,
    lr: float | None = None,
    batch_size: int | None = None,
    schedule=None,
    epochs: int | None = None,
    max_steps: int | None = None,
    loss: str = "cross_entropy",
    alpha: float = 1.0,
    sampling: str = "epoch",
    rho: float = 0.0,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    lr_scale: Mapping[str, float] | None = None,
    stop_when_fitted: bool = False,
    target_train_accuracy: float | None = None,
    eval_every: int | None = None,
    eval_test: bool = True,
    explode_factor: float = 1e4,
    channels_last: bool | None = None,
    seed: int = 0,
    progress: bool = False,
    callback: Callable[[nn.Module, dict], bool | None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``data`` (tensors already on the model's device) in place.

    ``epochs`` / ``max_steps`` cap the run (at least one of them, or a stopping criterion,
    is required).  Evaluations (full train set, and test set when ``eval_test``) run at the
    end of every epoch, or every ``eval_every`` steps when given, and at the end; stopping
    criteria are checked there.  ``callback(model, record)`` runs after each evaluation, may
    add entries to ``record`` and returns True to stop (reason ``"callback"``).

    ``channels_last`` (default: whenever the inputs are images and the model convolves) moves
    the model's weights and a copy of the images into NHWC layout, which oneDNN's CPU
    convolutions (and cuDNN's) run faster — measured 1.5x per step on the small ConvNet
    on CPU.  Values are unchanged; only the layout (and float rounding order) differs.
    """
    choice("sampling", sampling, SAMPLINGS)
    alpha = positive("alpha", alpha)
    rho = nonnegative("rho", rho)
    momentum = in_range("momentum", momentum, 0.0, 1.0, high_open=True)
    weight_decay = nonnegative("weight_decay", weight_decay)
    explode_factor = positive("explode_factor", explode_factor)
    seed = integer("seed", seed, minimum=0)
    epochs, max_steps, eval_every, target_train_accuracy = check_run_length(
        epochs, max_steps, eval_every, target_train_accuracy
    )
    if epochs is None and max_steps is None and schedule is None:
        if not (stop_when_fitted or target_train_accuracy is not None):
            raise ParameterError("max_steps", None, "give epochs, max_steps or a stop criterion")
    loss_fn = make_loss(loss, alpha=alpha)
    x, y = data.x_train, data.y_train
    first = next(model.parameters(), None)
    if first is not None and first.device != x.device:
        raise ParameterError(
            "data", str(x.device), f"must be on the model's device {first.device} (Dataset.to)"
        )
    if channels_last is None:
        channels_last = uses_channels_last(model, x)
    if channels_last:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    named = trainable(model)
    names, params = [n for n, _ in named], [p for _, p in named]
    scales = [1.0] * len(params)
    if lr_scale:
        unknown = set(lr_scale) - set(names)
        if unknown:
            raise ParameterError("lr_scale", sorted(unknown), "names no trainable parameter")
        scales = [float(lr_scale.get(n, 1.0)) for n in names]
    n = data.n_train
    plan, total = step_plan(n, lr, batch_size, schedule, epochs, max_steps, sampling)
    sampler = BatchSampler(n, sampling, seed)
    w0 = snapshot(model)
    # a centred net's f(w0, x) is fixed on the fixed training and test sets: computed once
    f0_train = f0_test = None
    if isinstance(model, CenteredOutput):
        f0_train = model.initial_outputs(x)
        if eval_test and len(data.x_test):
            f0_test = model.initial_outputs(data.x_test)
    velocity = [torch.zeros_like(p) for p in params] if momentum > 0 else None
    device = x.device

    def evaluation(step, epoch, t, lr_k, b_k):
        rec = {"step": step, "epoch": epoch, "time": t, "lr": lr_k, "batch_size": b_k}
        chunk = max(b_k, 256)
        tr = evaluate(model, x, y, loss=loss, alpha=alpha, chunk_size=chunk, f0=f0_train)
        rec.update({f"train_{k}": v for k, v in tr.items()})
        if eval_test and len(data.x_test):
            te = evaluate(
                model,
                data.x_test,
                data.y_test,
                loss=loss,
                alpha=alpha,
                chunk_size=chunk,
                f0=f0_test,
            )
            rec.update({f"test_{k}": v for k, v in te.items()})
        rec["weight_change"] = weight_change(model, w0)["overall"]
        return rec

    def loss_and_grads(idx):
        def closure():
            out = model(x[idx]) if f0_train is None else model(x[idx], f0=f0_train[idx])
            value = loss_fn(out, y[idx]).mean()
            return value, torch.autograd.grad(value, params)

        return closure

    history: list[dict] = []
    stop, diverged_step, t, step, first_loss, seen = "max_steps", None, 0.0, 0, None, 0
    lr_k, b_k, epoch_k = float("nan"), 0, 0
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="train", leave=False)
    fork = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork):
        torch.manual_seed(seed)
        model.train()
        pending = next(plan, None)
        if pending is None:
            stop = "max_steps"
        while pending is not None:
            lr_k, b_k, epoch_k = pending
            idx = sampler.next(b_k, epoch_k).to(device)
            value, grads = sam_gradients(params, loss_and_grads(idx), rho)
            v = float(value.detach())
            if first_loss is None:
                first_loss = max(abs(v), 1e-12)
            if not math.isfinite(v) or v > explode_factor * first_loss:
                stop, diverged_step = "diverged", step
                break
            with torch.no_grad():
                if weight_decay:
                    grads = [g + weight_decay * p for g, p in zip(grads, params)]
                if velocity is not None:
                    for buf, g in zip(velocity, grads):
                        buf.mul_(momentum).add_(g)
                    grads = velocity
                # w − (η·g): two IEEE operations whatever the vector width (add_ with an
                # alpha fuses a multiply-add on vector lanes only), so an ensemble member
                # (sgdnoise.nets.ensemble) can reproduce this update bit for bit
                if lr_scale:
                    for p, g, s in zip(params, grads, scales):
                        p.sub_(g * (lr_k * s))
                else:
                    torch._foreach_sub_(params, torch._foreach_mul(list(grads), lr_k))
            step += 1
            t += lr_k
            seen += len(idx)
            if bar is not None:
                bar.update(1)
            pending = next(plan, None)
            end_of_epoch = pending is None or pending[2] != epoch_k
            due = step % eval_every == 0 if eval_every else end_of_epoch
            if not (due or pending is None):
                continue
            if not all(bool(torch.isfinite(p).all()) for p in params):
                stop, diverged_step = "diverged", step
                break
            rec = evaluation(step, epoch_k + 1 if end_of_epoch else epoch_k, t, lr_k, b_k)
            rec["wall"] = time.perf_counter() - t0
            history.append(rec)
            model.train()
            # the callback sees every record, including the one that stops the run (KCL23
            # measure λmax at the first epoch reaching the accuracy threshold)
            if callback is not None and callback(model, rec):
                stop = "callback"
                break
            model.train()
            if stop_when_fitted and rec["train_fitted"] >= 1.0:
                stop = "fitted"
                break
            if target_train_accuracy is not None and rec["train_accuracy"] >= target_train_accuracy:
                stop = "train_accuracy"
                break
            if pending is None:
                stop = (
                    "schedule_end"
                    if schedule is not None
                    else (
                        "max_epochs"
                        if epochs is not None and (max_steps is None or step < max_steps)
                        else "max_steps"
                    )
                )
    if bar is not None:
        bar.close()
    diverged = stop == "diverged"
    final = {}
    if not diverged:
        final = history[-1] if history else evaluation(step, epoch_k, t, lr_k, b_k)
    final = dict(final)
    if diverged:
        final["train_loss"] = v  # the non-finite or exploding minibatch loss that stopped it
    final["weight_change_per_layer"] = weight_change(model, w0)["per_layer"] if not diverged else {}
    model.train()
    return TrainResult(
        steps=step,
        epochs=seen / n,
        time=t,
        stop_reason=stop,
        diverged=diverged,
        diverged_step=diverged_step,
        history=history,
        final=final,
        seconds=time.perf_counter() - t0,
    )
