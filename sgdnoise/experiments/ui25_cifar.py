"""UI25 `ui25-cifar`: the four batch-size / learning-rate schedulers on a ResNet with
CIFAR-10 — full-gradient norm per epoch, per step and per sample processed; test accuracy.

Umeda & Iiduka, TMLR 2025 (arXiv 2409.08770); DESIGN.md §4.4.  Plain SGD (no momentum, no
weight decay, no augmentation) under (i) constant b with a cosine-decaying η, (ii) b ×δ per
stage with cosine η, (iii) b ×δ and η ×γ per stage (γ² < δ, η capped), (iv) b ×δ per stage
with η warmed up ×γ per stage then cosine-decayed (:mod:`sgdnoise.theory.schedules`).  After
every epoch, ‖∇f(θ)‖ over the whole training set (:func:`sgdnoise.nets.full_gradient_norm`,
batch norm in train mode in chunks of that epoch's batch size).

UI25's statement: increasing batch sizes reach a small full-gradient norm in fewer steps, and
(iii)/(iv) (increasing b *and* η) do best.  Criteria: ε = the largest of all runs' smallest
norms (a level every run reaches); (a) per seed, steps to ‖∇f‖ ≤ ε of (i) minus the fewest
of (ii)–(iv) — seed-paired 95% t interval above 0; (b) the smallest norm reached, best of
(iii)/(iv) minus best of (i)/(ii) — interval below 0.  Smoke (tiny ResNet, 8×8-pooled images)
checks the machinery: the steps taken equal Σ_e ⌈N/b_e⌉ of the schedule (an independent
count), every norm finite, and every scheduler lowered the norm below its initial value;
(a) and (b) are reported there, judged at cpu/paper scale.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ._netdata import pooled_dataset
from .registry import ClaimResult, claim

FUNCTION = "sgdnoise.experiments.ui25_cifar:ui25_cifar_run"
SCHEDULERS = ("i", "ii", "iii", "iv")
LABEL = {
    "i": "(i) const b, cosine η",
    "ii": "(ii) b×δ, cosine η",
    "iii": "(iii) b×δ, η×γ",
    "iv": "(iv) b×δ, warm-up+cosine",
}

# The schedulers' settings (γ² < δ for (iii); η capped below the stability limit).  The
# paper-scale numbers follow UI25's ResNet-18 / CIFAR-10 set-up as described in DESIGN.md
# (b0 = 8 doubling each stage); the exact constants of the paper were not available here.
SETTINGS = {
    "smoke": dict(
        n_train=256,
        n_test=256,
        pool=4,
        arch="resnet-small",
        width=1,
        epochs=8,
        stage=2,
        eta0=0.1,
        b0=8,
        delta=2.0,
        gamma=1.3,
        eta_cap=0.4,
        warmup=2,
        seeds=[0, 1],
    ),
    "cpu": dict(
        n_train=2048,
        n_test=1017,
        pool=2,
        arch="resnet-small",
        width=1,
        epochs=24,
        stage=4,
        eta0=0.1,
        b0=16,
        delta=2.0,
        gamma=1.3,
        eta_cap=0.4,
        warmup=2,
        seeds=[0, 1, 2],
    ),
    "paper": dict(
        n_train=50000,
        n_test=10000,
        pool=1,
        arch="resnet18",
        width=1,
        epochs=200,
        stage=40,
        eta0=0.1,
        b0=8,
        delta=2.0,
        gamma=1.3,
        eta_cap=0.5,
        warmup=2,
        seeds=[0, 1, 2],
    ),
}


def make_schedule(name, eta0, b0, delta, gamma, eta_cap, warmup, stage):
    """The UI25 scheduler ``name`` ∈ {i, ii, iii, iv} with these constants."""
    from ..theory import schedules as S

    if name == "i":
        return S.scheduler_i("cosine", eta0, b0)
    if name == "ii":
        return S.scheduler_ii("cosine", eta0, b0, delta, stage)
    if name == "iii":
        return S.scheduler_iii(eta0, gamma, b0, delta, stage, eta_cap=eta_cap)
    return S.scheduler_iv(eta0, gamma, warmup, "cosine", b0, delta, stage)


def ui25_cifar_run(
    *,
    scheduler,
    n_train,
    n_test,
    pool,
    arch,
    width,
    epochs,
    stage,
    eta0,
    b0,
    delta,
    gamma,
    eta_cap,
    warmup,
    seed,
    data_dir="",
    threads=1,
    device="cpu",
) -> dict:
    """One scheduler, one seed: plain SGD for ``epochs`` epochs; the full-gradient norm
    before training and after every epoch (curves against epoch, step and samples)."""
    import torch

    from ..nets import full_gradient_norm, make_model, train
    from ..validation import choice

    choice("scheduler", scheduler, SCHEDULERS)
    torch.set_num_threads(threads)
    d = pooled_dataset("cifar10", n_train, n_test, pool, data_dir, device)
    sch = make_schedule(scheduler, eta0, b0, delta, gamma, eta_cap, warmup, stage)
    plan = sch.expand(d.n_train, epochs)
    net = make_model(
        arch,
        input_shape=d.input_shape,
        num_outputs=d.num_classes,
        width=width,
        batch_norm=True,
        seed=seed,
        device=d.x_train.device,
    )
    x, y = d.x_train, d.y_train
    norms = [full_gradient_norm(net, x, y, chunk_size=int(plan.batch_size[0]))]
    steps, epochs_seen = [0], [0]

    def measure(model, rec):
        norms.append(full_gradient_norm(model, x, y, chunk_size=int(rec["batch_size"])))
        steps.append(rec["step"])
        epochs_seen.append(rec["epoch"])

    r = train(net, d, schedule=sch, epochs=epochs, seed=seed, callback=measure)
    if r.diverged:
        return {"status": "diverged", "steps": float(r.steps)}
    ep = np.asarray(epochs_seen, float)
    samples = ep * d.n_train  # epoch sampling: every epoch processes each example once
    g = np.asarray(norms, float)
    return {
        "grad_norm_initial": float(g[0]),
        "grad_norm_final": float(g[-1]),
        "grad_norm_min": float(g.min()),
        "test_accuracy": float(r.final["test_accuracy"]),
        "train_accuracy": float(r.final["train_accuracy"]),
        "steps": float(r.steps),
        "steps_planned": float(plan.n_steps),
        "epochs": float(r.epochs),
        "train_seconds": float(r.seconds),
        "curves": {
            "grad_norm_epoch": {"x": ep.tolist(), "y": g.tolist()},
            "grad_norm_step": {"x": [float(s) for s in steps], "y": g.tolist()},
            "grad_norm_samples": {"x": samples.tolist(), "y": g.tolist()},
        },
    }


def _steps_to(curve, eps: float) -> float:
    """The first x at which y ≤ eps (inf when never)."""
    hit = np.nonzero(curve["y"].to_numpy() <= eps)[0]
    return float(curve["x"].to_numpy()[hit[0]]) if len(hit) else math.inf


@claim(
    "ui25-cifar",
    paper="UI25",
    statement="on a ResNet with CIFAR-10, increasing batch sizes reach small full-gradient "
    "norms in fewer steps; schedulers (iii)/(iv) do best",
)
def run(ctx):
    from matplotlib.figure import Figure

    from ..stats import paired_difference
    from ..sweeps import Store, run_sweep
    from ..sweeps.executors import default_workers

    s = dict(SETTINGS[ctx.scale])
    seeds = s.pop("seeds")
    spec = {
        "name": "ui25-cifar",
        "description": "UI25 schedulers (i)-(iv) on a ResNet with CIFAR-10",
        "function": FUNCTION,
        "fixed": dict(s, data_dir="" if ctx.data_dir is None else str(ctx.data_dir)),
        "product": {"scheduler": list(SCHEDULERS), "seed": seeds},
    }
    if ctx.device != "cpu":  # cpu is the default: keeps the smoke/cpu run keys stable
        spec["fixed"]["device"] = ctx.device
    store = Path(ctx.out_dir) / "study.sqlite"
    workers = min(default_workers(), len(SCHEDULERS) * len(seeds))
    run_sweep(spec, store, executor="local", workers=workers, progress=ctx.progress)
    with Store(store) as st:
        df = st.to_frame(sweep="ui25-cifar")
        cv = st.curves_frame(sweep="ui25-cifar")
    done = df[df["status"] == "done"]
    metrics = {"runs": float(len(df)), "runs_done": float(len(done))}
    # machinery: an independent count of the schedule's steps; finite norms; norms fell
    count_ok = bool(len(done)) and bool((done["steps"] == done["steps_planned"]).all())
    finite_ok = bool(np.isfinite(cv["y"]).all()) and len(cv) > 0
    fell = bool((done["grad_norm_min"] < done["grad_norm_initial"]).all())
    machinery = len(done) == len(df) and count_ok and finite_ok and fell
    metrics.update(
        step_count_matches=float(count_ok),
        norms_finite=float(finite_ok),
        all_norms_fell=float(fell),
    )
    eps = float(done["grad_norm_min"].max()) if len(done) else math.nan
    metrics["epsilon"] = eps
    per = {}  # (scheduler, seed) -> steps / samples / epochs to eps
    for (sch, sd), sub in cv.groupby(["scheduler", "seed"]):
        per[sch, sd] = {
            k: _steps_to(sub[sub["name"] == f"grad_norm_{k}"], eps)
            for k in ("step", "samples", "epoch")
        }
    rows = []
    for sch in SCHEDULERS:
        sub = done[done["scheduler"] == sch]
        st_ = [per[sch, sd]["step"] for sd in seeds if (sch, sd) in per]
        sa_ = [per[sch, sd]["samples"] for sd in seeds if (sch, sd) in per]
        metrics[f"steps_to_eps_{sch}"] = float(np.mean(st_)) if st_ else math.nan
        metrics[f"samples_to_eps_{sch}"] = float(np.mean(sa_)) if sa_ else math.nan
        metrics[f"grad_norm_min_{sch}"] = float(sub["grad_norm_min"].mean())
        metrics[f"test_accuracy_{sch}"] = float(sub["test_accuracy"].mean())
        metrics[f"steps_total_{sch}"] = float(sub["steps"].mean())
        rows.append(
            f"| {LABEL[sch]} | {sub['steps'].mean():.0f} | {metrics[f'steps_to_eps_{sch}']:.0f} | "
            f"{metrics[f'samples_to_eps_{sch}']:.0f} | {sub['grad_norm_min'].mean():.4g} ± "
            f"{sub['grad_norm_min'].std(ddof=1) if len(sub) > 1 else 0:.2g} | "
            f"{sub['test_accuracy'].mean():.4f} |"
        )
    common = [sd for sd in seeds if all((k, sd) in per for k in SCHEDULERS)]
    a = paired_difference(
        [per["i", sd]["step"] for sd in common],
        [min(per[k, sd]["step"] for k in ("ii", "iii", "iv")) for sd in common],
    )
    mins = done.pivot_table(index="seed", columns="scheduler", values="grad_norm_min").loc[common]
    b = paired_difference(
        mins[["iii", "iv"]].min(axis=1).to_numpy(), mins[["i", "ii"]].min(axis=1).to_numpy()
    )
    metrics.update(
        steps_saved_by_growing_b=a.mean,
        steps_saved_ci_low=a.ci_low,
        best_iii_iv_minus_best_i_ii=b.mean,
        best_iii_iv_ci_high=b.ci_high,
    )
    part_a = True if a.positive else (False if a.negative else None)
    part_b = True if b.negative else (False if b.positive else None)
    if ctx.scale == "smoke":
        verdict = "agree" if machinery else "disagree"
        reason = "smoke checks the machinery (step count, finite norms, norms fell)"
    elif not machinery:
        verdict, reason = "inconclusive", "some runs failed or a machinery check failed"
    elif part_a is False or part_b is False:
        verdict, reason = "disagree", "a part of the statement is contradicted by the seed CI"
    elif part_a and part_b:
        verdict, reason = "agree", "both parts supported by the seed CI"
    else:
        verdict, reason = "inconclusive", "a part is undecided within the seed spread"

    fig = Figure(figsize=(11, 3.4))
    axes = fig.subplots(1, 3)
    for i, sch in enumerate(SCHEDULERS):
        sub = cv[cv["scheduler"] == sch]
        for ax, k, xl in zip(
            axes, ("epoch", "step", "samples"), ("epoch", "SGD steps", "samples processed")
        ):
            c = sub[sub["name"] == f"grad_norm_{k}"]
            m = c.groupby("x")["y"].mean()
            ax.semilogy(m.index, m.values, "-o", ms=2, color=f"C{i}", label=LABEL[sch])
            ax.set_xlabel(xl)
    for ax in axes:
        ax.axhline(eps, color="k", ls=":", lw=0.8)
    axes[0].set_ylabel("full-gradient norm ‖∇f‖")
    axes[0].legend(fontsize=7)
    fig.suptitle("UI25 schedulers on a ResNet, CIFAR-10 (seed means; dotted: ε)")
    ctx.savefig(fig, "ui25_cifar")

    details = (
        "| scheduler | steps | steps to ε | samples to ε | min ‖∇f‖ (mean ± sd) | test acc |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        + "\n".join(rows)
        + f"\n\nε = {eps:.4g} (the largest of all runs' smallest norms).  (a) steps to ε of (i) "
        f"minus the fewest of (ii)–(iv): {a.mean:.1f} [{a.ci_low:.1f}, {a.ci_high:.1f}]; (b) best "
        f"min-norm of (iii)/(iv) minus best of (i)/(ii): {b.mean:+.3g} [{b.ci_low:+.3g}, "
        f"{b.ci_high:+.3g}] (95% seed-paired t intervals, {len(common)} seeds).  Verdict rule: "
        f"{reason}."
    )
    best = min(SCHEDULERS, key=lambda k: metrics[f"grad_norm_min_{k}"])
    summary = (
        f"Growing batches reached ‖∇f‖ ≤ {eps:.3g} in {a.mean:.0f} fewer steps than (i) "
        "on average; "
        f"smallest norm by {LABEL[best]} ({ctx.scale} scale)."
    )
    return ClaimResult(verdict=verdict, summary=summary, metrics=metrics, details=details)
