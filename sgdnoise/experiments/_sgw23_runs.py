"""One SGW23 network run as a sweepable function (Sclocchi, Geiger & Wyart 2023, DESIGN.md §4.2).

:func:`train_point` trains one α-trick network and returns what SGW23 measure:

* the model: mean-field parameterization (hidden layers ``W/sqrt(fan_in)``, readout
  ``(1/h) Σ β_i z_i``, weights N(0, 1), ``sqrt(2)·ReLU`` of unit second moment) with the
  centred output ``o(x) = f(w, x) − f(w0, x)`` (:func:`sgdnoise.nets.make_model` with
  ``parameterization="mean-field", centered=True``);
* the loss: ``(1/α) max(0, 1 − α y o)`` (hinge with margin 1/α; α ≫ 1 lazy, α ≪ 1 feature
  learning);
* SGD on a fresh random batch of B distinct points at every step, at the mean-field
  temperature ``T = η/(B h)`` (:func:`sgdnoise.theory.conventions.lr_from_mean_field_temperature`
  gives η; h is the readout's fan-in: the last hidden width of the MLP, the last channel count
  of the CNN);
* time ``t = η × steps``; the run stops when every training point has ``α y o ≥ 1``, at a
  step cap or a time cap, or when the loss turns non-finite (the run is then ``diverged``).

Metrics: ``test_err``, ``train_err``, ``weight_change = ‖w − w0‖/‖w0‖``, ``t_star`` (the time
at the first evaluation where every point was fitted; NaN when the caps stopped the run
first), ``t_star_resolution`` (the time between evaluations: t* is known to within it),
``unfitted`` (fraction of training points with ``α y o < 1`` at the end), ``fitted`` (1/0),
``capped`` (1 when a cap stopped the run before every point was fitted: such a run has no
t*, only the bound t* > time; :func:`sgdnoise.experiments._grid.run_grid` gives it status
``capped`` and no fit or extrapolation of the claims uses it),
``steps``, ``time``, ``lr``, ``h``, ``test_size`` (images in the test set: the ``n_test`` test
images, plus the training images outside the training subset when ``heldout_test``).

The data come from the one worker data cache (:func:`sgdnoise.experiments._netdata.dataset`,
``task="binary"``).  :class:`Net` holds one grid's fixed settings and :func:`grid_spec`
turns it into the sweep spec both SGW23 network claims run.

This module imports torch only inside the functions, so that the claim registry's import of
the experiments package stays cheap; pool workers import it once per process.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..validation import boolean, choice, integer, positive
from ._grid_ensemble import EnsemblePlan, shared_settings

DATASETS = ("mnist", "cifar10")
ARCHITECTURES = ("mlp", "convnet")
#: how sweep specs name this worker (the sweeps store keys runs by it: keep it stable)
FUNCTION = "sgdnoise.experiments._sgw23_runs:train_point"


@dataclass(frozen=True)
class Net:
    """One grid's net, data and fixed training settings (every keyword of
    :func:`train_point` but the grid axes α, T, seed and, for ``sgw23-tc``, P)."""

    dataset: str
    arch: str
    width: int
    depth: int
    pool: int
    n_train: int
    n_test: int
    batch_size: int
    max_steps: int
    max_time: float
    heldout_test: bool = False


def grid_spec(name: str, description: str, net: Net, product: dict, data_dir: str, **fixed) -> dict:
    """The sweep spec of ``net`` over the axes ``product`` (e.g. seed, alpha, T), with
    further ``fixed`` settings, one thread per run (tiny nets: more threads only add
    overhead)."""
    fixed = {k: v for k, v in asdict(net).items() if k not in product} | fixed
    fixed.update(data_dir=data_dir, threads=1)
    return {
        "name": name,
        "description": description,
        "function": FUNCTION,
        "fixed": fixed,
        "product": {k: list(v) for k, v in product.items()},
    }


def check_point(
    *,
    dataset,
    arch,
    n_train,
    n_test,
    width,
    alpha,
    T,
    batch_size,
    seed=0,
    data_seed=0,
    depth=5,
    pool=1,
    max_steps=100_000,
    max_time=1e6,
    eval_every=0,
    data_dir="",
    threads=1,
    heldout_test=False,
):
    """The bounds of :func:`train_point` (used by the sweep spec loader on every grid point
    and by the run itself)."""
    n_train = integer("n_train", n_train, minimum=2)
    return dict(
        dataset=choice("dataset", dataset, DATASETS),
        arch=choice("arch", arch, ARCHITECTURES),
        n_train=n_train,
        n_test=integer("n_test", n_test, minimum=1),
        width=integer("width", width, minimum=1),
        alpha=positive("alpha", alpha),
        T=positive("T", T),
        batch_size=integer("batch_size", batch_size, minimum=1, maximum=n_train),
        seed=integer("seed", seed, minimum=0),
        data_seed=integer("data_seed", data_seed, minimum=0),
        depth=integer("depth", depth, minimum=1),
        pool=integer("pool", pool, minimum=1, maximum=8),
        max_steps=integer("max_steps", max_steps, minimum=1),
        max_time=positive("max_time", max_time),
        eval_every=integer("eval_every", eval_every, minimum=0),
        data_dir=str(data_dir),
        threads=integer("threads", threads, minimum=1),
        heldout_test=boolean("heldout_test", heldout_test),
    )


def readout_width(model) -> int:
    """h of ``T = η/(B h)``: the fan-in of the mean-field readout ``(1/h) Σ β_i z_i``."""
    from ..nets import scaled_layers

    inner = getattr(model, "model", model)  # the live net of a CenteredOutput, not its copy
    widths = [m.fan_in for m in scaled_layers(inner).values() if m.readout]
    if len(widths) != 1:
        raise ValueError(f"expected one readout layer, found {len(widths)}")
    return widths[0]


def train_point(
    *,
    dataset: str,
    arch: str,
    n_train: int,
    n_test: int,
    width: int,
    alpha: float,
    T: float,
    batch_size: int,
    seed: int = 0,
    data_seed: int = 0,
    depth: int = 5,
    pool: int = 1,
    max_steps: int = 100_000,
    max_time: float = 1e6,
    eval_every: int = 0,
    data_dir: str = "",
    threads: int = 1,
    heldout_test: bool = False,
) -> dict:
    """Train one SGW23 α-trick network (see the module docstring) and return its metrics.

    ``eval_every = 0`` evaluates the training set every ``ceil(P/B)`` steps (one
    epoch-equivalent of samples), so that checking the stopping rule costs about a third of
    the training; t* is then known to within ``η·eval_every``.
    """
    c = check_point(**locals())
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(c["threads"])
    try:
        return _run(c)
    finally:
        torch.set_num_threads(before)  # in-process callers (tests) keep their setting


def _data(c: dict):
    """The run's data (the one worker data cache: configs of one task share it)."""
    from ._netdata import dataset

    return dataset(
        c["dataset"], n_train=c["n_train"], n_test=c["n_test"], data_dir=c["data_dir"],
        data_seed=c["data_seed"], task="binary", heldout_test=c["heldout_test"],
        pool=c["pool"], device="cpu",
    )  # fmt: skip


def _model(c: dict, data):
    """The centred mean-field net of run ``c`` (its init drawn from ``c["seed"]``)."""
    from ..nets import make_model

    return make_model(
        c["arch"],
        input_shape=data.input_shape,
        num_outputs=1,
        width=c["width"],
        depth=c["depth"],
        parameterization="mean-field",
        centered=True,
        seed=c["seed"],
        device="cpu",
    )


def _steps(c: dict, model) -> tuple[float, int, int, int]:
    """``(η, eval_every, step cap, h)`` of run ``c``: η from the mean-field temperature
    ``T = η/(B h)``; the time cap t ≤ max_time is a step cap at constant η."""
    from ..theory.conventions import lr_from_mean_field_temperature

    h = readout_width(model)
    B = c["batch_size"]
    lr = lr_from_mean_field_temperature(c["T"], B, h)
    every = c["eval_every"] or math.ceil(c["n_train"] / B)
    cap = max(1, min(c["max_steps"], math.ceil(c["max_time"] / lr)))
    return lr, every, cap, h


def _metrics(c: dict, model, res, data, lr: float, every: int, h: int) -> dict:
    """The metrics of the module docstring from the trained ``model`` and its
    :class:`~sgdnoise.nets.TrainResult` ``res`` (one definition for the per-run and the
    batched workers)."""
    from ..nets import evaluate

    out = {
        "lr": lr,
        "h": float(h),
        "steps": float(res.steps),
        "time": res.time,
        "t_star_resolution": lr * every,
        "test_size": float(len(data.y_test)),
    }
    if res.diverged:
        out.update(status="diverged", diverged_step=float(res.diverged_step))
        return out
    te = evaluate(model, data.x_test, data.y_test, loss="hinge", alpha=c["alpha"])
    out.update(
        test_err=1.0 - te["accuracy"],
        train_err=1.0 - res.final["train_accuracy"],
        weight_change=res.final["weight_change"],
        unfitted=1.0 - res.final["train_fitted"],
        fitted=float(res.fitted),
        capped=float(not res.fitted),
        t_star=res.time if res.fitted else math.nan,
        status="done",
    )
    return out


def _sgd(c: dict, every: int, cap: int) -> dict:
    """SGW23's SGD settings (the module docstring's protocol), as ``train`` and
    ``train_members`` take them: the one statement of the protocol for both."""
    return dict(
        batch_size=c["batch_size"], max_steps=cap, loss="hinge", alpha=c["alpha"],
        sampling="fresh", stop_when_fitted=True, eval_every=every, eval_test=False,
    )  # fmt: skip


def _train(c: dict, model, data, lr: float, every: int, cap: int, callback=None):
    """SGW23's SGD on one run; its TrainResult."""
    from ..nets import train

    return train(model, data, lr=lr, seed=c["seed"], callback=callback, **_sgd(c, every, cap))


def _run(c: dict, observer=None) -> dict:
    """Train the run ``c`` (checked settings) and return its metrics.  ``observer``:
    ``observer(model, data) -> callback`` for a worker that watches the run (the trainer
    calls the callback after each evaluation; it never stops the run): called once before
    training, with the centred model and the run's data."""
    data = _data(c)
    model = _model(c, data)
    lr, every, cap, h = _steps(c, model)
    callback = None if observer is None else observer(model, data)
    res = _train(c, model, data, lr, every, cap, callback)
    return _metrics(c, model, res, data, lr, every, h)


#: the axis in which the runs of one batched task differ (every other setting is shared by
#: the members of :func:`sgdnoise.nets.ensemble.train_members`: α and the loss, η and so
#: the step cap ceil(max_time/η), which the engine shares).  Not T: runs at one (α, T) stop
#: at similar steps, runs across T do not — measured on sgw23-phase's cpu MNIST grid
#: (2026-12-02, tasks of 12 over 3 seeds × 4 T): at α = 100 members stopped after 2,688 to
#: 20,000 steps, so the longest trained alone through most of the task's 780 s.
MEMBERS = ("seed",)


def _members(cs: list[dict], observer=None) -> list[dict]:
    """Train the checked runs ``cs`` (equal outside :data:`MEMBERS`) as one batched ensemble
    and return each run's metrics, what :func:`_run` returns for it.

    Member m is trained by :func:`sgdnoise.nets.ensemble.train_members` exactly as ``train``
    trains it in :func:`_run` (same init, η, cap, fresh batches from seed_m, evaluations
    every ``eval_every`` steps, stop when fitted).  ``observer`` as in :func:`_run`: its
    callback sees member m's module and records.  A task of one run is trained by ``train``
    itself (an ensemble of one only adds the engine's overhead)."""
    from ..nets.ensemble import train_members
    from ._grid import set_threads

    shared = shared_settings(cs, MEMBERS)
    set_threads(shared["threads"])
    data = _data(cs[0])
    models = [_model(c, data) for c in cs]
    lr, every, cap, h = _steps(cs[0], models[0])
    watch = [None if observer is None else observer(m, data) for m in models]
    if len(cs) == 1:
        res = [_train(cs[0], models[0], data, lr, every, cap, watch[0])]
    else:

        def callback(i, module, rec):
            watch[i](module, rec)  # a watcher only reads: it never stops a member

        res = train_members(
            models,
            data,
            lrs=lr,
            seeds=[c["seed"] for c in cs],
            callback=None if observer is None else callback,
            **_sgd(cs[0], every, cap),
        )
    return [_metrics(c, m, r, data, lr, every, h) for c, m, r in zip(cs, models, res, strict=True)]


def train_points(configs: list[dict]) -> list[dict]:
    """Several :func:`train_point` runs that differ only in seed, trained as one batched
    ensemble (:func:`_members`); one result per config, each what :func:`train_point`
    returns for it — bit for bit for the MLP on CPU, to rounding for the CNN (the ``vmap``
    engine; see :mod:`sgdnoise.nets.ensemble`)."""
    return _members([check_point(**c) for c in configs])


#: architectures whose runs train as batched ensembles.  The CNN is left out, measured on
#: the cpu-scale CIFAR net (16-32-64 channels, 16x16 images, B = 16, 400 steps, 2-core EPYC,
#: 2026-12-02): the vmap engine took 1.15x the time of 5 sequential ``train`` runs and 1.47x
#: that of 10 (load ~1); the engine's CPU loop of single-run kernels (LoopStack, which
#: replaced vmap on CPU later that day) took 1.01x at 5 members — no gain either way, so
#: each CNN run is its own task, exactly the per-run run.
BATCHED_ARCHS = ("mlp",)


def sgw23_size(config: dict) -> int:
    """Members per batched task: :func:`sgdnoise.nets.ensemble.ensemble_size` of the run's
    net (without the frozen initial copy: it holds no gradient and, with f(w0, x) computed
    once per set, takes no part in a step); 1 outside :data:`BATCHED_ARCHS`."""
    from ..nets import make_model
    from ..nets.ensemble import ensemble_size

    c = check_point(**{k: v for k, v in config.items() if k != "loss_level"})
    if c["arch"] not in BATCHED_ARCHS:
        return 1
    net = make_model(
        c["arch"], input_shape=_data(c).input_shape, num_outputs=1, width=c["width"],
        depth=c["depth"], parameterization="mean-field", device="cpu",
    )  # fmt: skip
    return ensemble_size(net, batch_size=c["batch_size"])


train_point.validate_config = check_point

#: the SGW23 (α, T[, P]) grids' runs as batched ensembles over seeds, recorded under
#: :func:`train_point`'s keys (sgw23-phase, sgw23-opposite, sgw23-tc and sgw23-powerlaws
#: adopt each other's stores by those keys)
ENSEMBLE = EnsemblePlan(
    per_run=FUNCTION,
    batched="sgdnoise.experiments._sgw23_runs:train_points",
    size="sgdnoise.experiments._sgw23_runs:sgw23_size",
    members=MEMBERS,
)
