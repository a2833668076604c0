"""The P19 width grid (Park, Sohl-Dickstein, Le & Smith, ICML 2019; DESIGN.md §4.3): its
settings per scale, the sweepable training point, and the run through the sweeps store
that `p19-width` and `p19-bmax` share.

A run is constant-rate SGD (no momentum, no decay) at one (rate, batch, width, seed) of one
*family* (architecture, parameterization, batch norm), scored by its test accuracy averaged
over the last evaluations ("late in training": constant SGD never settles).  Worker
processes import this module by :data:`FUNCTION`; it imports torch only inside functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._grid import adopt_sibling_store, late_mean, run_grid, set_threads
from ._grid_ensemble import EnsemblePlan, shared_settings

#: the sweep store keys runs by this path: moving the worker means a fresh store
FUNCTION = "sgdnoise.experiments._p19_grid:p19_point"
SIGMA_W2 = 2.0  # the hidden layers' weight-variance gain (He init, ReLU), as make_model uses

#: channels per unit of widening factor at the first hidden-to-hidden convolution
_CONV_BASE = {"convnet": 16, "resnet-small": 16, "resnet18": 64, "vgg11": 64}


def reference_fan_in(arch: str, width: int) -> int:
    """Fan-in n of the first hidden-to-hidden layer: k for the MLP, 3·3·base·k for conv
    nets.  It is the n of the standard→NTK rate conversion ε = η n/σ_w² in ḡ (DESIGN.md §3)."""
    if arch == "mlp":
        return int(width)
    return 9 * _CONV_BASE[arch] * int(width)


@dataclass(frozen=True)
class Family:
    """One model family: its rate grid (standard rates η or NTK rates ε) and widths k.
    ``batches``, ``n_train`` and ``seeds`` override the scale's :class:`Settings` for this
    family (None: the settings'), so that a costlier family (the BN ResNets) can run at one
    batch size, on a smaller subset, with its own seed count; the other families' sweep
    specs (hence their run keys) do not change."""

    arch: str
    parameterization: str
    batch_norm: bool
    lrs: tuple[float, ...]
    widths: tuple[int, ...]
    batches: tuple[int, ...] | None = None
    n_train: int | None = None
    seeds: int | None = None

    @property
    def name(self) -> str:
        return f"{self.arch}-{self.parameterization}" + ("-bn" if self.batch_norm else "")

    def batches_in(self, s: Settings) -> tuple[int, ...]:
        return self.batches if self.batches is not None else s.batches

    def n_train_in(self, s: Settings) -> int:
        return self.n_train if self.n_train is not None else s.n_train

    def seeds_in(self, s: Settings) -> int:
        return self.seeds if self.seeds is not None else s.seeds


@dataclass(frozen=True)
class Settings:
    """One scale of the P19 grid: families × batches × seeds, the data and the training.
    ``n_train``/``n_test`` 0 = the whole set."""

    families: tuple[Family, ...]
    batches: tuple[int, ...]
    seeds: int
    n_train: int
    n_test: int
    image_size: int
    epochs: int
    depth: int
    late_fraction: float
    threads: int
    workers: int
    dataset: str = "cifar10"


def _geom(lo, hi, n, digits):
    return tuple(float(v) for v in np.geomspace(lo, hi, n).round(digits))


# Rate grids step by ≈ √10.  At cpu the standard rates reach 30× below the pilot's optimum
# (η* = 0.1 at every width, 2026-11-21) so that the alternative "ḡ_opt independent of k"
# (η* ∝ 1/k: 0.1 → 0.006 over k = 32 → 512) would be measured inside the grid, not at its
# edge; the NTK rates reach 100× above the pilot's ε* = 3 so that "ḡ_opt ∝ k" (ε* ∝ k:
# 3 → 48) is inside too, and both reach rates that diverge (ε_max is located).
_STD = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
_NTK = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
# The BN ResNet (NTK parameterization: ḡ = εN/B carries no width factor of the convention,
# so at one B a rising ḡ_opt is a rising optimal rate, not the conversion ε = ηn/σ_w²).
# Pilot (2026-12-02, 2 seeds, N = 512, B = 32): the late accuracy peaks at ε ≈ 1–2 at k = 1
# and ≈ 2–4 at k = 4, below 0.25 at ε = 0.5 and falling at 8 (16 is near chance at k = 1),
# so factor-2 rates 0.5…8 held every pilot optimum inside; the first cpu run (s20) put one
# seed's k = 4 optimum at ε = 8, the grid's edge (censored), so the grid reaches 16 (near
# chance at k = 1 in the pilot).  Cost: ≈ 3 / 18 CPU-s per run at k = 1 / 4 (trained one by
# one when measured; ensemble tasks of 4 members now, at the same speed, bit for bit the
# same runs: sgdnoise.nets.ensemble.CPU_LOOP_MEMBERS); 72 runs ≈ 14 CPU-min.
_BN = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
_BN_SEEDS = 6

SETTINGS = {
    # machinery check on tiny MLPs: 144 runs.  The standard rates reach η = 10 so that
    # every seed diverges at every width (η = 3 at k = 16 is ε = 24, stable for a seed)
    "smoke": Settings(
        families=(
            Family("mlp", "standard", False, (0.03, 0.1, 0.3, 1.0, 3.0, 10.0), (16, 64, 256)),
            Family("mlp", "ntk", False, (0.3, 1.0, 3.0, 10.0, 30.0, 100.0), (16, 64, 256)),
            # the BN ResNet's machinery: ε = 32 drops it to chance (the grid moves), the
            # optimum learns; 12 runs in ensemble tasks (members one after another on CPU)
            Family(
                "resnet-small", "ntk", True, (1.0, 4.0, 32.0), (1, 2), batches=(32,), n_train=256
            ),
        ),
        batches=(16, 64),
        seeds=2,
        n_train=512,
        n_test=512,
        image_size=8,
        epochs=6,
        depth=2,
        late_fraction=0.34,
        threads=1,
        workers=2,
    ),
    # 8 seeds: with the 2-seed pilot's spread (per-seed ḡ_opt slopes sd ≈ 0.3, accuracy
    # gains sd ≈ 0.025) the four p19-width criteria at α/4 have power ≈ 1.0 (slope, at
    # effect 1) and ≈ 0.7 (accuracy, at effect 0.03) — ≈ 0.95 and 0.55 at sd 0.4 / 0.03;
    # 5 seeds give 0.85 / 0.35 and 3 seeds 0.23 / 0.12 (undecided by design); simulated
    # with criteria.evaluate.  The pilot's ConvNets (k = 1, 2, 4: a 4× span, per-seed slope
    # sd ≈ 0.56) stay below power 0.3 even at 8 seeds: they are left to the paper scale.
    # 2 × 3 × 7 × 2 × 8 = 672 MLP runs, ≈ 1.5 CPU-s each (single-run timings; diverging
    # runs stop early): ≈ 17 CPU-min, ≈ 9 min on 2 idle cores.
    "cpu": Settings(
        families=(
            Family("mlp", "standard", False, _STD, (32, 128, 512)),
            Family("mlp", "ntk", False, _NTK, (32, 128, 512)),
            Family(
                "resnet-small",
                "ntk",
                True,
                _BN,
                (1, 4),
                batches=(32,),
                n_train=512,
                seeds=_BN_SEEDS,
            ),
        ),
        batches=(32, 128),
        seeds=8,
        n_train=1024,
        n_test=1000,
        image_size=8,
        epochs=10,
        depth=2,
        late_fraction=0.3,
        threads=1,
        workers=2,
    ),
    "paper": Settings(
        families=tuple(
            Family(a, p, bn, _geom(*lr, 12, 6), w)
            for a, w in (
                ("mlp", (128, 256, 512, 1024, 2048)),
                ("convnet", (1, 2, 4, 8)),
                ("resnet-small", (1, 2, 4, 8)),
            )
            for p, lr in (("standard", (1e-3, 3.0)), ("ntk", (0.3, 3e3)))
            for bn in ((False, True) if a == "resnet-small" else (False,))
        ),
        batches=(32, 64, 128, 256, 512, 1024),
        seeds=5,
        n_train=0,
        n_test=0,
        image_size=32,
        epochs=100,
        depth=3,
        late_fraction=0.1,
        threads=4,
        workers=1,
    ),
}


def p19_point(
    *,
    arch: str,
    parameterization: str,
    batch_norm: bool,
    width: int,
    lr: float,
    batch: int,
    seed: int,
    dataset: str,
    data_dir: str,
    n_train: int,
    n_test: int,
    image_size: int,
    data_seed: int,
    epochs: int,
    depth: int,
    late_fraction: float,
    device: str,
    threads: int,
) -> dict:
    """One P19 grid point: constant-rate SGD (no momentum) for ``epochs`` epochs.

    Metrics: ``test_acc_late`` (mean test accuracy over the last ``late_fraction`` of the
    per-epoch evaluations — the score), ``test_acc_final``, ``test_loss_late``,
    ``train_acc_final``, and ``diverged_step`` when the trainer recorded a divergence
    (status ``diverged``; the scores are then NaN).  Curve: test accuracy per epoch.
    """
    set_threads(threads)
    from ..nets import make_model, train
    from ._netdata import dataset as load

    data = load(
        dataset, n_train=n_train, n_test=n_test, data_dir=data_dir, data_seed=data_seed,
        image_size=image_size, device=device,
    )  # fmt: skip
    net = make_model(
        arch, input_shape=data.input_shape, num_outputs=data.num_classes, width=width,
        depth=depth, parameterization=parameterization, batch_norm=batch_norm,
        sigma_w2=SIGMA_W2, seed=seed, device=device,
    )  # fmt: skip
    res = train(net, data, lr=lr, batch_size=batch, epochs=epochs, seed=seed)
    if res.diverged:
        nan = math.nan
        return dict(
            status="diverged", diverged_step=float(res.diverged_step), test_acc_late=nan,
            test_acc_final=nan, test_loss_late=nan, train_acc_final=nan,
        )  # fmt: skip
    h = res.history
    return dict(
        test_acc_late=late_mean(h, "test_accuracy", late_fraction),
        test_acc_final=float(h[-1]["test_accuracy"]),
        test_loss_late=late_mean(h, "test_loss", late_fraction),
        train_acc_final=float(h[-1]["train_accuracy"]),
        curves={
            "test_accuracy": {
                "x": [r["epoch"] for r in h],
                "y": [r["test_accuracy"] for r in h],
            }
        },
    )


def _late_epochs(epochs: int, late_fraction: float) -> range:
    """The epochs whose evaluations :func:`late_mean` averages in a full run (one per
    epoch): the last ``max(1, round(late_fraction · epochs))``."""
    k = max(1, int(round(late_fraction * epochs)))
    return range(epochs - k + 1, epochs + 1)


def p19_points(configs: list[dict]) -> list[dict]:
    """Several P19 grid points that differ only in ``lr`` and ``seed``, trained as one batched
    ensemble (:func:`sgdnoise.nets.ensemble.train_members`); one result per config, each
    what :func:`p19_point` returns for it — the same trajectory (bit for bit on CPU, MLPs
    and the BN ResNets alike, see :mod:`sgdnoise.nets.ensemble`) and the same scores.  The
    test set is evaluated only at the epochs the late mean reads and the train set only at
    the end (what the scores need), so the accuracy curve holds those epochs only."""
    c = dict(configs[0])
    shared_settings(configs, ENSEMBLE.members)
    set_threads(c["threads"])
    from ..nets import make_model
    from ..nets.ensemble import train_members
    from ._netdata import dataset as load

    data = load(
        c["dataset"], n_train=c["n_train"], n_test=c["n_test"], data_dir=c["data_dir"],
        data_seed=c["data_seed"], image_size=c["image_size"], device=c["device"],
    )  # fmt: skip
    nets = [
        make_model(
            c["arch"],
            input_shape=data.input_shape,
            num_outputs=data.num_classes,
            width=c["width"],
            depth=c["depth"],
            parameterization=c["parameterization"],
            batch_norm=c["batch_norm"],
            sigma_w2=SIGMA_W2,
            seed=cfg["seed"],
            device=c["device"],
        )  # fmt: skip
        for cfg in configs
    ]
    late = _late_epochs(c["epochs"], c["late_fraction"])
    results = train_members(
        nets, data, lrs=[cfg["lr"] for cfg in configs], seeds=[cfg["seed"] for cfg in configs],
        batch_size=c["batch"], epochs=c["epochs"], train_eval_epochs=(), test_eval_epochs=late,
    )  # fmt: skip
    out = []
    for res in results:
        if res.diverged:
            nan = math.nan
            out.append(
                dict(
                    status="diverged", diverged_step=float(res.diverged_step), test_acc_late=nan,
                    test_acc_final=nan, test_loss_late=nan, train_acc_final=nan,
                )
            )  # fmt: skip
            continue
        h = [r for r in res.history if "test_accuracy" in r]
        out.append(
            dict(
                test_acc_late=float(np.mean([r["test_accuracy"] for r in h])),
                test_acc_final=float(h[-1]["test_accuracy"]),
                test_loss_late=float(np.mean([r["test_loss"] for r in h])),
                train_acc_final=float(res.history[-1]["train_accuracy"]),
                curves={
                    "test_accuracy": {
                        "x": [r["epoch"] for r in h],
                        "y": [r["test_accuracy"] for r in h],
                    }
                },
            )
        )
    return out


def p19_size(config: dict) -> int:
    """Members per ensemble task for this grid point's model (:func:`ensemble_size`: on CPU
    the MLPs' cache rule, and a few members run one after another for the BN ResNets)."""
    import torch

    from ..nets import make_model
    from ..nets.ensemble import ensemble_size

    side = config["image_size"]
    net = make_model(
        config["arch"], input_shape=(3, side, side), num_outputs=10, width=config["width"],
        depth=config["depth"], parameterization=config["parameterization"],
        batch_norm=config["batch_norm"], device="cpu",
    )  # fmt: skip
    dev = config["device"]
    dev = ("cuda" if torch.cuda.is_available() else "cpu") if dev == "auto" else dev
    return ensemble_size(net, batch_size=config["batch"], device=dev, input_shape=(3, side, side))


#: the P19 grid's runs as batched ensembles (lr × seed), recorded under p19_point's keys
ENSEMBLE = EnsemblePlan(
    per_run=FUNCTION,
    batched="sgdnoise.experiments._p19_grid:p19_points",
    size="sgdnoise.experiments._p19_grid:p19_size",
)


def specs(ctx, s: Settings, data_dir: str) -> list[dict]:
    """One sweep spec per family (their width and rate grids differ)."""
    out = []
    for f in s.families:
        out.append(
            {
                "name": f"p19-{f.name}",
                "description": "P19: constant SGD over lr x batch x width x seeds",
                "function": FUNCTION,
                "fixed": {
                    "arch": f.arch,
                    "parameterization": f.parameterization,
                    "batch_norm": f.batch_norm,
                    "data_dir": data_dir,
                    "data_seed": int(ctx.seed),
                    "device": ctx.device,
                    "dataset": s.dataset,
                    "n_train": f.n_train_in(s),
                    "n_test": s.n_test,
                    "image_size": s.image_size,
                    "epochs": s.epochs,
                    "depth": s.depth,
                    "late_fraction": s.late_fraction,
                    "threads": s.threads,
                },
                "product": {
                    "width": list(f.widths),
                    "lr": [float(v) for v in f.lrs],
                    "batch": list(f.batches_in(s)),
                    "seed": [int(ctx.seed) + i for i in range(f.seeds_in(s))],
                },
            }
        )
    return out


def n_train_of(s: Settings, data_dir: str, family: Family | None = None) -> int:
    """N in ḡ = εN/B: the training-set size the grid (or ``family``, when given) used."""
    n = family.n_train_in(s) if family is not None else s.n_train
    if n:
        return int(n)
    from ..nets import load_cifar10

    return len(load_cifar10(data_dir, download=False)["y_train"])


def run(ctx):
    """Run (or resume) the scale's grid; ``(settings, frame, {family name: N})``.  p19-width
    and p19-bmax read one grid: whichever runs second resumes a copy of the other's store."""
    from ..nets.files import find_data_dir

    s = SETTINGS[ctx.scale]
    data_dir = str(find_data_dir(ctx.data_dir))
    adopt_sibling_store(ctx, "p19-bmax" if ctx.claim == "p19-width" else "p19-width")
    # a diverged run is a result (status "diverged"); a run that raised is a hole the
    # criteria cannot explain: stop
    df, _ = run_grid(
        ctx, specs(ctx, s, data_dir), workers=s.workers, failed="raise", ensemble=[ENSEMBLE]
    )
    return s, df, {f.name: n_train_of(s, data_dir, f) for f in s.families}
