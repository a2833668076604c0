"""The sweepable grid point of `bg21-cifar` (runs in a sweep worker process).

One run is constant SGD (no momentum, no decay) at temperature ``T = η/B`` — ``η`` from
:func:`sgdnoise.theory.conventions.lr_from_temperature` — for a fixed number of epochs, so
that the SDE time ``t = η·steps = T·N·epochs`` is the same for every (η, B) with the same
T (Bradley & Gomez-Uribe 2021, §3: equal T and equal t give the same law in the SDE limit).
Its test loss is scored on two test sets: the real CIFAR-10 test images (sampling shift)
and the same images under the pixel transform of :data:`sgdnoise.nets.shifts.DOMAIN_SHIFT`
(domain shift).

The grid's points at one batch size differ only in T (hence η) and the seed: they train as
one batched ensemble (:func:`bg21_points`, :data:`ENSEMBLE`; issue 14), each member recorded
under :func:`bg21_point`'s key with :func:`bg21_point`'s result.  Importing this module
imports no torch.
"""

from __future__ import annotations

import math

from ..validation import integer, positive
from ._grid import late_mean, set_threads
from ._grid_ensemble import EnsemblePlan, shared_settings
from ._netdata import dataset

#: the sweeps store's name for :func:`bg21_point`
FUNCTION = "sgdnoise.experiments._bg21_cifar_worker:bg21_point"
#: the late means of a run (each over the last ``late_fraction`` of its evaluations)
SCORES = ("test_loss", "domain_loss", "test_accuracy", "domain_accuracy", "train_loss")
#: what the points of one ensemble task may differ in (the rest of the config is shared)
MEMBERS = ("T", "seed")


def _data(c: dict):
    """The training/test set and the domain-shifted test set of config ``c``."""
    common = dict(
        n_train=c["n_train"], n_test=c["n_test"], data_dir=c["data_dir"],
        data_seed=c["data_seed"], image_size=c["image_size"], device=c["device"],
    )  # fmt: skip
    data = dataset(c["dataset_name"], **common)
    shifted = dataset(
        c["dataset_name"], **common,
        domain_shift=dict(contrast=c["contrast"], brightness=c["brightness"]),
    )  # fmt: skip
    return data, shifted


def _net(c: dict, data, seed: int):
    from ..nets import make_model

    return make_model(
        c["arch"], input_shape=data.input_shape, num_outputs=data.num_classes, width=c["width"],
        depth=c["depth"], batch_norm=c["batch_norm"], seed=seed, device=c["device"],
    )  # fmt: skip


def _domain(shifted):
    """The evaluation of the domain-shifted test set added to each training record."""
    from ..nets import evaluate

    def measure(model, rec):
        d = evaluate(model, shifted.x_test, shifted.y_test)
        rec["domain_loss"], rec["domain_accuracy"] = d["loss"], d["accuracy"]

    return measure


def _result(res, lr: float, late_fraction: float, extra: dict) -> dict:
    """A run's result from its :class:`~sgdnoise.nets.trainer.TrainResult` (module doc)."""
    if res.diverged:
        return dict(
            status="diverged", diverged_step=float(res.diverged_step), lr=lr,
            **dict.fromkeys(SCORES, math.nan),
        )  # fmt: skip
    h = res.history
    # the late window: the last max(1, round(late_fraction · evaluations)) records, which
    # hold every score (bg21_points evaluates the train set only there)
    k = max(1, int(round(late_fraction * len(h))))
    late = {name: late_mean(h[-k:], name, 1.0) for name in SCORES}
    epoch = [r["epoch"] for r in h]
    return dict(
        lr=lr,
        **extra,
        **late,
        curves={k: {"x": epoch, "y": [r[k] for r in h]} for k in ("test_loss", "domain_loss")},
    )


def _shift(c: dict, net, data, shifted, seed: int) -> dict:
    """The shift decomposition of the trained ``net`` when ``c["shift"]`` (else {})."""
    if not c["shift"]:
        return {}
    from ._bg21_cifar_shift import decompose

    tests = {"sampling": (data.x_test, data.y_test), "domain": (shifted.x_test, shifted.y_test)}
    return decompose(
        net, data, tests, T=c["shift_T"], batch=c["shift_batch"], time=c["shift_time"],
        seed=seed,
    )  # fmt: skip


def bg21_point(
    *,
    arch: str,
    width: int,
    depth: int,
    batch_norm: bool,
    T: float,
    batch: int,
    seed: int,
    dataset_name: str,
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
    shift: bool = False,
    shift_T: float = 1e-4,
    shift_batch: int = 32,
    shift_time: float = 2.0,
) -> dict:
    """One grid point: constant SGD at ``η = T·B`` for ``epochs`` epochs from init ``seed``.

    Metrics: ``test_loss`` (sampling shift) and ``domain_loss`` (domain shift), each the
    mean over the last ``late_fraction`` of the per-epoch evaluations (constant SGD never
    settles: one final value would carry the step-to-step fluctuation); the matching
    accuracies; ``train_loss``; ``lr``.  A run whose loss explodes returns status
    ``diverged`` with its step and NaN scores (a result, not an error).

    ``shift``: also decompose the final iterate's test loss into BG21's shift penalty and
    noise contribution for both test sets (:func:`._bg21_cifar_shift.decompose`: minima by
    cold SGD at temperature ``shift_T``, batch ``shift_batch``, SDE time ``shift_time``),
    recorded as ``sampling_*`` and ``domain_*``.
    """
    c = dict(locals())
    set_threads(threads)
    from ..nets import train
    from ..theory.conventions import lr_from_temperature

    data, shifted = _data(c)
    lr = lr_from_temperature(T, batch)
    net = _net(c, data, seed)
    res = train(
        net, data, lr=lr, batch_size=batch, epochs=epochs, seed=seed, callback=_domain(shifted)
    )
    extra = {} if res.diverged else _shift(c, net, data, shifted, seed)
    return _result(res, lr, late_fraction, extra)


def _defaults() -> dict:
    """:func:`bg21_point`'s default arguments (a config may leave them out)."""
    import inspect

    sig = inspect.signature(bg21_point).parameters.values()
    return {p.name: p.default for p in sig if p.default is not inspect.Parameter.empty}


def late_epochs(epochs: int, late_fraction: float) -> range:
    """The epochs (1-based) whose records :func:`late_mean` averages in a run evaluated once
    per epoch: the last ``max(1, round(late_fraction · epochs))``."""
    k = max(1, int(round(late_fraction * epochs)))
    return range(epochs - k + 1, epochs + 1)


def bg21_points(configs: list[dict]) -> list[dict]:
    """Several grid points that differ only in ``T`` and ``seed`` (one batch size), trained
    as one batched ensemble (:func:`sgdnoise.nets.ensemble.train_members`: member m is
    ``train(..., lr=T_m·B, seed=seed_m)``, the same batches and updates); one result per
    config, each what :func:`bg21_point` returns for it.

    The test set and the domain-shifted one are evaluated after every epoch (their curves
    are recorded), the latter per member through the engine's ``callback`` exactly as
    :func:`bg21_point` evaluates it through ``train``'s; the train set only at the epochs
    its late mean reads (:func:`late_epochs`).  The shift decomposition (``shift``) runs per
    member on its final weights after training, with that member's seed, as in
    :func:`bg21_point`.  On CPU the MLP members follow their single runs bit for bit, so
    the results are :func:`bg21_point`'s exactly (tests/experiments/test_cifar_ensembles.py)."""
    c = {**_defaults(), **configs[0]}
    shared_settings([{**_defaults(), **other} for other in configs], MEMBERS)
    if len(configs) == 1:  # nothing to batch (e.g. the paper scale's ResNets, one per task)
        return [bg21_point(**configs[0])]
    set_threads(c["threads"])
    from ..nets.ensemble import train_members
    from ..theory.conventions import lr_from_temperature

    data, shifted = _data(c)
    seeds = [int(cfg["seed"]) for cfg in configs]
    lrs = [lr_from_temperature(cfg["T"], c["batch"]) for cfg in configs]
    nets = [_net(c, data, s) for s in seeds]
    domain = _domain(shifted)
    results = train_members(
        nets, data, lrs=lrs, seeds=seeds, batch_size=c["batch"], epochs=c["epochs"],
        train_eval_epochs=late_epochs(c["epochs"], c["late_fraction"]),
        callback=lambda i, module, rec: domain(module, rec),
    )  # fmt: skip
    out = []
    for net, res, lr, s in zip(nets, results, lrs, seeds, strict=True):
        extra = {} if res.diverged else _shift(c, net, data, shifted, s)
        out.append(_result(res, lr, c["late_fraction"], extra))
    return out


def bg21_size(config: dict) -> int:
    """Members per ensemble task for this grid point's model
    (:func:`sgdnoise.nets.ensemble.ensemble_size`)."""
    import torch

    from ..nets import make_model
    from ..nets.ensemble import ensemble_size

    side = config["image_size"] or 32
    net = make_model(
        config["arch"], input_shape=(3, side, side), num_outputs=10, width=config["width"],
        depth=config["depth"], batch_norm=config["batch_norm"], device="cpu",
    )  # fmt: skip
    dev = config["device"]
    dev = ("cuda" if torch.cuda.is_available() else "cpu") if dev == "auto" else dev
    return ensemble_size(net, batch_size=config["batch"], device=dev)


def check_shift(*, shift_T: float = 1e-4, shift_batch: int = 32, shift_time: float = 2.0, **_):
    """The bounds of the decomposition's settings (the spec loader calls this before any run):
    the cold fine-tune's temperature and SDE time are > 0 and its batch is an integer ≥ 1."""
    positive("shift_T", shift_T)
    integer("shift_batch", shift_batch, minimum=1)
    positive("shift_time", shift_time)


bg21_point.validate_config = check_shift

#: the grid's runs as batched ensembles (T × seed at one batch size), under bg21_point's keys
ENSEMBLE = EnsemblePlan(
    per_run=FUNCTION,
    batched="sgdnoise.experiments._bg21_cifar_worker:bg21_points",
    size="sgdnoise.experiments._bg21_cifar_worker:bg21_size",
    members=MEMBERS,
)
