"""KCL23 `kcl23-eos`: full-batch gradient descent drives λmax of the training-loss Hessian to
the stability threshold 2/η (edge of stability; Cohen et al. 2021, used by Kaur, Cohen &
Lipton 2023; DESIGN.md §4.5).

Theory (:mod:`sgdnoise.theory.stability`, derived): GD on a quadratic diverges once
λmax > 2/η; on a network, GD sharpens until λmax reaches 2/η and then hovers there.
Measurement: full-batch GD (B = N, one step per epoch) on a small network with MSE loss
(Cohen et al.'s setting), λmax by Lanczos on exact Hessian-vector products every few steps.
Verdict "agree" when the median λmax over the second half of training is within 10% of
2/η, GD did not diverge, and λmax started below 0.9·2/η (so it was GD that sharpened it).
"""

from __future__ import annotations

import numpy as np

from .registry import ClaimResult, claim

SETTINGS = {
    # Synthetic teacher task (no data files): 512 points in 20 dims, 4 outputs.
    "smoke": dict(
        data="synthetic",
        n_train=512,
        arch="mlp",
        width=64,
        depth=2,
        lr=0.2,
        steps=1500,
        every=50,
        dtype="float64",
    ),
    # 1000 real CIFAR-10 images (KCL23's measurement-set size), flattened into an MLP.
    "cpu": dict(
        data="cifar10",
        n_train=1000,
        arch="mlp",
        width=256,
        depth=2,
        lr=0.02,
        steps=2000,
        every=100,
        dtype="float32",
    ),
    # 5000 CIFAR-10 images, a wider MLP, many more steps (sized for a GPU; not yet run).
    "paper": dict(
        data="cifar10",
        n_train=5000,
        arch="mlp",
        width=1024,
        depth=2,
        lr=0.02,
        steps=10000,
        every=250,
        dtype="float32",
    ),
}
TOLERANCE = 0.10
SIGMA_W2 = 0.5  # a gentle initialization: λmax starts below 2/η, so sharpening is visible


def _data(ctx, s, dtype):
    from ..nets import load_dataset, synthetic_dataset
    from ..nets.files import find_data_dir

    if s["data"] == "synthetic":
        return synthetic_dataset(
            n_train=s["n_train"],
            n_test=64,
            input_shape=(20,),
            num_classes=4,
            seed=ctx.seed,
            device=ctx.device,
            dtype=dtype,
        )
    return load_dataset(
        "cifar10",
        data_dir=find_data_dir(ctx.data_dir),
        n_train=s["n_train"],
        n_test=500,
        seed=ctx.seed,
        device=ctx.device,
        dtype=dtype,
    )


@claim(
    "kcl23-eos",
    paper="KCL23",
    statement="full-batch GD at rate η drives the Hessian's λmax to the edge of stability 2/η",
)
def run(ctx):
    import torch
    from matplotlib.figure import Figure

    from ..nets import lambda_max, make_model, train
    from ..theory.stability import critical_lr, eos_sharpness

    s = SETTINGS[ctx.scale]
    dtype = getattr(torch, s["dtype"])
    data = _data(ctx, s, dtype)
    net = make_model(
        s["arch"],
        input_shape=data.input_shape,
        num_outputs=data.num_classes,
        width=s["width"],
        depth=s["depth"],
        sigma_w2=SIGMA_W2,
        seed=ctx.seed,
        device=ctx.device,
        dtype=dtype,
    )
    measure = dict(loss="mse", tol=1e-4, max_iter=80, seed=ctx.seed, chunk_size=1000)
    x, y = data.x_train, data.y_train
    lam0 = lambda_max(net, x, y, **measure)
    lr, target = s["lr"], eos_sharpness(s["lr"])
    trace = [(0, lam0, float("nan"))]
    bar = ctx.tqdm(total=s["steps"], desc="kcl23-eos")

    def measure_lmax(model, rec):
        rec["lambda_max"] = lambda_max(model, x, y, **measure)
        trace.append((rec["step"], rec["lambda_max"], rec["train_loss"]))
        bar.update(s["every"])

    r = train(
        net,
        data,
        lr=lr,
        batch_size=data.n_train,
        max_steps=s["steps"],
        loss="mse",
        eval_every=s["every"],
        eval_test=False,
        seed=ctx.seed,
        callback=measure_lmax,
    )
    bar.close()
    steps = np.array([t[0] for t in trace])
    lams = np.array([t[1] for t in trace])
    late = lams[steps >= s["steps"] / 2]
    ratio = float(np.median(late) / target) if len(late) else float("nan")
    sharpened = lam0 < (1 - TOLERANCE) * target
    ok = (not r.diverged) and abs(ratio - 1) <= TOLERANCE and sharpened
    metrics = {
        "lr": lr,
        "two_over_lr": target,
        "lambda_max_initial": lam0,
        "lambda_max_late_median": float(np.median(late)) if len(late) else float("nan"),
        "ratio_to_two_over_lr": ratio,
        "lambda_max_peak": float(lams.max()),
        "critical_lr_at_init": critical_lr(lam0),
        "final_train_loss": r.final.get("train_loss", float("nan")),
        "diverged": float(r.diverged),
    }

    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.add_subplot()
    ax.plot(steps, lams, "o-", ms=3, label="λmax (Lanczos)")
    ax.axhline(target, color="k", ls="--", label="2/η")
    ax.axhspan(target * (1 - TOLERANCE), target * (1 + TOLERANCE), color="0.85", zorder=0)
    ax.set_xlabel("GD step")
    ax.set_ylabel("λmax of the training-loss Hessian")
    ax.set_title(f"Edge of stability, η = {lr}")
    ax2 = ax.twinx()
    ax2.semilogy([t[0] for t in trace[1:]], [t[2] for t in trace[1:]], color="C1", lw=0.8)
    ax2.set_ylabel("train loss (MSE)", color="C1")
    ax.legend(loc="lower right", fontsize=8)
    ctx.savefig(fig, "kcl23_eos")

    if r.diverged:
        summary = f"GD diverged at step {r.diverged_step}; no edge-of-stability measurement."
    else:
        summary = (
            f"λmax went from {lam0:.3g} at initialization to a late median of "
            f"{np.median(late):.3g} = {ratio:.3f} × 2/η (2/η = {target:.3g}; tolerance "
            f"±{TOLERANCE:.0%})"
            + ("." if sharpened else "; it started above 0.9·2/η, so no sharpening was tested.")
        )
    table = ["| step | λmax | λmax·η/2 | train loss |", "| --- | --- | --- | --- |"]
    table += [
        f"| {a} | {b:.4g} | {b / target:.3f} | {c:.3g} |"
        for a, b, c in trace[:: max(1, len(trace) // 12)]
    ]
    return ClaimResult(
        verdict="agree" if ok else "disagree",
        summary=summary,
        metrics=metrics,
        details="\n".join(table)
        + f"\n\nFull-batch GD (B = N = {data.n_train}, {data.name}), {s['arch']} width "
        f"{s['width']}, MSE loss, σ_w² = {SIGMA_W2}; λmax by Lanczos (rel. tol 1e-4).",
    )
