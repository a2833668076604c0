"""UI25 `ui25-cifar`: the four batch-size / learning-rate schedulers on a ResNet with
CIFAR-10 — full-gradient norm per epoch, per step and per sample processed.

Umeda & Iiduka, TMLR 2025 (arXiv 2409.08770); DESIGN.md §4.4.  Plain SGD (no momentum, no
weight decay, no augmentation) under (i) constant b with a cosine-decaying η, (ii) b ×δ per
stage with cosine η, (iii) b ×δ and η ×γ per stage (γ² < δ, η capped), (iv) b ×δ per stage
with η warmed up ×γ per stage then cosine-decayed (:mod:`sgdnoise.theory.schedules`).  After
every epoch, ‖∇f(θ)‖ over the whole training set (:func:`sgdnoise.nets.full_gradient_norm`,
batch norm in train mode in chunks of that epoch's batch size).

Every scheduler runs the same epochs, so every run processes the same samples; growing
batches take fewer, larger steps ((i) takes ≈ 3× the steps of the others at cpu scale).
UI25 compare the schedulers' full-gradient norms over training; a comparison per step
would credit growing batches with their larger steps, so the criteria count samples
processed (in epochs of N; the norm is measured once per epoch) and steps are reported.
ε = the largest of all runs' smallest norms (a level every run reaches).  Per seed
(seed-paired: one seed initialises every scheduler's network):

* ``growing_batch_fewer_samples`` — epochs to ‖∇f‖ ≤ ε of (i) minus the fewest of
  (ii)–(iv) > 0 ("increasing batch sizes minimize the full gradient norm faster");
* ``iii_iv_fewer_samples`` — min of the epochs of (i), (ii) minus the max of those of (iii),
  (iv) > 0 ("(iii) or (iv) minimizes the full gradient norm faster than (i) or (ii)");
* ``iii_iv_smaller_norm`` — log smallest norm, best of (iii)/(iv) minus best of (i)/(ii)
  < 0, at equal samples processed.

Machinery (every scale; the whole verdict at smoke, where the criteria above are reported):
the trainer's step count equals the expanded schedule's Σ_e ⌈N/b_e⌉, every norm is
finite, every run lowered the norm below its initial value, no run failed or diverged.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ._grid_ensemble import EnsemblePlan, shared_settings
from ._netdata import dataset
from .criteria import Criterion, evaluate
from .registry import ClaimResult, claim

FUNCTION = "sgdnoise.experiments.ui25_cifar:ui25_cifar_run"
SCHEDULERS = ("i", "ii", "iii", "iv")
# Accepted by the worker beside SCHEDULERS (ui25-acceleration's CIFAR grid): (i) with a
# constant η, the scheduler whose floor sets that claim's target.  Not in this claim's grid,
# so its run keys are unchanged.
EXTRA_SCHEDULERS = ("i-constant",)
LABEL = {
    "i": "(i) const b, cosine η",
    "ii": "(ii) b×δ, cosine η",
    "iii": "(iii) b×δ, η×γ",
    "iv": "(iv) b×δ, warm-up+cosine",
}


@dataclass(frozen=True)
class Settings:
    """One scale: data (``pool``: average-pooling factor of the images), network, the
    schedulers' constants (γ² < δ for (iii); η capped below the stability limit), seeds."""

    n_train: int
    n_test: int
    pool: int
    arch: str
    epochs: int
    stage: int
    b0: int
    seeds: tuple[int, ...]
    width: int = 1
    eta0: float = 0.1
    delta: float = 2.0
    gamma: float = 1.3
    eta_cap: float = 0.4
    warmup: int = 2


# The paper-scale numbers follow UI25's ResNet-18 / CIFAR-10 set-up as described in
# DESIGN.md (b0 = 8 doubling each stage); the exact constants of the paper were not
# available here.  cpu: 5 seeds, because a one-sided t test at α/3 (three headline
# criteria) then has power 0.5 at an effect of 1.3 seed standard deviations (3 seeds: 2.6).
SETTINGS = {
    "smoke": Settings(256, 256, 4, "resnet-small", epochs=8, stage=2, b0=8, seeds=(0, 1)),
    "cpu": Settings(
        2048, 1017, 2, "resnet-small", epochs=24, stage=4, b0=16, seeds=(0, 1, 2, 3, 4)
    ),
    "paper": Settings(
        50000, 10000, 1, "resnet18", epochs=200, stage=40, b0=8, seeds=(0, 1, 2), eta_cap=0.5
    ),
}


def make_schedule(name, eta0, b0, delta, gamma, eta_cap, warmup, stage):
    """The UI25 scheduler ``name`` ∈ {i, ii, iii, iv, i-constant} with these constants."""
    from ..theory import schedules as S

    if name == "i":
        return S.scheduler_i("cosine", eta0, b0)
    if name == "i-constant":
        return S.scheduler_i("constant", eta0, b0)
    if name == "ii":
        return S.scheduler_ii("cosine", eta0, b0, delta, stage)
    if name == "iii":
        return S.scheduler_iii(eta0, gamma, b0, delta, stage, eta_cap=eta_cap)
    return S.scheduler_iv(eta0, gamma, warmup, "cosine", b0, delta, stage)


def _setup(c: dict):
    """The data, the scheduler and its expanded per-step plan of config ``c``."""
    from ..validation import choice
    from ._grid import set_threads

    choice("scheduler", c["scheduler"], SCHEDULERS + EXTRA_SCHEDULERS)
    set_threads(c["threads"])
    d = dataset(
        "cifar10", n_train=c["n_train"], n_test=c["n_test"], pool=c["pool"],
        data_dir=c["data_dir"], device=c["device"],
    )  # fmt: skip
    sch = make_schedule(c["scheduler"], c["eta0"], c["b0"], c["delta"], c["gamma"],
                        c["eta_cap"], c["warmup"], c["stage"])  # fmt: skip
    return d, sch, sch.expand(d.n_train, c["epochs"])


def _net(c: dict, d, seed: int):
    from ..nets import make_model

    return make_model(
        c["arch"], input_shape=d.input_shape, num_outputs=d.num_classes, width=c["width"],
        batch_norm=True, seed=seed, device=d.x_train.device,
    )  # fmt: skip


class _Norms:
    """One run's full-gradient norms: before training, then after every epoch (the training
    callback), with the step and epoch of each; batch norm in train mode in chunks of the
    batch size of the step that ended the epoch (the schedule's b_e)."""

    def __init__(self, net, d, plan):
        from ..nets import full_gradient_norm

        self.d, self.plan, self.fgn = d, plan, full_gradient_norm
        x, y = d.x_train, d.y_train
        self.norms = [full_gradient_norm(net, x, y, chunk_size=int(plan.batch_size[0]))]
        self.steps, self.epochs = [0], [0]

    def __call__(self, model, rec) -> None:
        b = int(self.plan.batch_size[rec["step"] - 1])
        self.norms.append(self.fgn(model, self.d.x_train, self.d.y_train, chunk_size=b))
        self.steps.append(rec["step"])
        self.epochs.append(rec["epoch"])

    def result(self, r) -> dict:
        """The run's result from its :class:`~sgdnoise.nets.trainer.TrainResult`."""
        if r.diverged:
            return {"status": "diverged", "steps": float(r.steps)}
        ep = np.asarray(self.epochs, float)
        g = np.asarray(self.norms, float)
        return {
            "grad_norm_initial": float(g[0]),
            "grad_norm_min": float(g.min()),
            "test_accuracy": float(r.final["test_accuracy"]),
            "train_accuracy": float(r.final["train_accuracy"]),
            "steps": float(r.steps),
            "steps_planned": float(self.plan.n_steps),
            "train_seconds": float(r.seconds),
            "curves": {
                "grad_norm_epoch": {"x": ep.tolist(), "y": g.tolist()},
                "grad_norm_step": {"x": [float(s) for s in self.steps], "y": g.tolist()},
                # epoch sampling: every epoch processes each example once
                "grad_norm_samples": {"x": (ep * self.d.n_train).tolist(), "y": g.tolist()},
            },
        }


def ui25_cifar_run(
    *, scheduler, n_train, n_test, pool, arch, width, epochs, stage, eta0, b0, delta, gamma,
    eta_cap, warmup, seed, data_dir="", threads=1, device="cpu",
) -> dict:  # fmt: skip
    """One scheduler, one seed: plain SGD for ``epochs`` epochs; the full-gradient norm
    before training and after every epoch (curves against epoch, step and samples)."""
    c = dict(locals())
    from ..nets import train

    d, sch, plan = _setup(c)
    net = _net(c, d, seed)
    norms = _Norms(net, d, plan)
    r = train(net, d, schedule=sch, epochs=epochs, seed=seed, callback=norms)
    return norms.result(r)


#: what the runs of one ensemble task may differ in: the seed (one scheduler, one (δ, γ))
MEMBERS = ("seed",)


def _defaults() -> dict:
    """:func:`ui25_cifar_run`'s default arguments (a config may leave them out)."""
    import inspect

    sig = inspect.signature(ui25_cifar_run).parameters.values()
    return {p.name: p.default for p in sig if p.default is not inspect.Parameter.empty}


def ui25_cifar_runs(configs: list[dict]) -> list[dict]:
    """The seeds of one scheduler trained as one batched ensemble
    (:func:`sgdnoise.nets.ensemble.train_members` with the scheduler as the members' shared
    ``schedule``: every member takes the same η_k and B_k, member m its own init and
    batches from ``seed_m``); one result per config, each what :func:`ui25_cifar_run`
    returns for it.  The full-gradient norm is measured per member through the engine's
    ``callback`` after every epoch, as :func:`ui25_cifar_run` measures it through
    ``train``'s; ``train_seconds`` is the ensemble's wall time to that member's end.

    The members are batch-norm ResNets.  On CPU the engine runs them one after another
    through a single run's kernels (channels-last, as ``train``): bit for bit the single
    runs.  Elsewhere its ``vmap`` path runs batched contiguous convolutions, which round
    differently: a member follows its single run to rounding level (tests/experiments/
    test_cifar_ensembles.py bounds the difference).  One config: the single run."""
    c = {**_defaults(), **configs[0]}
    shared_settings([{**_defaults(), **other} for other in configs], MEMBERS)
    if len(configs) == 1:
        return [ui25_cifar_run(**configs[0])]
    from ..nets.ensemble import train_members

    d, sch, plan = _setup(c)
    seeds = [int(cfg["seed"]) for cfg in configs]
    nets = [_net(c, d, s) for s in seeds]
    norms = [_Norms(net, d, plan) for net in nets]
    # the result reads the accuracies at the end only: the train set is evaluated there, the
    # (smaller) test set after every epoch — the evaluation after which the callback runs
    results = train_members(
        nets, d, schedule=sch, epochs=c["epochs"], seeds=seeds, train_eval_epochs=(),
        callback=lambda i, module, rec: norms[i](module, rec),
    )  # fmt: skip
    return [n.result(r) for n, r in zip(norms, results, strict=True)]


def ui25_size(config: dict) -> int:
    """Members per ensemble task: :func:`sgdnoise.nets.ensemble.ensemble_size` for this
    config's ResNet at its first batch size (on CPU the engine's loop of single-run kernels,
    :data:`sgdnoise.nets.ensemble.CPU_LOOP_MEMBERS`)."""
    import torch

    from ..nets import make_model
    from ..nets.ensemble import ensemble_size

    c = {**_defaults(), **config}
    dev = c["device"]
    dev = ("cuda" if torch.cuda.is_available() else "cpu") if dev == "auto" else dev
    side = -(-32 // c["pool"])
    net = make_model(c["arch"], input_shape=(3, side, side), num_outputs=10, width=c["width"],
                     batch_norm=True, device="cpu")  # fmt: skip
    return ensemble_size(net, batch_size=int(c["b0"]), device=dev, input_shape=(3, side, side))


#: the seeds of each scheduler as one batched ensemble, recorded under ui25_cifar_run's keys
#: (ui25-cifar and ui25-acceleration's CIFAR-10 part)
ENSEMBLE = EnsemblePlan(
    per_run=FUNCTION,
    batched="sgdnoise.experiments.ui25_cifar:ui25_cifar_runs",
    size="sgdnoise.experiments.ui25_cifar:ui25_size",
    members=MEMBERS,
)


# -- criteria ----------------------------------------------------------------------------


def machinery_criteria() -> list[Criterion]:
    def m(name, says):
        return Criterion(name, says, "machinery", low=0.0, high=0.5)

    return [
        m("runs_done", "every (scheduler, seed) run finished (runs not done)"),
        m(
            "steps_match_schedule",
            "epoch e takes ⌈N/b_e⌉ steps: trainer steps = the expanded "
            "schedule's (runs that differ)",
        ),  # fmt: skip
        m("norms_finite", "‖∇f‖ over the training set is finite after every epoch (non-finite)"),
        m("norms_fell", "every scheduler lowers the full-gradient norm (runs that did not)"),
    ]


def headline_criteria() -> list[Criterion]:
    epoch = dict(
        kind="direction",
        sign=1,
        effect=1.0,
        effect_reason="one epoch: the resolution of the measurement (one norm per epoch)",
        unit="seed",
    )
    return [
        Criterion(
            "growing_batch_fewer_samples",
            "increasing batch sizes minimize the full gradient norm faster: epochs (samples/N) "
            "to ‖∇f‖ ≤ ε of (i) minus the fewest of (ii)–(iv) > 0",
            **epoch,
        ),
        Criterion(
            "iii_iv_fewer_samples",
            "using scheduler (iii) or (iv) minimizes the full gradient norm faster than (i) or "
            "(ii): min epochs to ε of (i), (ii) minus max of (iii), (iv) > 0",
            **epoch,
        ),
        Criterion(
            "iii_iv_smaller_norm",
            "(iii)/(iv) reach a smaller full-gradient norm: log min ‖∇f‖, best of (iii)/(iv) "
            "minus best of (i)/(ii), at equal samples processed < 0",
            "direction",
            sign=-1,
            effect=math.log(1.25),
            effect_reason="a 25% smaller norm, the smallest gain one would call minimizing faster",
        ),
    ]


def _first_reach(x, y, eps: float) -> float:
    """The first x at which y ≤ eps (inf when never)."""
    hit = np.nonzero(np.asarray(y) <= eps)[0]
    return float(np.asarray(x)[hit[0]]) if len(hit) else math.inf


def analyse(df, cv) -> tuple[dict, dict, dict]:
    """Criteria data from the runs' frame ``df`` and curves ``cv`` (store frames).

    Returns ``(machinery data, headline data, per (scheduler, seed) table)``; the table
    holds steps, epochs and samples to ε, the smallest norm, test accuracy and steps."""
    done = df[df["status"] == "done"]
    curves = {
        (sch, sd, name.removeprefix("grad_norm_")): (g["x"].to_numpy(), g["y"].to_numpy())
        for (sch, sd, name), g in cv.groupby(["scheduler", "seed", "name"])
    }
    mach = {
        "runs_done": [float(len(df) - len(done))],
        "steps_match_schedule": [float((done["steps"] != done["steps_planned"]).sum())],
        "norms_finite": [float((~np.isfinite(cv["y"].to_numpy(float))).sum()) if len(cv) else 1.0],
        "norms_fell": [float((done["grad_norm_min"] >= done["grad_norm_initial"]).sum())],
    }
    eps = float(done["grad_norm_min"].max()) if len(done) else math.nan
    table = {}
    for _, r in done.iterrows():
        k = (r["scheduler"], int(r["seed"]))
        to = {c: _first_reach(*curves[(*k, c)], eps) for c in ("step", "epoch", "samples")}
        table[k] = dict(
            to, grad_norm_min=r["grad_norm_min"], test_accuracy=r["test_accuracy"], steps=r["steps"]
        )
    seeds = sorted({sd for _, sd in table if all((s, sd) in table for s in SCHEDULERS)})
    ep = {s: np.array([table[s, sd]["epoch"] for sd in seeds]) for s in SCHEDULERS}
    gmin = {s: np.log([table[s, sd]["grad_norm_min"] for sd in seeds]) for s in SCHEDULERS}
    head = {
        "growing_batch_fewer_samples": ep["i"] - np.min([ep["ii"], ep["iii"], ep["iv"]], axis=0),
        "iii_iv_fewer_samples": np.min([ep["i"], ep["ii"]], axis=0)
        - np.max([ep["iii"], ep["iv"]], axis=0),
        "iii_iv_smaller_norm": np.min([gmin["iii"], gmin["iv"]], axis=0)
        - np.min([gmin["i"], gmin["ii"]], axis=0),
    }
    return mach, head, {"eps": eps, "runs": table, "seeds": seeds}


@claim(
    "ui25-cifar",
    paper="UI25",
    statement="on a ResNet with CIFAR-10, increasing batch sizes reach small full-gradient "
    "norms with fewer samples processed; schedulers (iii)/(iv) do best",
)
def run(ctx):
    from ..sweeps import Store
    from ..sweeps.executors import default_workers
    from ._grid import run_grid

    s = SETTINGS[ctx.scale]
    fixed = {k: v for k, v in asdict(s).items() if k != "seeds"}
    fixed["data_dir"] = "" if ctx.data_dir is None else str(ctx.data_dir)
    if ctx.device != "cpu":  # cpu is the default: keeps the smoke/cpu run keys stable
        fixed["device"] = ctx.device
    spec = {
        "name": "ui25-cifar",
        "description": "UI25 schedulers (i)-(iv) on a ResNet with CIFAR-10",
        "function": FUNCTION,
        "fixed": fixed,
        "product": {"scheduler": list(SCHEDULERS), "seed": list(s.seeds)},
    }
    workers = min(default_workers(), len(SCHEDULERS) * len(s.seeds))
    df, _ = run_grid(ctx, [spec], workers=workers, failed="raise", ensemble=[ENSEMBLE])
    with Store(ctx.out_dir / "study.sqlite") as st:
        cv = st.curves_frame(sweep="ui25-cifar")
    cv = cv[cv["key"].isin(df["key"])]
    mach, head, t = analyse(df, cv)
    machinery = evaluate(machinery_criteria(), mach)
    headline = evaluate(headline_criteria(), head)
    judged = machinery if ctx.scale == "smoke" else machinery + headline
    metrics = {"runs": float(len(df)), "epsilon": t["eps"]}
    rows = []
    for sch in SCHEDULERS:
        v = {k: [r[k] for (s_, _), r in t["runs"].items() if s_ == sch] for k in
             ("steps", "step", "epoch", "samples", "grad_norm_min", "test_accuracy")}  # fmt: skip
        for k, vals in v.items():
            metrics[f"{k}_{sch}"] = float(np.mean(vals)) if vals else math.nan
        sd = np.std(v["grad_norm_min"], ddof=1) if len(v["grad_norm_min"]) > 1 else math.nan
        rows.append(
            f"| {LABEL[sch]} | {metrics[f'steps_{sch}']:.0f} | {metrics[f'step_{sch}']:.0f} | "
            f"{metrics[f'epoch_{sch}']:.2f} | {metrics[f'samples_{sch}']:.0f} | "
            f"{metrics[f'grad_norm_min_{sch}']:.4g} ± {sd:.2g} | "
            f"{metrics[f'test_accuracy_{sch}']:.4f} |"
        )
    _figure(ctx, cv, t)
    from .criteria import criteria_table

    head_title = (
        "Headline criteria at smoke scale (reported only: smoke checks the machinery):"
        if ctx.scale == "smoke"
        else "Headline criteria (also in the criteria table above):"
    )
    details = (
        "| scheduler | steps taken | steps to ε (per step, reported) | epochs to ε (per sample, "
        "judged) | samples to ε | min ‖∇f‖ (mean ± sd) | test acc |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
        + "\n".join(rows)
        + f"\n\nSeed means over {len(t['seeds'])} seeds.  ε = {t['eps']:.4g} (the largest of all "
        "runs' smallest norms).  Every scheduler runs the same epochs, so samples processed = "
        f"epochs × N (N = {s.n_train}); the norm is measured once per epoch.\n\n"
        + head_title
        + "\n\n"
        + criteria_table(headline)
    )
    hd = {j.name: j for j in headline}
    g = hd["growing_batch_fewer_samples"]
    summary = (
        f"(i) needs {g.estimate:.2f} more epochs than the best growing-batch scheduler to reach "
        f"‖∇f‖ ≤ {t['eps']:.3g} ({g.decision}); per step it needs "
        f"{metrics['step_i'] - min(metrics[f'step_{k}'] for k in SCHEDULERS[1:]):.0f} more "
        f"steps (reported); (iii)/(iv) faster than (i)/(ii) per sample: "
        f"{hd['iii_iv_fewer_samples'].decision}; smaller norm: "
        f"{hd['iii_iv_smaller_norm'].decision} ({ctx.scale} scale"
        + (", headline reported, not judged" if ctx.scale == "smoke" else "")
        + ")."
    )
    return ClaimResult(summary=summary, criteria=judged, metrics=metrics, details=details)


def _figure(ctx, cv, t):
    from matplotlib.figure import Figure

    from ._plots import log_axis, seeds_mean_ci

    fig = Figure(figsize=(15, 3.6), layout="constrained")
    axes = fig.subplots(1, 4)
    for i, sch in enumerate(SCHEDULERS):
        sub = cv[cv["scheduler"] == sch]
        for ax, k in zip(axes[:3], ("epoch", "step", "samples"), strict=True):
            m = sub[sub["name"] == f"grad_norm_{k}"].groupby("x")["y"].mean()
            ax.plot(m.index, m.values, "-o", ms=2, color=f"C{i}", label=LABEL[sch])
    y = cv["y"].to_numpy(float)
    y = y[np.isfinite(y) & (y > 0)]
    # the norms span less than a decade: label five values across their range
    ticks = [float(f"{v:.2g}") for v in np.geomspace(y.min(), y.max(), 5)] if y.size else None
    for ax, xl in zip(axes[:3], ("epoch", "SGD steps (reported)", "samples processed (judged)"),
                      strict=True):  # fmt: skip
        log_axis(ax, "y", ticks=ticks)
        ax.axhline(t["eps"], color="k", ls=":", lw=0.8)
        ax.set_xlabel(xl)
    axes[0].set_ylabel("full-gradient norm ‖∇f‖ (seed mean; dotted: ε)")
    axes[0].legend(fontsize=7)
    seeds_mean_ci(
        axes[3], range(len(SCHEDULERS)),
        [[r["epoch"] for (s, _), r in t["runs"].items() if s == sch] for sch in SCHEDULERS],
        label="epochs to ε",
    )  # fmt: skip
    axes[3].set_xticks(range(len(SCHEDULERS)), [f"({s})" for s in SCHEDULERS])
    axes[3].set(ylabel="epochs to ‖∇f‖ ≤ ε (= samples / N)", title="per sample processed")
    axes[3].legend(fontsize=7)
    fig.suptitle("UI25 schedulers on a ResNet, CIFAR-10")
    ctx.savefig(fig, "ui25_cifar")
