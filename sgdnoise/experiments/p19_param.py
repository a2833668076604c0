"""P19 `p19-param`: NTK-parameterized SGD at rate ε is standard-parameterized SGD with
per-layer rate ε σ_w²/n_in, step for step (Park et al. 2019, DESIGN.md §3, §4.3).

P19 compare networks of both parameterizations on one normalized noise scale
ḡ = εN/B, with ε the NTK-equivalent rate of the standard parameterization.  What makes that
one scale is an identity we state and check (derived, not printed by the paper): two
copies of one network — NTK-parameterized, and its standard-parameterized twin with the
same effective weights (:func:`sgdnoise.nets.parameterization.to_standard`) — trained on
the same batches, the twin with the per-layer rates of
:func:`sgdnoise.theory.parameterization.equivalent_standard_lr`, keep the same effective
weights at every step.  The check is deterministic (float64, no seeds), so its criteria
are *machinery* ranges at every scale:

* ``twin-<net>``: the largest relative effective-weight gap over the compared steps is
  ≤ 1e-10 (float64 rounding accumulates to ~1e-15 here; 1e-10 leaves five orders);
* ``control-<net>``: the same twin trained with *one* rate for every layer drifts away by
  ≥ 1e-4 (10⁶ × the tolerance) — so the comparison can fail, and does when the per-layer
  rates are broken (tests/experiments/test_p19_param.py);
* ``gbar-both-ways``: ḡ computed from the NTK rate and from the first layer's standard
  rate (:mod:`sgdnoise.theory.conventions`) agree to ≤ 1e-12 relative.

Smoke: a synthetic task (no data files); cpu / paper: the real CIFAR-10 images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .criteria import Criterion, evaluate
from .registry import ClaimResult, claim


@dataclass(frozen=True)
class Settings:
    """``nets``: (architecture, keyword arguments of make_model as (name, value) pairs)."""

    data: str
    n_train: int
    steps: int
    batch: int
    every: int
    nets: tuple
    shape: tuple | None = None


SETTINGS = {
    "smoke": Settings(
        "synthetic", 96, 40, 16, 1,
        (("mlp", (("width", 64), ("depth", 3))), ("convnet", (("width", 1),))),
        shape=(3, 16, 16),
    ),
    "cpu": Settings(
        "cifar10", 1024, 300, 32, 10,
        (("mlp", (("width", 512), ("depth", 3))), ("convnet", (("width", 2),))),
    ),
    "paper": Settings(
        "cifar10", 0, 3000, 128, 100,
        (
            ("mlp", (("width", 2048), ("depth", 3))),
            ("convnet", (("width", 4),)),
            ("resnet-small", (("width", 4), ("batch_norm", True))),
        ),
    ),
}  # fmt: skip
LR_NTK = 0.5
TOLERANCE = 1e-10
CONTROL_FLOOR = 1e-4
GBAR_TOLERANCE = 1e-12


def _data(ctx, s: Settings):
    import torch

    from ..nets import load_dataset, synthetic_dataset
    from ..nets.files import find_data_dir

    if s.data == "synthetic":
        return synthetic_dataset(
            n_train=s.n_train, n_test=16, input_shape=s.shape, num_classes=10, seed=ctx.seed,
            device=ctx.device, dtype=torch.float64,
        )  # fmt: skip
    return load_dataset(
        s.data, data_dir=find_data_dir(ctx.data_dir), n_train=s.n_train or None, n_test=256,
        seed=ctx.seed, device=ctx.device, dtype=torch.float64,
    )  # fmt: skip


def _effective(model) -> dict:
    from ..nets import scaled_layers

    return {k: m.effective_weight().detach().clone() for k, m in scaled_layers(model).items()}


def _max_rel(a: dict, b: dict) -> float:
    return max(float((a[k] - b[k]).norm() / b[k].norm()) for k in a)


def compare(data, arch: str, kw: dict, s: Settings, *, seed: int = 0, device: str = "cpu"):
    """Train the NTK net, its twin at the per-layer rates and the one-rate control on the
    same batches; their relative effective-weight gaps at each compared step (NaN when the
    NTK run diverged: nothing to compare)."""
    import torch

    from ..nets import make_model, train
    from ..nets.parameterization import to_standard

    net = make_model(
        arch, input_shape=data.input_shape, num_outputs=10, parameterization="ntk", seed=seed,
        device=device, dtype=torch.float64, **kw,
    )  # fmt: skip
    twin, lr_scale = to_standard(net)
    naive, _ = to_standard(net)
    ref: list[dict] = []
    common = dict(
        batch_size=s.batch, max_steps=s.steps, eval_every=s.every, eval_test=False, seed=seed
    )
    r = train(net, data, lr=LR_NTK, callback=lambda m, rec: ref.append(_effective(m)), **common)
    errs, naive_errs = [], []
    train(
        twin, data, lr=LR_NTK, lr_scale=lr_scale,
        callback=lambda m, rec: errs.append(_max_rel(_effective(m), ref[len(errs)])), **common,
    )  # fmt: skip
    train(
        naive, data, lr=LR_NTK * min(lr_scale.values()),
        callback=lambda m, rec: naive_errs.append(_max_rel(_effective(m), ref[len(naive_errs)])),
        **common,
    )  # fmt: skip
    steps = [s.every * (i + 1) for i in range(len(errs))]
    worst = max(errs) if errs and not r.diverged else math.nan
    control = max(naive_errs) if naive_errs and not r.diverged else math.nan
    return dict(steps=steps, errs=errs, naive=naive_errs, worst=worst, control=control)


def criteria_for(archs) -> list[Criterion]:
    says = "NTK SGD at rate ε is standard SGD at per-layer rate εσ_w²/n_in, step for step"
    out = []
    for arch in archs:
        out.append(
            Criterion(
                f"twin-{arch}", f"{says} (largest relative weight gap)", "machinery",
                low=0.0, high=TOLERANCE, derived=True,
            )
        )  # fmt: skip
        out.append(
            Criterion(
                f"control-{arch}",
                "(control) one rate for every layer is not that: its weights drift away",
                "machinery", low=CONTROL_FLOOR, high=math.inf,
            )
        )  # fmt: skip
    out.append(
        Criterion(
            "gbar-both-ways",
            "ḡ = εN/B is one number from either parameterization (relative gap)",
            "machinery", low=0.0, high=GBAR_TOLERANCE,
        )
    )  # fmt: skip
    return out


def judge(results: dict, gbar_gap: float):
    """The criteria on the compared runs (``results[arch]`` from :func:`compare`)."""
    data = {"gbar-both-ways": gbar_gap}
    for arch, res in results.items():
        data[f"twin-{arch}"] = res["worst"]
        data[f"control-{arch}"] = res["control"]
    return evaluate(criteria_for(results), data)


def gbar_gap(n: int, b: int, fan_in: int) -> tuple[float, float]:
    """(ḡ from the NTK rate, relative gap to ḡ from the equivalent standard rate)."""
    from ..theory import conventions

    g_ntk = conventions.normalized_noise_scale(LR_NTK, n, b, parameterization="ntk")
    lr_std = conventions.standard_lr_from_ntk(LR_NTK, fan_in, 2.0)
    g_std = conventions.normalized_noise_scale(
        lr_std, n, b, parameterization="standard", width=fan_in, sigma_w2=2.0
    )
    return g_ntk, abs(g_std - g_ntk) / g_ntk


def _figure(ctx, results):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.add_subplot()
    for arch, res in results.items():
        floor = 1e-18  # exact agreement would vanish on a log axis
        label = f"{arch}: per-layer rates εσ_w²/n_in"
        ax.semilogy(res["steps"], np.maximum(res["errs"], floor), label=label)
        ax.semilogy(res["steps"], np.maximum(res["naive"], floor), "--", label=f"{arch}: one rate")
    ax.axhline(TOLERANCE, color="k", lw=0.8, ls=":", label=f"tolerance {TOLERANCE:g}")
    ax.axhline(CONTROL_FLOOR, color="gray", lw=0.8, ls="-.", label="control must exceed")
    ax.set_xlabel("SGD step")
    ax.set_ylabel("max relative weight difference")
    ax.set_title("NTK vs standard parameterization")
    ax.legend(fontsize=7)
    ctx.savefig(fig, "p19_param")


@claim(
    "p19-param",
    paper="P19",
    statement="NTK-param SGD at rate ε equals standard-param SGD with per-layer rate ε σ_w²/n_in, "
    "step for step (MLP and ConvNet, float64)",
)
def run(ctx):
    s = SETTINGS[ctx.scale]
    data = _data(ctx, s)
    results = {
        arch: compare(data, arch, dict(kw), s, seed=ctx.seed, device=ctx.device)
        for arch, kw in ctx.tqdm(s.nets, desc="p19-param")
    }
    g, gap = gbar_gap(data.n_train, s.batch, int(np.prod(data.input_shape)))
    judged = judge(results, gap)
    _figure(ctx, results)
    metrics = {"normalized_noise_scale": g, "normalized_noise_scale_rel_gap": gap}
    rows = ["| net | max rel. error (per-layer rates) | control: one rate for all |"]
    rows.append("| --- | --- | --- |")
    for arch, res in results.items():
        metrics[f"{arch}_max_rel_error"] = res["worst"]
        metrics[f"{arch}_control_rel_error"] = res["control"]
        rows.append(f"| {arch} | {res['worst']:.2e} | {res['control']:.2e} |")
    worst = max(r["worst"] for r in results.values())
    return ClaimResult(
        summary=f"NTK and standard-with-per-layer-rate SGD agree to {worst:.1e} relative over "
        f"{s.steps} steps on {', '.join(results)} (tolerance {TOLERANCE:g}); the one-rate "
        f"control drifts by ≥ {min(r['control'] for r in results.values()):.1e}.",
        criteria=judged,
        metrics=metrics,
        details="\n".join(rows)
        + f"\n\nData: {data.name}, N = {data.n_train}, B = {s.batch}, ε = {LR_NTK}; "
        f"ḡ = εN/B = {g:.4g} (the same from the first layer's standard rate via the "
        "conventions module).",
    )
