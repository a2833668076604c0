"""BG21 `bg21-cifar`: on a real network, SGD runs with equal temperature T = η/B reach equal
test loss, and the test loss depends on T (Bradley & Gomez-Uribe 2021, §5; DESIGN.md §3,
§4.1).

In the SDE limit SGD is ``dθ = −∇L dt + sqrt(T) Σ^{1/2} dW`` with ``T = η/B``: runs with the
same T and the same SDE time ``t = η·steps = T·N·epochs`` sample the same law, whatever
the split of T into η and B.  A grid of temperatures × batch sizes × seeds (η = T·B from
:func:`sgdnoise.theory.conventions.lr_from_temperature`, a fixed number of epochs so that t
is equal along each equal-T line) is run through :mod:`sgdnoise.sweeps` into
``study.sqlite``.  Each run's score is its test loss averaged over the last evaluations,
measured on two test sets:

* **sampling shift**: the real CIFAR-10 test images (a fresh sample of the training
  distribution);
* **domain shift**: the same images under the deterministic brightness/contrast change of
  :data:`sgdnoise.nets.shifts.DOMAIN_SHIFT` (contrast × 0.6, brightness + 0.15 in pixel
  space), which BG21's shift-curvature picture says is penalized by ½ sᵀHs — less at the
  flatter minima that a larger T selects.

Criteria (stated in the report): *invariance* — for every T, the largest difference between
the seed-mean test losses of two batch sizes is at most ``Z = 3`` combined standard errors
``sqrt(sem_a² + sem_b²)`` (a 3σ band, so that the handful of comparisons keep the
family-wise false-alarm rate near 1%); *resolution* — at some batch size, two temperatures
differ by more than Z combined standard errors (the test loss visibly depends on T;
otherwise the invariance check could not have failed and the verdict is inconclusive).
The shift comparison (how the domain-shift penalty moves with T) is reported with its
seed spread, not judged.

Scales: smoke — an MLP on 512 real CIFAR-10 images at 8×8, a few epochs: checks the
machinery; cpu — an MLP on the 16×16 real subset; paper — a ResNet on full CIFAR-10 (GPU).
"""

from __future__ import annotations

import math

import numpy as np

from ._netgrid import cached_data, late_mean, run_specs, set_threads
from .registry import ClaimResult, claim

FUNCTION = "sgdnoise.experiments.bg21_cifar:bg21_point"
Z = 3.0

SETTINGS = {
    "smoke": dict(
        data=dict(dataset="cifar10", n_train=512, n_test=512, image_size=8),
        net=dict(arch="mlp", width=128, depth=2, batch_norm=False),
        train=dict(epochs=8, late_fraction=0.25, threads=1),
        temperatures=[5e-4, 2e-3, 8e-3],
        batches=[8, 32],
        seeds=3,
        workers=2,
    ),
    "cpu": dict(
        data=dict(dataset="cifar10", n_train=4096, n_test=1000, image_size=16),
        net=dict(arch="mlp", width=512, depth=2, batch_norm=False),
        train=dict(epochs=20, late_fraction=0.25, threads=1),
        temperatures=[2.5e-4, 1e-3, 4e-3],
        batches=[16, 32, 64],
        seeds=3,
        workers=2,
    ),
    "paper": dict(
        data=dict(dataset="cifar10", n_train=None, n_test=None, image_size=32),
        net=dict(arch="resnet-small", width=4, depth=2, batch_norm=True),
        train=dict(epochs=100, late_fraction=0.1, threads=4),
        temperatures=[1.25e-4, 2.5e-4, 5e-4, 1e-3, 2e-3],
        batches=[32, 64, 128, 256],
        seeds=3,
        workers=1,
    ),
}


def bg21_point(
    *,
    arch: str,
    width: int,
    depth: int,
    batch_norm: bool,
    T: float,
    batch: int,
    seed: int,
    dataset: str,
    data_dir: str,
    n_train: int,
    n_test: int,
    image_size: int,
    data_seed: int,
    epochs: int,
    late_fraction: float,
    contrast: float,
    brightness: float,
    device: str,
    threads: int,
) -> dict:
    """One BG21 grid point: constant SGD at ``η = T·B`` for ``epochs`` epochs.

    Metrics: ``test_loss`` (sampling shift) and ``domain_loss`` (domain shift), each the
    mean over the last ``late_fraction`` of the per-epoch evaluations; the matching
    accuracies; ``train_loss``; ``lr``; ``diverged_step`` with status ``diverged``.
    """
    set_threads(threads)
    from ..nets import evaluate, make_model, train
    from ..theory.conventions import lr_from_temperature

    common = dict(
        dataset=dataset,
        data_dir=data_dir,
        n_train=n_train,
        n_test=n_test,
        data_seed=data_seed,
        image_size=image_size,
        device=device,
    )
    data = cached_data(**common)
    shifted = cached_data(**common, domain_shift={"contrast": contrast, "brightness": brightness})
    lr = lr_from_temperature(T, batch)
    net = make_model(
        arch,
        input_shape=data.input_shape,
        num_outputs=data.num_classes,
        width=width,
        depth=depth,
        batch_norm=batch_norm,
        seed=seed,
        device=device,
    )

    def domain(model, rec):
        d = evaluate(model, shifted.x_test, shifted.y_test)
        rec["domain_loss"], rec["domain_accuracy"] = d["loss"], d["accuracy"]

    res = train(net, data, lr=lr, batch_size=batch, epochs=epochs, seed=seed, callback=domain)
    if res.diverged:
        nan = math.nan
        return dict(
            status="diverged",
            diverged_step=float(res.diverged_step),
            lr=lr,
            test_loss=nan,
            domain_loss=nan,
            test_accuracy=nan,
            domain_accuracy=nan,
            train_loss=nan,
        )
    h = res.history
    late = lambda k: late_mean(h, k, late_fraction)
    return dict(
        lr=lr,
        test_loss=late("test_loss"),
        domain_loss=late("domain_loss"),
        test_accuracy=late("test_accuracy"),
        domain_accuracy=late("domain_accuracy"),
        train_loss=late("train_loss"),
        curves={
            "test_loss": {"x": [r["epoch"] for r in h], "y": [r["test_loss"] for r in h]},
            "domain_loss": {"x": [r["epoch"] for r in h], "y": [r["domain_loss"] for r in h]},
        },
    )


def spec(ctx, s: dict, data_dir: str) -> dict:
    from ..nets.shifts import DOMAIN_SHIFT

    fixed = {
        **s["net"],
        **{k: (0 if v is None else v) for k, v in s["data"].items()},  # 0 = the whole set
        **s["train"],
        **DOMAIN_SHIFT,
        "data_dir": data_dir,
        "data_seed": int(ctx.seed),
        "device": ctx.device,
    }
    return {
        "name": "bg21-cifar",
        "description": "BG21: constant SGD over temperature x batch x seeds, fixed epochs",
        "function": FUNCTION,
        "fixed": fixed,
        "product": {
            "T": [float(t) for t in s["temperatures"]],
            "batch": s["batches"],
            "seed": [int(ctx.seed) + i for i in range(s["seeds"])],
        },
    }


def _cell_stats(df, col: str):
    """Seed mean, sem and count of ``col`` per (T, batch); a cell with a diverged seed is NaN."""
    g = df.groupby(["T", "batch"])[col]
    out = g.agg(["mean", "std", "count"])
    out["sem"] = out["std"] / np.sqrt(out["count"])
    bad = df[col].isna().groupby([df["T"], df["batch"]]).any()
    out.loc[bad, ["mean", "sem"]] = np.nan
    return out


def invariance(df, col: str) -> dict:
    """Per T: the largest |Δ seed mean| between batch sizes in units of the combined sem;
    and the resolution: the largest difference between two temperatures at one batch size
    in the same units (the T effect the grid can see)."""
    st = _cell_stats(df, col)
    Ts = sorted(df["T"].unique())
    per_T = {}
    for T in Ts:
        cells = st.loc[T]
        z = 0.0
        rows = list(cells.itertuples())
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                a, b = rows[i], rows[j]
                se = math.hypot(a.sem, b.sem)
                z = max(z, abs(a.mean - b.mean) / se if se > 0 else math.inf)
        per_T[T] = z
    # resolution: the largest T effect at a fixed batch size, in the same units
    res = 0.0
    for b in sorted(df["batch"].unique()):
        cells = [st.loc[(T, b)] for T in Ts]
        for i in range(len(cells)):
            for j in range(i + 1, len(cells)):
                se = math.hypot(cells[i]["sem"], cells[j]["sem"])
                d = abs(cells[i]["mean"] - cells[j]["mean"])
                res = max(res, d / se if se > 0 else math.inf)
    return dict(per_T=per_T, resolution=res, stats=st)


def _loss_vs_T_figure(ctx, df) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.0, 3.9))
    axes = fig.subplots(1, 2, sharey=False)
    for ax, col, title in zip(
        axes, ("test_loss", "domain_loss"), ("sampling shift (real test set)", "domain shift")
    ):
        st = _cell_stats(df, col)
        for b in sorted(df["batch"].unique()):
            sub = st.xs(b, level="batch")
            ax.errorbar(
                sub.index.to_numpy(float) * (1 + 0.03 * np.log2(b)),  # offset to see bars
                sub["mean"],
                yerr=sub["sem"],
                marker="o",
                capsize=2,
                label=f"B = {b} (η = T·B)",
            )
        ax.set_xscale("log")
        ax.set_xlabel("temperature T = η/B")
        ax.set_ylabel(f"late {col.replace('_', ' ')} (mean ± sem)")
        ax.set_title(title)
        ax.legend(fontsize=7)
    ctx.savefig(fig, "bg21_cifar_test_loss_vs_T")


def _shift_figure(ctx, df) -> None:
    from matplotlib.figure import Figure

    d = df.assign(penalty=df["domain_loss"] - df["test_loss"])
    st = _cell_stats(d, "penalty")
    fig = Figure(figsize=(5.6, 3.8))
    ax = fig.add_subplot()
    for b in sorted(df["batch"].unique()):
        sub = st.xs(b, level="batch")
        ax.errorbar(
            sub.index.to_numpy(float),
            sub["mean"],
            yerr=sub["sem"],
            marker="o",
            capsize=2,
            label=f"B = {b}",
        )
    ax.set_xscale("log")
    ax.set_xlabel("temperature T = η/B")
    ax.set_ylabel("domain-shift − sampling-shift test loss")
    ax.set_title("extra loss under domain shift vs T")
    ax.legend(fontsize=7)
    ctx.savefig(fig, "bg21_cifar_shift_penalty")


@claim(
    "bg21-cifar",
    paper="BG21",
    statement="on CIFAR-10, SGD runs with equal T = η/B reach equal test loss within the seed "
    "spread, while the test loss changes with T (sampling and domain shift)",
)
def run(ctx):
    from ..nets.files import find_data_dir
    from ..nets.shifts import DOMAIN_SHIFT
    from ..sweeps.plots import phase_diagram

    s = SETTINGS[ctx.scale]
    data_dir = str(find_data_dir(ctx.data_dir))
    df, _ = run_specs(ctx, [spec(ctx, s, data_dir)], workers=s["workers"])
    n_div = int((df["status"] == "diverged").sum())
    inv = invariance(df, "test_loss")
    inv_dom = invariance(df, "domain_loss")
    _loss_vs_T_figure(ctx, df)
    _shift_figure(ctx, df)
    ctx.savefig(
        phase_diagram(df, "T", "batch", "test_loss", title="late test loss over (T, B)"),
        "bg21_cifar_heatmap",
    )

    metrics = {"n_runs": float(len(df)), "n_diverged": float(n_div)}
    for T, z in inv["per_T"].items():
        metrics[f"z_equal_T_{T:g}"] = z
    metrics["z_max_equal_T"] = max(inv["per_T"].values())
    metrics["z_resolution"] = inv["resolution"]
    metrics["z_max_equal_T_domain"] = max(inv_dom["per_T"].values())
    metrics["z_resolution_domain"] = inv_dom["resolution"]
    Ts = sorted(df["T"].unique())
    d = df.assign(penalty=df["domain_loss"] - df["test_loss"])
    pen = d.groupby("T")["penalty"].agg(["mean", "std", "count"])
    for T in Ts:
        metrics[f"test_loss_T_{T:g}"] = float(df[df["T"] == T]["test_loss"].mean())
        metrics[f"domain_loss_T_{T:g}"] = float(df[df["T"] == T]["domain_loss"].mean())
    metrics["penalty_change_low_to_high_T"] = float(pen["mean"].iloc[-1] - pen["mean"].iloc[0])

    holds = n_div == 0 and metrics["z_max_equal_T"] <= Z
    resolved = metrics["z_resolution"] > Z
    if n_div:
        verdict = "inconclusive"
    elif not resolved:
        verdict = "inconclusive"
    else:
        verdict = "agree" if holds else "disagree"
    scale_note = (
        "Smoke (machinery check on a tiny MLP, 8×8 CIFAR-10): "
        if ctx.scale == "smoke"
        else f"{ctx.scale}: "
    )
    summary = (
        f"{scale_note}equal-T pairs differ by at most {metrics['z_max_equal_T']:.2f} combined "
        f"standard errors in test loss (criterion ≤ {Z:g}), while different T at one batch size "
        f"differ by up to {metrics['z_resolution']:.1f} (needs > {Z:g})."
    )
    st = inv["stats"]
    rows = ["| T | B | η | test loss (mean ± sem) | domain-shift loss (mean ± sem) |"]
    rows.append("| --- | --- | --- | --- | --- |")
    sd = inv_dom["stats"]
    for (T, b), r in st.iterrows():
        rd = sd.loc[(T, b)]
        rows.append(
            f"| {T:g} | {b} | {T * b:g} | {r['mean']:.4f} ± {r['sem']:.4f} | "
            f"{rd['mean']:.4f} ± {rd['sem']:.4f} |"
        )
    prow = ["| T | domain − sampling loss (mean ± std over runs) |", "| --- | --- |"]
    for T, r in pen.iterrows():
        prow.append(f"| {T:g} | {r['mean']:.4f} ± {r['std']:.4f} |")
    details = (
        f"Criteria: for each T the largest |Δ| between batch sizes' seed-mean test losses "
        f"must be ≤ {Z:g}·sqrt(sem_a² + sem_b²) (invariance); at some B two temperatures "
        f"must differ by > {Z:g} combined sems (resolution: otherwise the check could not "
        "fail and the verdict is inconclusive).  Runs: a fixed number of epochs, "
        "so the SDE time t = T·N·epochs is equal along each equal-T line.  Domain shift: "
        f"{DOMAIN_SHIFT} applied in pixel space (sgdnoise.nets.shifts).  Per-T z "
        "(sampling shift): "
        + ", ".join(f"T={T:g}: {z:.2f}" for T, z in inv["per_T"].items())
        + "; domain shift: "
        + ", ".join(f"T={T:g}: {z:.2f}" for T, z in inv_dom["per_T"].items())
        + ".\n\n"
        + "\n".join(rows)
        + "\n\nSampling vs domain shift (reported, not judged):\n\n"
        + "\n".join(prow)
    )
    return ClaimResult(verdict=verdict, summary=summary, metrics=metrics, details=details)
