"""The KCL23 measurement protocol: one sweepable run, the nets per scale, and the grid call.

Kaur, Cohen & Lipton (2023), "On the maximum Hessian eigenvalue and generalization";
DESIGN.md §4.5.  One run = train a net by vanilla SGD (no momentum, no augmentation, no
weight decay; SAM when ``rho > 0``) until the first epoch whose full-training-set accuracy
reaches ``target`` (99%), then measure

    λmax = largest eigenvalue of ∇²L(w),  L = (1/m) Σ_{i ≤ m} ℓ_i(w),

on a fixed set of m training points (m = 1000 in the paper) by Lanczos on exact
Hessian-vector products (:func:`sgdnoise.nets.hessian_top_eigenvalues`; batch norm in train
mode in chunks of the training batch size, dropout off), and the test accuracy there.
``check_power=True`` also runs the power iteration (the baseline method, an independent
eigen-solver on the same operator) so that smoke can check the Lanczos values.

:func:`kcl23_run` is the sweepable (the sweeps store keys runs by :data:`FUNCTION`);
:func:`kcl23_runs` trains several of its configs (differing in η, seed, SAM ρ, dropout p) as
one batched ensemble with the same results (issue 14), and :func:`run_grid` runs a claim's
grid through :func:`._grid.run_grid` with that batching (:data:`ENSEMBLE`).  A run that misses
the target within ``max_epochs`` comes back with status ``capped`` (λmax measured at the
last epoch, not KCL23's measurement point: the analysis leaves it out).  Importing this
module does no work and imports no torch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..sweeps.tasks import sweepable
from ..validation import boolean, choice, in_range, integer, nonnegative, positive
from ._grid_ensemble import EnsemblePlan, shared_settings

FUNCTION = "sgdnoise.experiments._kcl23_worker:kcl23_run"
TARGET = 0.99  # KCL23 measure at the first epoch with ≥ 99% training accuracy


def _check(
    *, data, n_train, n_test, pool, arch, width, depth, batch_norm, dropout, lr, batch, rho,
    max_epochs, n_measure, seed, target=TARGET, data_dir="", hessian_tol=1e-4,
    hessian_iter=60, check_power=False, threads=1, device="cpu",
):  # fmt: skip
    """The one set of bounds of :func:`kcl23_run` (spec time and run time)."""
    return dict(
        data=choice("data", data, ("cifar10", "mnist")),
        n_train=integer("n_train", n_train, minimum=10),
        n_test=integer("n_test", n_test, minimum=10),
        pool=integer("pool", pool, minimum=1, maximum=8),
        arch=choice("arch", arch, ("mlp", "convnet", "resnet18", "resnet-small", "vgg11")),
        width=integer("width", width, minimum=1),
        depth=integer("depth", depth, minimum=1),
        batch_norm=boolean("batch_norm", batch_norm),
        dropout=in_range("dropout", dropout, 0.0, 1.0, high_open=True),
        lr=positive("lr", lr),
        batch=integer("batch", batch, minimum=1, maximum=n_train),
        rho=nonnegative("rho", rho),
        max_epochs=integer("max_epochs", max_epochs, minimum=1),
        n_measure=integer("n_measure", n_measure, minimum=2, maximum=n_train),
        seed=integer("seed", seed, minimum=0),
        target=in_range("target", target, 0.0, 1.0, low_open=True),
        data_dir=str(data_dir),
        hessian_tol=positive("hessian_tol", hessian_tol),
        hessian_iter=integer("hessian_iter", hessian_iter, minimum=2),
        check_power=boolean("check_power", check_power),
        threads=integer("threads", threads, minimum=1),
        device=choice("device", device, ("cpu", "cuda", "auto")),
    )


@sweepable("kcl23-run", validate=_check)
def kcl23_run(
    *, data, n_train, n_test, pool, arch, width, depth, batch_norm, dropout, lr, batch, rho,
    max_epochs, n_measure, seed, target=TARGET, data_dir="", hessian_tol=1e-4,
    hessian_iter=60, check_power=False, threads=1, device="cpu",
) -> dict:  # fmt: skip
    """Train to the first epoch with training accuracy ≥ ``target`` and measure λmax there.

    Metrics: ``lambda_max`` (Lanczos), ``lambda_max_power`` (power iteration, when
    ``check_power``), ``hessian_products``, ``test_accuracy``, ``train_accuracy``,
    ``reached`` (1 when the target was reached within ``max_epochs``), ``capped`` (its
    complement: the run stopped at the epoch cap), ``epochs``, ``steps``,
    ``train_seconds``; status ``diverged`` when SGD blew up.
    """
    c = _check(**locals())
    from ..nets import train
    from ._grid import set_threads

    set_threads(c["threads"])
    d = _data(c)
    net = _net(c, d, c["dropout"])
    # the test set is evaluated once, at the stop (_measure), not every epoch: only the
    # value there is reported, and the per-epoch pass cost a third of the training
    r = train(
        net, d, lr=c["lr"], batch_size=c["batch"], epochs=c["max_epochs"], rho=c["rho"],
        target_train_accuracy=c["target"], seed=c["seed"], eval_test=False,
    )  # fmt: skip
    return _measure(net, r, d, c)


def _data(c: dict):
    from ._netdata import dataset

    return dataset(
        c["data"], n_train=c["n_train"], n_test=c["n_test"], pool=c["pool"],
        data_dir=c["data_dir"], device=c["device"],
    )  # fmt: skip


def _net(c: dict, d, dropout: float):
    """The run's net (seeded by ``c["seed"]``) with dropout layers of probability
    ``dropout``; an ensemble member with p = 0 beside members with p > 0 is built with the
    layers and its p set to 0 (dropout layers hold no weights: its initial weights are
    those of the net without them)."""
    from ..nets import make_model

    return make_model(
        c["arch"], input_shape=d.input_shape, num_outputs=d.num_classes, width=c["width"],
        depth=c["depth"], batch_norm=c["batch_norm"], dropout=dropout, seed=c["seed"],
        device=d.x_train.device,
    )  # fmt: skip


def _measure(net, r, d, c: dict) -> dict:
    """The run's metrics (:func:`kcl23_run`) from its trained ``net`` and its
    :class:`~sgdnoise.nets.TrainResult` ``r``: λmax by Lanczos on the first ``n_measure``
    training points (dropout off, BN in train mode on chunks of ``batch``), the test
    accuracy (eval mode, chunks of max(B, 256) as the trainer evaluates), the power check
    when asked.  The one measurement of the per-run and the batched worker."""
    from ..nets import hessian_top_eigenvalues
    from ..nets.metrics import evaluate

    if r.diverged:
        return {"status": "diverged", "reached": 0.0, "steps": float(r.steps)}
    test = evaluate(net, d.x_test, d.y_test, chunk_size=max(c["batch"], 256))
    xm, ym = d.x_train[: c["n_measure"]], d.y_train[: c["n_measure"]]
    spec = hessian_top_eigenvalues(
        net, xm, ym, chunk_size=c["batch"], k=1, tol=c["hessian_tol"],
        max_iter=c["hessian_iter"], seed=c["seed"],
    )  # fmt: skip
    reached = float(r.stop_reason == "train_accuracy")
    out = {
        "lambda_max": float(spec.eigenvalues[0]),
        "hessian_products": float(spec.n_products),
        "test_accuracy": float(test["accuracy"]),
        "train_accuracy": float(r.final["train_accuracy"]),
        "reached": reached,
        "capped": 1.0 - reached,
        "epochs": float(r.epochs),
        "steps": float(r.steps),
        "train_seconds": float(r.seconds),
    }
    if c["check_power"]:
        out["lambda_max_power"] = power_check(net, xm, ym, c)
    return out


#: the axes in which the runs of one ensemble task may differ: each member's learning rate,
#: seed (initialization and batch order), SAM radius and dropout probability
MEMBERS = ("lr", "seed", "rho", "dropout")


def kcl23_runs(configs: list[dict]) -> list[dict]:
    """Several :func:`kcl23_run` configs that differ only in :data:`MEMBERS`, trained as
    batched ensembles (:func:`sgdnoise.nets.ensemble.train_members`, member m as
    ``train(lr=η_m, rho=ρ_m, seed=s_m, target_train_accuracy=target)`` with its own dropout
    p); each member is measured when it stops (:func:`_measure`, in ``on_stop``: frozen at
    the first epoch with training accuracy ≥ ``target``, at the epoch cap, or diverged).
    One result per config, each what :func:`kcl23_run` returns for it: for MLPs bit for bit
    on CPU (the engine's layer stacks follow single runs exactly); for other nets to the
    rounding the ``vmap`` engine's batched convolutions introduce.  Nets that are not layer
    stacks take their dropout p from one module (on CPU the engine's loop runs every member
    through the first member's modules), so their members are grouped by p."""
    cs = [_check(**cfg) for cfg in configs]
    shared = shared_settings(cs, MEMBERS)
    from ._grid import set_threads

    set_threads(shared["threads"])
    groups: dict[float, list[int]] = {}
    for j, c in enumerate(cs):
        # a layer stack carries each member's p; other nets share models[0]'s
        groups.setdefault(0.0 if shared["arch"] == "mlp" else c["dropout"], []).append(j)
    out: list[dict | None] = [None] * len(cs)
    d = _data(shared)
    for rows in groups.values():
        members = [cs[j] for j in rows]
        for j, res in zip(rows, _train_group(members, d)):
            out[j] = res
    return out  # type: ignore[return-value]


def _train_group(cs: list[dict], d) -> list[dict]:
    """One ensemble: members ``cs`` on data ``d``; their results, in order."""
    from torch import nn

    from ..nets.ensemble import train_members

    build = max(c["dropout"] for c in cs)
    nets = [_net(c, d, build) for c in cs]
    for net, c in zip(nets, cs):
        for m in net.modules():
            if isinstance(m, nn.Dropout):
                m.p = c["dropout"]
    out: list[dict | None] = [None] * len(cs)

    def on_stop(i, module, r):
        out[i] = _measure(module, r, d, cs[i])

    c0 = cs[0]
    train_members(
        nets, d, lrs=[c["lr"] for c in cs], seeds=[c["seed"] for c in cs], batch_size=c0["batch"],
        epochs=c0["max_epochs"], rho=[c["rho"] for c in cs], target_train_accuracy=c0["target"],
        eval_test=False, on_stop=on_stop,
    )  # fmt: skip
    return out  # type: ignore[return-value]


#: image channels and side of each data set (``pool`` average-pools with ceil_mode,
#: :mod:`._netdata`)
_IMAGES = {"cifar10": (3, 32), "mnist": (1, 28)}


def input_shape(data: str, pool: int) -> tuple[int, int, int]:
    """The input shape of the protocol's data after pooling, without loading it."""
    ch, side = _IMAGES[data]
    s = -(-side // pool)
    return (ch, s, s)


def kcl23_size(config: dict) -> int:
    """Members per ensemble task (:func:`sgdnoise.nets.ensemble_size`, cache-budgeted on
    CPU).  On the cpu
    protocol's MLP (width 512 on 32×32×3 CIFAR images, 1.84 M weights) it is 1 — measured
    (2026-12-02, idle core, 3 epochs): 2 and 4 members took 0.94–1.6× the time per member
    of 1 at B = 32, 128, 500, and 8 members 1.5–1.6× — the weights do not stay in cache, so
    the step is memory-bound whatever the ensemble."""
    import torch

    from ..nets import make_model
    from ..nets.ensemble import ensemble_size

    c = _check(**config)
    net = make_model(
        c["arch"], input_shape=input_shape(c["data"], c["pool"]),
        num_outputs=10, width=c["width"], depth=c["depth"], batch_norm=c["batch_norm"],
        dropout=c["dropout"], device="cpu",
    )  # fmt: skip
    dev = c["device"]
    dev = ("cuda" if torch.cuda.is_available() else "cpu") if dev == "auto" else dev
    return ensemble_size(net, batch_size=c["batch"], device=dev)


def power_check(net, xm, ym, c: dict) -> float:
    """λmax by plain power iteration (400 products, tol 1e-5): the independent check the
    smoke compares Lanczos against (both KCL23 workers use it)."""
    from ..nets import power_iteration
    from ..nets.hessian import HessianOperator

    op = HessianOperator(net, xm, ym, chunk_size=c["batch"])
    pw = power_iteration(
        op.matvec, op.n, max_iter=400, tol=1e-5, seed=c["seed"], dtype=op.dtype,
        device=op.device,
    )  # fmt: skip
    return float(pw.eigenvalues[0])


#: the KCL23 runs as batched ensembles (lr × seed × ρ × p), recorded under kcl23_run's keys
ENSEMBLE = EnsemblePlan(
    per_run=FUNCTION,
    batched="sgdnoise.experiments._kcl23_worker:kcl23_runs",
    size="sgdnoise.experiments._kcl23_worker:kcl23_size",
    members=MEMBERS,
)


@dataclass(frozen=True)
class Protocol:
    """The net, data and budget of the protocol at one scale (a claim adds its grid axes)."""

    data: str
    n_train: int
    n_test: int
    pool: int
    arch: str
    width: int
    depth: int
    max_epochs: int
    n_measure: int
    check_power: bool


#: smoke: 256 MNIST training images pooled to 14×14, a two-layer MLP — checks the machinery
#: (power iteration beside Lanczos on every run); cpu: 1000 real CIFAR-10 images (KCL23's
#: measurement-set size, measured on all of them), an MLP; paper: CIFAR-10 with ResNet-18 as
#: KCL23, λmax on 1000 fixed training points.
PROTOCOL = {
    "smoke": Protocol("mnist", 256, 500, 2, "mlp", 64, 2, 80, 256, True),
    "cpu": Protocol("cifar10", 1000, 1017, 1, "mlp", 512, 2, 200, 1000, False),
    "paper": Protocol("cifar10", 50000, 10000, 1, "resnet18", 1, 2, 300, 1000, False),
}
DEFAULTS = dict(batch_norm=False, dropout=0.0, rho=0.0)


def fixed_for(scale: str, **overrides) -> dict:
    """The protocol's fixed settings at ``scale`` with a claim's overrides."""
    return {**DEFAULTS, **asdict(PROTOCOL[scale]), **overrides}


def run_grid(ctx, name: str, fixed: dict, product: dict, *, zips: tuple[dict, ...] = ()):
    """Run one claim's grid through :func:`._grid.run_grid` into ``ctx.out_dir /
    study.sqlite`` (resumable): the ``product`` axes, crossed with each ``zip`` group in
    turn (one sweep spec per group: a group's axes vary together, and two groups may
    share values).  Runs that differ only in :data:`MEMBERS` train together as batched
    ensembles (:data:`ENSEMBLE`, recorded under the per-run keys: a store written run by run
    resumes unchanged).  One worker process per core, at most one per run.  A failed run
    raises (a claim gives no verdict on a grid with unexplained holes); a run that missed
    the target is ``capped``.  Returns the frame."""
    from ..sweeps.executors import default_workers
    from ._grid import run_grid as grid

    axes = set(product).union(*zips)
    fixed = {k: v for k, v in fixed.items() if k not in axes}
    fixed["data_dir"] = "" if ctx.data_dir is None else str(ctx.data_dir)
    if ctx.device != "cpu":  # cpu is the default: keeps the smoke/cpu run keys stable
        fixed["device"] = ctx.device
    base = {"function": FUNCTION, "fixed": fixed, "product": product}
    specs = [
        dict(base, name=f"{name}-{i}" if i else name, zip=[z]) for i, z in enumerate(zips)
    ] or [dict(base, name=name)]
    n_runs = math.prod(len(v) for v in product.values())
    n_runs *= sum(len(next(iter(z.values()))) for z in zips) if zips else 1
    workers = max(1, min(default_workers(), n_runs))
    df, _ = grid(ctx, specs, workers=workers, failed="raise", capped="capped", ensemble=[ENSEMBLE])
    return df
