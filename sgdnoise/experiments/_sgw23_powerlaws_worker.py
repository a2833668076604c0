"""One SGW23 network run that also records *when* its weight change and test error were made
(Sclocchi, Geiger & Wyart, ICML 2023: "a key effect of SGD noise occurs late in training";
DESIGN.md §4.2).

:func:`late_point` trains exactly the run of :func:`sgdnoise.experiments._sgw23_runs.train_point`
(same model, loss, SGD, stopping rule and metrics; the watcher only reads the weights) and
adds, with ``L0 = 1/α`` the training loss at initialization (the centred output is 0 there, so
every point's hinge loss is ``(1/α)·max(0, 1 − 0) = 1/α``) and ``t_ℓ`` the time of the first
evaluation at which the training loss is ≤ ``loss_level · L0``:

* ``t_late``, ``steps_late``, ``train_loss_late`` — when the late phase starts (NaN when the loss
  never got there);
* ``wc_late = ‖w(t_ℓ) − w0‖/‖w0‖``;
* ``late_share = ⟨w_f − w(t_ℓ), w_f − w0⟩ / ‖w_f − w0‖²`` — the share of the final weight
  change vector Δw = w_f − w0 made after t_ℓ: Δw = (w(t_ℓ) − w0) + (w_f − w(t_ℓ)) and the
  two projections on Δw add up to 1 exactly, so the early share is ``1 − late_share``;
* ``late_norm_share = 1 − ‖w(t_ℓ) − w0‖/‖w_f − w0‖`` — the same read on the norms;
* ``test_err_late`` — the test error at t_ℓ (the test set of the run's final ``test_err``);
* curves ``train_loss`` and ``weight_change`` against time, one point per evaluation.

It is keyed as the sweep worker ``sgw23-late`` (its ``sweep_name``); torch is imported inside
the functions only.
"""

from __future__ import annotations

import math

from ..errors import ParameterError
from ..validation import in_range
from ._grid_ensemble import EnsemblePlan
from ._sgw23_runs import MEMBERS, _members, _run, check_point

#: how the late-training worker is named in sweep specs (its runs are keyed by its name)
LATE_NAME = "sgw23-late"
LATE_PATH = "sgdnoise.experiments._sgw23_powerlaws_worker:late_point"


def check_late(*, loss_level=0.1, **point):
    """The bounds of :func:`late_point`: those of :func:`._sgw23_runs.check_point` and
    ``0 < loss_level < 1`` (a fraction of the initial loss 1/α)."""
    c = check_point(**point)
    c["loss_level"] = in_range("loss_level", loss_level, 0.0, 1.0, low_open=True, high_open=True)
    return c


class _Watcher:
    """The trainer callback of one run: remembers the weights at the first evaluation with
    training loss ≤ the level, the test error there, and the loss / weight-change curves."""

    def __init__(self, model, data, level: float, alpha: float):
        from ..nets.metrics import snapshot

        self.model, self.data, self.level, self.alpha = model, data, level, alpha
        self.w0 = snapshot(model)  # before training: the trainer's own w0
        self.w_late, self.rec_late, self.test_err_late = None, None, math.nan
        self.curve: list[tuple[float, float, float]] = []

    def __call__(self, model, rec) -> None:
        from ..nets import evaluate
        from ..nets.metrics import snapshot

        self.curve.append((rec["time"], rec["train_loss"], rec["weight_change"]))
        if self.w_late is None and rec["train_loss"] <= self.level:
            self.w_late, self.rec_late = snapshot(model), dict(rec)
            te = evaluate(model, self.data.x_test, self.data.y_test, loss="hinge", alpha=self.alpha)
            self.test_err_late = 1.0 - te["accuracy"]

    def shares(self) -> dict:
        """The late shares of the final weight change (NaN before the level is reached)."""
        import torch

        from ..nets.metrics import trainable

        if self.w_late is None:
            return {"late_share": math.nan, "late_norm_share": math.nan, "wc_late": math.nan}
        dot = tot = early = w0n = 0.0
        for name, p in trainable(self.model):
            w0, wl, wf = self.w0[name], self.w_late[name], p.detach()
            d = wf - w0
            dot += float(torch.sum((wf - wl) * d))
            tot += float(torch.sum(d * d))
            early += float(torch.sum((wl - w0) ** 2))
            w0n += float(torch.sum(w0 * w0))
        if tot <= 0:
            return {"late_share": math.nan, "late_norm_share": math.nan, "wc_late": math.nan}
        return {
            "late_share": dot / tot,
            "late_norm_share": 1.0 - math.sqrt(early / tot),
            "wc_late": math.sqrt(early / w0n),
        }


def late_point(
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
    loss_level: float = 0.1,
) -> dict:
    """Train one SGW23 α-trick net (:func:`._sgw23_runs.train_point`'s run, the same
    keywords; the signature is spelled out because the sweeps key a run by its resolved
    parameters) and add the late-training measurements of the module docstring."""
    c = check_late(**locals())
    import torch

    level = c.pop("loss_level") / c["alpha"]  # L0 = 1/α: the hinge loss of the centred net at w0
    seen = {}

    def observer(model, data):
        seen["w"] = _Watcher(model, data, level, c["alpha"])
        return seen["w"]

    before = torch.get_num_threads()
    torch.set_num_threads(c["threads"])
    try:
        out = _run(c, observer=observer)
    finally:
        torch.set_num_threads(before)
    return _late_metrics(out, seen["w"], level * c["alpha"])


def _late_metrics(out: dict, w: _Watcher, loss_level: float) -> dict:
    """:func:`late_point`'s result: the run's metrics ``out`` and its watcher's late-phase
    measurements (one definition for the per-run and the batched workers)."""
    out["loss_level"] = loss_level
    if out.get("status") == "diverged":
        return out
    r = w.rec_late or {}
    out.update(
        t_late=float(r.get("time", math.nan)),
        steps_late=float(r.get("step", math.nan)),
        train_loss_late=float(r.get("train_loss", math.nan)),
        test_err_late=w.test_err_late,
        **w.shares(),
    )
    t, loss, wc = (list(v) for v in zip(*w.curve, strict=True)) if w.curve else ([], [], [])
    out["curves"] = {"train_loss": {"x": t, "y": loss}, "weight_change": {"x": t, "y": wc}}
    return out


def late_points(configs: list[dict]) -> list[dict]:
    """Several :func:`late_point` runs that differ only in seed, trained as one batched
    ensemble (:func:`._sgw23_runs._members`, each run watched by its own :class:`_Watcher`
    through the engine's per-member callback); one result per config, each what
    :func:`late_point` returns for it (bit for bit for the MLP on CPU)."""
    cs = [check_late(**cfg) for cfg in configs]
    levels = [c.pop("loss_level") for c in cs]
    if len(set(levels)) > 1:
        raise ParameterError("loss_level", levels, "must be one value in a batched task")
    level = levels[0] / cs[0]["alpha"]
    watchers = []

    def observer(model, data):
        watchers.append(_Watcher(model, data, level, cs[0]["alpha"]))
        return watchers[-1]

    outs = _members(cs, observer=observer)
    level_out = level * cs[0]["alpha"]  # as late_point writes it (bit for bit)
    return [_late_metrics(o, w, level_out) for o, w in zip(outs, watchers, strict=True)]


late_point.validate_config = check_late
late_point.sweep_name = LATE_NAME

#: the late-training runs as batched ensembles over seeds, under late_point's keys
ENSEMBLE = EnsemblePlan(
    per_run=LATE_PATH,
    batched="sgdnoise.experiments._sgw23_powerlaws_worker:late_points",
    size="sgdnoise.experiments._sgw23_runs:sgw23_size",
    members=MEMBERS,
)
