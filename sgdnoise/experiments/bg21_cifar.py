"""BG21 `bg21-cifar`: on CIFAR-10, SGD runs with equal temperature T = η/B reach equal test
loss, and the test loss falls as T rises (Bradley & Gomez-Uribe 2021, abstract and §5;
DESIGN.md §4.1).

In the SDE limit SGD is ``dθ = −∇L dt + sqrt(T) Σ^{1/2} dW`` with ``T = η/B``: runs with the
same T and the same SDE time ``t = T·N·epochs`` sample the same law whatever the split of T
into η and B.  The grid is temperatures × batch sizes × seeds (η = T·B, a fixed number of
epochs, so t is equal along each equal-T line; worker: :mod:`._bg21_cifar_worker`), run
through :func:`._grid.run_grid`.  Each run's late test loss is scored on the real CIFAR-10
test images (sampling shift) and on the same images under the pixel transform
:data:`sgdnoise.nets.shifts.DOMAIN_SHIFT` (domain shift).

Criteria (:mod:`._bg21_cifar_analysis`, judged by :mod:`.criteria` with Bonferroni α/k):

* cpu / paper — per T, **equal T gives equal test loss**: TOST on the seed-paired change
  across the batch range, margin ¼ of the change that moving T by the same factor makes on
  the same grid; **higher T lowers the test loss**, sampling and domain shift: one-sided t
  on the per-seed change across the T range (seed-paired), power at a 0.1-nat fall.
  Across T the SDE time t = T·N·epochs grows with T too (epochs are fixed so that the
  equal-T comparison holds t fixed): the direction judges T and training time together,
  as the grid measures them.
* smoke — machinery checks (runs finished; the equal-T change small against the T change;
  the domain shift applied), each shown to fail on a broken ingredient in the tests.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from . import _bg21_cifar_analysis as an
from . import _bg21_cifar_shift_analysis as sa
from . import _bg21_cifar_shift_report as rep
from ._bg21_cifar_worker import ENSEMBLE, FUNCTION
from ._grid import run_grid
from .criteria import evaluate
from .registry import ClaimResult, claim


@dataclass(frozen=True)
class Settings:
    """One scale's grid: data, net, training, and the T × B × seeds product."""

    n_train: int  # 0 = the whole training set
    n_test: int
    image_size: int
    arch: str
    width: int
    depth: int
    batch_norm: bool
    epochs: int
    temperatures: tuple[float, ...]
    batches: tuple[int, ...]
    seeds: int
    workers: int
    machinery: bool = False  # smoke: machinery criteria only (DESIGN.md §5)
    late_fraction: float = 0.25
    threads: int = 1
    # the shift decomposition (runs at the smallest batch size): cold fine-tunes at
    # temperature shift_T (below the grid's), batch shift_batch (η = shift_T·shift_batch at
    # most the grid's smallest η, so stable wherever the grid was) for SDE time shift_time
    shift_T: float = 1e-4
    shift_batch: int = 32
    shift_time: float = 2.0


SETTINGS = {
    "smoke": Settings(
        n_train=512, n_test=512, image_size=8, arch="mlp", width=128, depth=2,
        batch_norm=False, epochs=8, temperatures=(5e-4, 2e-3, 8e-3), batches=(8, 32),
        seeds=3, workers=2, machinery=True, shift_T=2.5e-4, shift_batch=16, shift_time=1.0,
    ),
    # Sized from the last cpu grids (2026-11/12): per-seed sd of the equal-T change ≈
    # 0.01–0.03 at T ≤ 1e-3 and ≈ 0.12 at 4e-3, T change ≈ 0.68 per factor 4 (margin ≈
    # 0.17); the direction across T has seed sd ≈ 0.09.  With the shift decomposition
    # (k = 11 criteria, α/k ≈ 0.0045) 5 seeds left the sampling-shift direction undecided by
    # design (power 0.39 at the 0.1-nat effect: t(4) at α/k is 5.6) and the hottest
    # equivalence without power (measured 2026-12-02); 10 seeds restore both.  Cost: 36.5
    # CPU-s per run at B = 16 (with the decomposition), ≈ 15 at B = 64: 60 runs ≈ 17 CPU-min,
    # ≈ 9 min on two free cores.  The middle batch size is dropped: a slope over three
    # equally spaced ln B has the variance of the two-end difference.
    "cpu": Settings(
        n_train=4096, n_test=1000, image_size=16, arch="mlp", width=512, depth=2,
        batch_norm=False, epochs=20, temperatures=(2.5e-4, 1e-3, 4e-3), batches=(16, 64),
        seeds=10, workers=2, shift_time=1.0,
    ),
    "paper": Settings(
        n_train=0, n_test=0, image_size=32, arch="resnet-small", width=4, depth=2,
        batch_norm=True, epochs=100, temperatures=(1.25e-4, 2.5e-4, 5e-4, 1e-3, 2e-3),
        batches=(32, 64, 128, 256), seeds=10, workers=1, late_fraction=0.1, threads=4,
        shift_T=5e-5,
    ),
}  # fmt: skip


def specs(ctx, s: Settings, data_dir: str) -> list[dict]:
    """The sweep specs of scale ``s`` (data seed = ``ctx.seed``; init seeds from it): the
    smallest batch size with the shift decomposition, then the other batch sizes."""
    from ..nets.shifts import DOMAIN_SHIFT

    fixed = {
        k: v
        for k, v in asdict(s).items()
        if k not in ("temperatures", "batches", "seeds", "workers", "machinery")
    }
    fixed.update(DOMAIN_SHIFT, dataset_name="cifar10", data_dir=data_dir,
                 data_seed=int(ctx.seed), device=ctx.device)  # fmt: skip
    bs = sorted(int(b) for b in s.batches)
    out = []
    for name, batches, shift in (("bg21-cifar-shift", bs[:1], True), ("bg21-cifar", bs[1:], False)):
        out.append({
            "name": name,
            "description": "BG21: constant SGD over temperature x batch x seeds, fixed epochs"
            + ("; shift decomposition by cold fine-tunes" if shift else ""),
            "function": FUNCTION,
            "fixed": dict(fixed, shift=shift),
            "product": {
                "T": [float(t) for t in s.temperatures],
                "batch": batches,
                "seed": [int(ctx.seed) + i for i in range(s.seeds)],
            },
        })  # fmt: skip
    return out


def _fmt_ci(v) -> str:
    from ._plots import mean_ci

    m, lo, hi = mean_ci(v)
    return "—" if not math.isfinite(m) else f"{m:.4f} [{lo:.4f}, {hi:.4f}] (n={len(v)})"


def _details(df, margin: float) -> str:
    from ..nets.shifts import DOMAIN_SHIFT

    rows = [
        "| T | B | η | test loss, sampling shift | test loss, domain shift | diverged |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for (T, b), g in df.groupby(["T", "batch"]):
        cell = {c: an.finished(g, c)[c].to_numpy(float) for c in an.LOSSES}
        rows.append(
            f"| {T:g} | {b} | {T * b:g} | {_fmt_ci(cell['test_loss'])} | "
            f"{_fmt_ci(cell['domain_loss'])} | {int((g['status'] == 'diverged').sum())} |"
        )
    eq = {c: an.equal_T_changes(df, c) for c in an.LOSSES}
    erows = [
        "| T | equal-T change, sampling shift | equal-T change, domain shift |",
        "| --- | --- | --- |",
    ]
    for T in eq["test_loss"]:
        erows.append(f"| {T:g} | {_fmt_ci(eq['test_loss'][T])} | {_fmt_ci(eq['domain_loss'][T])} |")
    crow = [
        "| test set | change across the T range | change per factor B_max/B_min in T |",
        "| --- | --- | --- |",
    ]
    for c, where in an.LOSSES.items():
        crow.append(f"| {where} | {_fmt_ci(an.T_changes(df, c))} | {an.margin_scale(df, c):.4f} |")
    pen = df.assign(penalty=df["domain_loss"] - df["test_loss"]).dropna(subset="penalty")
    pen = pen.groupby(["T", "seed"])["penalty"].mean()  # per seed: the mean over B
    prow = ["| T | domain − sampling test loss |", "| --- | --- |"]
    prow += [f"| {T:g} | {_fmt_ci(pen.loc[T].to_numpy(float))} |" for T in pen.index.levels[0]]
    return (
        "Each run: constant SGD at η = T·B for a fixed number of epochs (the SDE time "
        "t = T·N·epochs is equal along each equal-T line; across T it grows with T).  "
        f"Domain shift: {DOMAIN_SHIFT} in pixel space (sgdnoise.nets.shifts).  Values: seed "
        "mean [95% t interval] (n seeds).  Equal-T change: per seed, the change of the test "
        "loss across the batch range at fixed T (least-squares line in ln B); equivalence "
        f"margin ±{margin:.4g} (sampling shift; the domain-shift column is reported, not "
        "judged).  Change across the T range: per seed, the least-squares line of the "
        "batch-mean test loss in ln T.\n\n" + "\n".join(rows) + "\n\n" + "\n".join(erows)
        + "\n\n" + "\n".join(crow) + "\n\nDomain-shift penalty (reported, not judged):\n\n"
        + "\n".join(prow)
    )  # fmt: skip


def _figures(ctx, df) -> None:
    from matplotlib.figure import Figure

    from ._plots import log_axis, seeds_mean_ci

    Ts = sorted(float(t) for t in df["T"].unique())
    bs = sorted(int(b) for b in df["batch"].unique())
    fig = Figure(figsize=(13.5, 3.9), layout="constrained")
    axes = fig.subplots(1, 3)
    d = df.assign(penalty=df["domain_loss"] - df["test_loss"])
    panels = [
        ("test_loss", "test loss (sampling shift)"),
        ("domain_loss", "test loss (domain shift)"),
        ("penalty", "domain − sampling test loss"),
    ]
    for ax, (col, title) in zip(axes, panels, strict=True):
        for i, b in enumerate(bs):
            g = d[(d["batch"] == b) & np.isfinite(d[col].astype(float))]
            x = [T * 1.06 ** (i - (len(bs) - 1) / 2) for T in Ts]  # side by side
            vals = [g[g["T"] == T][col].to_numpy(float) for T in Ts]
            seeds_mean_ci(ax, x, vals, label=f"B = {b}")
        log_axis(ax, "x", ticks=Ts)
        ax.set(xlabel="temperature T = η/B", ylabel=f"late {title}", title=title)
        ax.legend(fontsize=7)
    ctx.savefig(fig, "bg21_cifar_test_loss_vs_T")

    fig = Figure(figsize=(9.5, 3.9), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, (col, where) in zip(axes, an.LOSSES.items(), strict=True):
        eq = an.equal_T_changes(df, col)
        seeds_mean_ci(ax, Ts, [eq[T] for T in Ts], label=f"B {bs[0]} → {bs[-1]} at fixed T")
        m = an.FRACTION * an.margin_scale(df, col)
        judged = col == "test_loss"
        if math.isfinite(m):
            ax.axhspan(-m, m, color="tab:green" if judged else "0.6", alpha=0.15,
                       label=f"±{m:.3g} = ¼ of the change per ×{bs[-1] // bs[0]} in T"
                       + ("" if judged else " (reported)"))  # fmt: skip
        ax.axhline(0, color="black", lw=0.8)
        log_axis(ax, "x", ticks=Ts)
        ax.set(xlabel="temperature T = η/B", ylabel="equal-T change of test loss",
               title=f"equal-T change ({where})")  # fmt: skip
        ax.legend(fontsize=7)
    ctx.savefig(fig, "bg21_cifar_equal_T")


@claim(
    "bg21-cifar",
    paper="BG21",
    statement="on CIFAR-10, SGD runs with equal T = η/B reach equal test loss (within a "
    "margin set by the T effect), and a higher T lowers the test loss under sampling and "
    "domain shift",
)
def run(ctx):
    from ..nets.files import find_data_dir

    s = SETTINGS[ctx.scale]
    data_dir = str(find_data_dir(ctx.data_dir))
    df, _ = run_grid(ctx, specs(ctx, s, data_dir), workers=s.workers, ensemble=[ENSEMBLE])
    n_expected = len(s.temperatures) * len(s.batches) * s.seeds
    if s.machinery:
        crits, data = an.smoke_criteria(df, n_expected)
        more, more_data = sa.smoke_criteria(df, len(s.temperatures) * s.seeds)
    else:
        crits, data = an.paper_criteria(df)
        more, more_data = sa.paper_criteria(df)
    judged = evaluate(crits + more, data | more_data)
    margin = an.FRACTION * an.margin_scale(df, "test_loss")
    _figures(ctx, df)
    rep.figures(ctx, df)

    changes = {c: an.T_changes(df, c) for c in an.LOSSES}
    metrics = {
        "n_runs": float(len(df)),
        "n_diverged": float((df["status"] == "diverged").sum()),
        "equal_T_margin": margin,
    }
    for c, v in changes.items():
        metrics[f"{c}_change_across_T"] = float(v.mean()) if v.size else math.nan
    for T, v in an.equal_T_changes(df, "test_loss").items():
        metrics[f"equal_T_change_T_{T:g}"] = float(v.mean()) if v.size else math.nan
    shift = rep.metrics(df)
    metrics.update(shift)

    head = (
        "Smoke (machinery check on a tiny MLP, 8×8 CIFAR-10): " if s.machinery
        else f"{ctx.scale}: "
    )  # fmt: skip
    worst = max(
        (abs(v) for k, v in metrics.items() if k.startswith("equal_T_change")), default=math.nan
    )
    summary = (
        f"{head}largest equal-T change of the test loss {worst:.3g} (margin ±{margin:.3g}, ¼ "
        f"of the change per factor B_max/B_min in T); change across the T range "
        f"{metrics['test_loss_change_across_T']:+.3g} (sampling shift), "
        f"{metrics['domain_loss_change_across_T']:+.3g} (domain shift) — BG21 predict < 0.  "
        f"Shift decomposition: domain − sampling penalty "
        f"{shift['domain_minus_sampling_penalty']:+.3g}; ½sᵀHs / penalty − 1 "
        f"{shift['sampling_ratio_minus_1']:+.3g} (sampling), "
        f"{shift['domain_ratio_minus_1']:+.3g} (domain; margin ±{sa.RATIO_MARGIN:g})."
    )
    details = _details(df, margin) + "\n\n" + rep.details(df, s)
    return ClaimResult(summary=summary, criteria=judged, metrics=metrics, details=details)
