"""UI25 `ui25-acceleration`: do schedulers (iii) and (iv) reach a stated ‖∇f‖² sooner, per
step and per sample processed, than (i) and (ii)?

Umeda & Iiduka, TMLR 2025 (arXiv 2409.08770), abstract: "schedulers (iii) and (iv)
accelerate mini-batch SGD".  UI25 pair the batch-size growth δ with the learning-rate growth
γ (γ² < δ): (δ, γ) = (2, 1.4), (3, 1.7), (4, 1.9).

Protocol (ours; the paper's synthetic protocol was not available).  On the noisy quadratic
and ridge logistic regression of :mod:`._ui25_sim`, every scheduler starts from the same
η0 = ``eta0_L``/L and b0 and runs ``epochs`` epochs over N points (stages of ``stage``
epochs): (i) constant η, (i) cosine, and for each (δ, γ): (ii) b ×δ with cosine η, (iii)
b ×δ and η ×γ (capped at 1.5/L), (iv) b ×δ with η warmed up ×γ for two stages then cosine.
The stated target is half of (i)'s stationary floor at (η0, b0), ε = ½·tr(HPH)
(:func:`._ui25_floor_analysis.stationary_floor`: exact for the quadratic, linearized at θ*
for the logistic loss; derived) — a level (i) with constant η cannot reach, so the question
is who gets below (i)'s floor first.  Cost to ε: steps taken and samples processed
(:mod:`._ui25_accel_analysis`, with its censoring rule: a censored seed counts at the point
of its known interval nearest 0).  A seed is one replicate of ``chains`` chains and drives
every run (seed-paired).

CIFAR-10 (:mod:`._ui25_accel_cifar`): `ui25-cifar`'s worker on a batch-norm ResNet at the
same pairs, plus (i) at constant η; target ½ of (i)-constant's late level ‖∇f‖² measured on
the same grid; cost read at the first epoch end below it (one full-gradient norm per epoch).

Criteria (cpu/paper): for each problem (quadratic, logistic, cifar10), (δ, γ), X ∈ {(iii),
(iv)} and clock ∈ {steps, samples}, per seed log cost(X) − log min(cost (i) constant, (i)
cosine, (ii)) < 0 (direction, effect log 2; 36 criteria, Bonferroni).  Smoke judges the
machinery only (the headline criteria are reported): the time-to-target of a run equals
exact gradient descent's on the noise-free quadratic, every run processes E·N samples, and
on CIFAR-10 no run failed, the step and sample clocks are the schedules', norms are finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _ui25_accel_analysis as aa
from . import _ui25_accel_cifar as ac
from . import _ui25_floor_analysis as fa
from . import _ui25_sim as sim
from .criteria import criteria_table, evaluate
from .registry import ClaimResult, claim

PAIRS = ((2.0, 1.4), (3.0, 1.7), (4.0, 1.9))


@dataclass(frozen=True)
class AccelSettings:
    """One scale: ``epochs`` over ``n_data`` points in stages of ``stage`` epochs, from
    η0·L = ``eta0_L`` and b0; ``pairs``: the (δ, γ) of UI25; ``chains`` per seed."""

    n_data: int
    epochs: int
    stage: int
    chains: int
    seeds: tuple[int, ...]
    eta0_L: float = 0.05
    b0: int = 2
    pairs: tuple[tuple[float, float], ...] = PAIRS
    record_every: int = 2

    def sim_settings(self, delta: float = 2.0, gamma: float = 1.4) -> sim.SimSettings:
        return sim.SimSettings(n_data=self.n_data, epochs=self.epochs, stage=self.stage,
                               chains=self.chains, seeds=self.seeds, b0=self.b0,
                               eta0_L=(self.eta0_L,), delta=delta, gamma=gamma)  # fmt: skip


# Power: log step/sample counts to ε scatter by a few % between seeds of 128 chains, so 5
# seeds give power ≈ 1 at a factor 2 even at Bonferroni α/24; smoke judges machinery only.
SETTINGS = {
    "smoke": AccelSettings(n_data=128, epochs=6, stage=1, chains=32, seeds=(0, 1, 2)),
    "cpu": AccelSettings(n_data=512, epochs=10, stage=2, chains=128, seeds=(0, 1, 2, 3, 4)),
    "paper": AccelSettings(n_data=1024, epochs=20, stage=4, chains=256, seeds=tuple(range(10))),
}


# CIFAR-10 (:mod:`._ui25_accel_cifar`).  cpu: sized by a pilot (docs/ui25.md) to fit the
# claim's 30 min on 2 cores beside the synthetic part: 11 runs per seed of ~15 s each.
CIFAR = {
    "smoke": ac.CifarSettings(
        n_train=128, n_test=64, pool=4, epochs=4, stage=1, b0=8, seeds=(0,)
    ),  # fmt: skip
    "cpu": ac.CifarSettings(
        n_train=512, n_test=256, pool=4, epochs=12, stage=3, b0=16, seeds=(0, 1, 2, 3, 4)
    ),  # fmt: skip
    "paper": ac.CifarSettings(
        n_train=50000,
        n_test=10000,
        pool=1,
        epochs=200,
        stage=40,
        b0=8,
        seeds=(0, 1, 2),
        arch="resnet18",
        eta_cap=0.5,
    ),  # fmt: skip
}
PROBLEMS = (*sim.PROBLEMS, ac.PROBLEM)


def targets(s: AccelSettings) -> dict[str, float]:
    """ε per problem: half of (i)'s stationary floor at (η0, b0) (module doc)."""
    probs = sim.problems(s.sim_settings())
    return {p: 0.5 * fa.stationary_floor(q, s.eta0_L / q.L, s.b0) for p, q in probs.items()}


def simulate(s: AccelSettings, eps: dict, seed0: int = 0, progress=None):
    """(frame, traces): one row per run (columns of :func:`._ui25_accel_analysis.units`),
    and the seed-``s.seeds[0]`` records for the figure."""
    import pandas as pd

    probs = sim.problems(s.sim_settings())
    jobs = [(p, "", n, seed) for p in probs for n in ("(i) constant", "(i) cosine")
            for seed in s.seeds]  # fmt: skip
    jobs += [(p, pr, n, seed) for p in probs for pr in s.pairs
             for n in ("(ii) cosine", *aa.ACCEL) for seed in s.seeds]  # fmt: skip
    rows, traces = [], {}
    for p, pr, name, seed in jobs if progress is None else progress(jobs, desc="ui25-accel"):
        q = probs[p]
        ss = s.sim_settings(*pr) if pr else s.sim_settings()
        ex = sim.schedulers(ss, q.L, s.eta0_L)[name].expand(s.n_data, s.epochs)
        r = fa.run(q, ex, chains=s.chains, seed=seed0 + seed, record_every=s.record_every)
        st, sm, ok = aa.time_to_target(r.steps, r.samples, r.grad_sq, eps[p])
        lab = aa.pair_label(*pr) if pr else ""
        rows.append(dict(problem=p, pair=lab, scheduler=name, seed=seed, steps=st, samples=sm,
                         reached=ok, run_steps=float(r.steps[-1]),
                         run_samples=float(r.samples[-1]), diverged=r.diverged))  # fmt: skip
        if seed == s.seeds[0]:
            traces[p, lab, name] = r
    return pd.DataFrame(rows), traces


def machinery_units(s: AccelSettings, frame, seed: int) -> dict:
    """The noise-free quadratic's time to ε against exact gradient descent, and E·N."""
    from ..simulate.schedulers import noise_free_trajectory
    from ..theory.ui25_problems import noisy_quadratic

    nf = noisy_quadratic(n_samples=1)
    ex = sim.schedulers(s.sim_settings(), nf.L, s.eta0_L)["(iii)"].expand(s.n_data, s.epochs)
    r = fa.run(nf, ex, chains=2, seed=seed, record_every=1)
    exact, _ = noise_free_trajectory(nf.values, nf.theta0, ex.lr, 1e8)
    eps = float(np.sqrt(exact[0] * exact[-1]))  # reached mid-run: the GD path decreases
    got, _, _ = aa.time_to_target(r.steps, r.samples, r.grad_sq, eps)
    want = float(np.flatnonzero(exact <= eps)[0])
    return {
        "target-time-exact": [abs(got - want)],
        "samples-processed": [
            float(np.max(np.abs(frame["run_samples"] / (s.epochs * s.n_data) - 1)))
        ],
    }


def run_cifar(ctx, pairs):
    """The CIFAR-10 grid through the sweeps store: (frame, target, late level F, machinery
    data, seed-``seeds[0]`` traces for the figure, the target sensitivity rows)."""
    from types import SimpleNamespace

    from ..sweeps import Store
    from ..sweeps.executors import default_workers
    from ._grid import run_grid
    from .ui25_cifar import ENSEMBLE

    c = CIFAR[ctx.scale]
    sp = ac.spec(c, pairs, "" if ctx.data_dir is None else str(ctx.data_dir), ctx.device)
    workers = min(default_workers(), len(c.seeds) * (2 + 3 * len(pairs)))
    df, _ = run_grid(ctx, [sp], workers=workers, failed="raise", ensemble=[ENSEMBLE])
    with Store(ctx.out_dir / "study.sqlite") as st:
        cv = st.curves_frame(sweep=sp["name"])
    curves = ac.curves_by_key(cv[cv["key"].isin(df["key"])])
    late = ac.late_level(df, curves)
    eps = c.fraction * late["level"]
    frame = ac.frame(df, curves, eps, c)
    mach = ac.machinery_units(df, curves, c)
    traces = {}
    for _, r in df[(df["seed"] == c.seeds[0]) & (df["status"] == "done")].iterrows():
        name = ac.NAMES[r["scheduler"]]
        lab = "" if name.startswith("(i)") else aa.pair_label(r["delta"], r["gamma"])
        (xs, g), (xm, _) = curves[r["key"]]["step"], curves[r["key"]]["samples"]
        traces[ac.PROBLEM, lab, name] = SimpleNamespace(steps=xs, samples=xm, grad_sq=g)
    sens = ac.sensitivity(df, curves, late["level"], c, pairs)
    return frame, eps, late, mach, traces, sens


@claim("ui25-acceleration")
def run_acceleration(ctx):
    import pandas as pd

    s = SETTINGS[ctx.scale]
    eps = targets(s)
    frame, traces = simulate(s, eps, ctx.seed, progress=ctx.tqdm)
    mach_data = machinery_units(s, frame, ctx.seed)
    c_frame, eps[ac.PROBLEM], late, c_mach, c_traces, sens = run_cifar(ctx, s.pairs)
    mach_data.update(c_mach)
    frame = pd.concat([frame, c_frame], ignore_index=True)
    traces.update(c_traces)
    mach = evaluate(aa.machinery_criteria() + ac.machinery_criteria(), mach_data)
    data = aa.units(frame, s.pairs, PROBLEMS)
    censored = aa.censored_seeds(frame, s.pairs, PROBLEMS)
    head = evaluate(aa.criteria(s.pairs, PROBLEMS), data)
    judged = mach if ctx.scale == "smoke" else mach + head
    metrics = {f"target_{p}": float(e) for p, e in eps.items()}
    metrics["cifar10_late_level_i_constant"] = late["level"]
    metrics["cifar10_late_scatter_i_constant"] = late["scatter"]
    for k, v in data.items():
        metrics[f"log_ratio {k}"] = float(np.mean(v))
        metrics[f"censored_seeds {k}"] = float(censored[k])
    metrics["censored_runs"] = float((~frame["reached"]).sum())
    metrics["diverged_runs"] = float(frame["diverged"].sum())
    _figure(ctx, s, data, traces, eps)
    dec = list(head)
    how = "reported, not judged at smoke" if ctx.scale == "smoke" else "judged"

    def count(p):
        js = [j for j in dec if j.name.endswith(f" {p}")]
        sup = sum(j.decision == "supported" for j in js)
        con = sum(j.decision == "contradicted" for j in js)
        mean = {
            (x, clock): np.mean(
                [
                    metrics[f"log_ratio faster-{clock} {x} {aa.pair_label(*pr)} {p}"]
                    for pr in s.pairs
                ]
            )  # fmt: skip
            for x in aa.ACCEL
            for clock in aa.CLOCKS
        }
        return f"{p}: {sup}✓ {con}✗ of {len(js)}, mean log-ratio over pairs " + ", ".join(
            f"{x} per {c} {v:+.2f}" for (x, c), v in mean.items()
        )

    summary = (
        f"machinery: {sum(j.decision == 'supported' for j in mach)} of {len(mach)} checks "
        f"supported; headline ({how}; < 0 means (iii)/(iv) reach the target sooner than the "
        "best of (i)/(ii)): " + "; ".join(count(p) for p in PROBLEMS)
    )
    for r in sens:
        for clock in aa.CLOCKS:
            metrics[f"sensitivity {r['fraction']:g}F {clock} {r['scheduler']} {r['pair']}"] = r[
                clock
            ]
    details = _details(s, frame, eps, late, head, censored, ctx.scale) + _sensitivity_text(sens)
    return ClaimResult(summary=summary, criteria=judged, metrics=metrics, details=details)


def _details(s, frame, eps, late, head, censored, scale) -> str:
    c = CIFAR[scale]
    rows = [
        "| problem | (δ, γ) | scheduler | steps to ε (seed mean) | samples to ε (seed mean) | "
        "reached ε (seeds) | run steps |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (p, lab, n), g in frame.groupby(["problem", "pair", "scheduler"], sort=False):
        rows.append(f"| {p} | {lab or 'any'} | {n} | {g['steps'].mean():.0f} | "
                    f"{g['samples'].mean():.0f} | {int(g['reached'].sum())}/{len(g)} | "
                    f"{g['run_steps'].iloc[0]:.0f} |")  # fmt: skip
    head_title = (
        "Headline criteria at smoke scale (reported only: smoke checks the machinery):"
        if scale == "smoke"
        else "Headline criteria (also in the criteria table above):"
    )
    cens = [f"{k}: {v}" for k, v in censored.items() if v]
    targ = ", ".join(f"{p}: ε = {e:.4g}" for p, e in eps.items())
    return (
        f"Synthetic: {len(s.seeds)} seeds × {s.chains} chains; N = {s.n_data}, {s.epochs} "
        f"epochs in stages of {s.stage}; η0·L = {s.eta0_L:g}, b0 = {s.b0}; records every "
        f"{s.record_every} steps; target = half of (i)'s stationary floor at (η0, b0) "
        f"(derived).  CIFAR-10: {len(c.seeds)} seeds; {c.arch} (width {c.width}, batch "
        f"norm) on N = {c.n_train} images pooled ×{c.pool}; {c.epochs} epochs in stages of "
        f"{c.stage}; η0 = {c.eta0:g}, b0 = {c.b0}, η cap (iii) {c.eta_cap:g}, warm-up (iv) "
        f"{c.warmup} stages; ‖∇f‖ over the training set after every epoch; target = "
        f"{c.fraction:g} × the late level of (i) at constant η, F = {late['level']:.4g} "
        f"(mean ‖∇f‖² over its second half of epochs, mean over seeds; per seed "
        + ", ".join(f"{v:.3g}" for v in late["seeds"].values())
        + f"; epoch-to-epoch coefficient of variation of those late values "
        f"{late['scatter']:.2f}).  Targets: {targ}.\n\n"
        "Censoring: a run that never reaches ε has a cost known only to exceed its run.  Each "
        "seed's log-ratio is then the point of its known interval nearest 0 (a bound when the "
        "ordering is known, 0 when it is not), so censoring never creates evidence either "
        "way.  Seeds with a bound or 0 in place of the exact value: "
        + ("; ".join(cens) if cens else "none")
        + ".  Costs in the table are to ε, or to the end of the run when censored.\n\n"
        + "\n".join(rows)
        + f"\n\n{head_title}\n\n"
        + criteria_table(head)
    )


def _sensitivity_text(sens) -> str:
    rows = [
        "\n\nCIFAR-10, reported and not judged: the same log-ratios (seed means) at other "
        "targets ε = f·F (the judged target is stated before any run; this shows how the "
        "answer depends on the level asked for).  reached: share of seeds.\n",
        "| f | ε | (δ, γ) | X | per step | per sample | censored seeds (step, sample) | "
        "X reached | (ii) reached |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in sens:
        rows.append(
            f"| {r['fraction']:g} | {r['eps']:.3g} | {r['pair']} | {r['scheduler']} | "
            f"{r['steps']:+.2f} | {r['samples']:+.2f} | {r['censored_steps']}, "
            f"{r['censored_samples']} | {r['reached_x']:.2f} | {r['reached_ii']:.2f} |"
        )
    return "\n".join(rows)


def _figure(ctx, s, data, traces, eps):
    from matplotlib.figure import Figure

    from ._plots import log_axis, seeds_mean_ci

    fig = Figure(figsize=(14, 4 * len(PROBLEMS)), layout="constrained")
    axes = fig.subplots(len(PROBLEMS), 3)
    lab0 = aa.pair_label(*s.pairs[-1])
    for row, p in enumerate(PROBLEMS):
        ax_t, ax_s, ax_c = axes[row]
        for i, name in enumerate(("(i) constant", "(i) cosine", "(ii) cosine", *aa.ACCEL)):
            r = traces.get((p, "" if name.startswith("(i)") else lab0, name))
            if r is None:  # a diverged run has no curve
                continue
            for ax, x in ((ax_t, r.steps), (ax_s, r.samples)):
                ax.plot(np.maximum(x, 1), r.grad_sq, color=f"C{i}", lw=1, label=name)
        for ax, what in ((ax_t, "steps"), (ax_s, "samples processed")):
            ax.axhline(eps[p], color="k", ls="--", lw=0.8, label="target ε")
            log_axis(ax, "both")
            ax.set(xlabel=what, ylabel="‖∇f‖² (chain mean; CIFAR: one net), seed 0",
                   title=f"{p}, {lab0}")  # fmt: skip
        ax_t.legend(fontsize=7)
        x = 0
        for j, clock in enumerate(aa.CLOCKS):
            for xname in aa.ACCEL:
                vals = [data[f"faster-{clock} {xname} {aa.pair_label(*pr)} {p}"] for pr in s.pairs]
                seeds_mean_ci(ax_c, np.arange(len(s.pairs)) + x * 0.15, vals,
                              label=f"{xname} per {clock}", color=f"C{3 + x}",
                              marker="os"[j])  # fmt: skip
                x += 1
        ax_c.axhline(0, color="k", lw=0.6)
        ax_c.axhline(-np.log(2), color="gray", ls=":", lw=0.8, label="factor 2 faster")
        ax_c.set_xticks(np.arange(len(s.pairs)) + 0.2, [aa.pair_label(*pr) for pr in s.pairs])
        ax_c.set(ylabel="log cost(X) − log min cost (i), (ii)", title=f"{p}: < 0 is faster")
        ax_c.legend(fontsize=6)
    ctx.savefig(fig, "ui25_acceleration")
