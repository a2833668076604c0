"""SGW23 network runs as batched ensembles over seeds (issue 14): the batched workers return,
per config, what the per-run workers return — bit for bit for the MLP on CPU (the engine's
layer stacks reproduce ``train``), within a stated tolerance for the CNN (``vmap``) — and
the claims' sweeps record them under the per-run keys."""

from __future__ import annotations

import math

import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.experiments._sgw23_powerlaws_worker import late_point, late_points
from sgdnoise.experiments._sgw23_runs import sgw23_size, train_point, train_points

MLP = dict(dataset="mnist", arch="mlp", n_train=32, n_test=100, width=16, depth=2, pool=4,
           batch_size=8, max_steps=1000, alpha=10.0)  # fmt: skip
CNN = dict(dataset="cifar10", arch="convnet", n_train=32, n_test=100, width=1, depth=1, pool=4,
           batch_size=8, max_steps=400, alpha=10.0)  # fmt: skip


def _seeds(base, data_dir, seeds, **kw):
    return [dict(base, seed=s, data_dir=str(data_dir), **kw) for s in seeds]


def _same(a: dict, b: dict) -> bool:
    """Equal dicts, NaN equal to NaN (t* of a capped run)."""
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            continue
        if x != y:
            return False
    return True


@pytest.mark.parametrize(
    "T, max_time, outcome",
    [
        (1e-2, 1e6, "fitted"),  # members fit at different steps (252 for seed 1)
        (3e-2, 600.0, "time cap"),  # ceil(600/η) = 157 steps, before the fit (~200)
        (0.3, 1e6, "step cap"),  # 1000 steps, never fitted
        (3.0, 1e6, "diverged"),  # at step 4 (seed 1)
    ],
)
def test_mlp_members_are_the_per_run_runs_bit_for_bit(shared_data, T, max_time, outcome):
    cfgs = _seeds(dict(MLP, T=T, max_time=max_time), shared_data, (0, 1, 2))
    single = [train_point(**c) for c in cfgs]
    for c, b, s in zip(cfgs, train_points(cfgs), single, strict=True):
        assert _same(b, s), (c["seed"], b, s)
    s = single[1]
    if outcome == "diverged":
        assert s["status"] == "diverged"
    else:
        assert s["status"] == "done" and s["capped"] == float(outcome != "fitted")
        assert outcome != "time cap" or s["steps"] == 157.0


#: the training loss the engine records: its evaluation runs all members on the shared
#: inputs with other GEMM shapes than ``evaluate``'s, so the centred outputs (and the loss,
#: a sum of small hinge terms near the end) agree to float32 rounding, not bit for bit
#: (measured ≤ 4e-9 absolute on these runs); the weights, the margins' counts and every
#: other metric are bit for bit.  1e-7 is 10⁻⁵ of the late-phase level 0.1/α.
LOSS_ABS = 1e-7


def test_late_members_are_the_watched_runs(shared_data):
    cfgs = _seeds(dict(MLP, width=16, depth=1, n_test=50, T=3e-2, max_time=1e5), shared_data,
                  (0, 1, 2))  # fmt: skip
    batched = late_points(cfgs)
    for c, b in zip(cfgs, batched, strict=True):
        s = late_point(**c)
        cb, cs = b.pop("curves"), s.pop("curves")
        assert cb["weight_change"] == cs["weight_change"]
        assert cb["train_loss"]["x"] == cs["train_loss"]["x"]
        assert cb["train_loss"]["y"] == pytest.approx(cs["train_loss"]["y"], rel=0, abs=LOSS_ABS)
        assert b.pop("train_loss_late") == pytest.approx(s.pop("train_loss_late"), abs=LOSS_ABS)
        assert _same(b, s), (c["seed"], b, s)
        assert b["status"] == "done" and b["t_late"] <= b["time"]


#: CNN members through ``vmap``: its batched convolutions round differently from ``train``'s
#: channels-last ones (≈ 1e-7 relative per operation, growing at the dynamics' rate), so a
#: member could cross the fitting rule one evaluation earlier or later than its single run.
#: Measured on four such runs (T = 1e-2 and 3e-2, 180–248 steps): the same steps and test
#: errors, ‖Δw‖/‖w0‖ within 1.3e-7 relative.  The bounds leave room for a one-evaluation
#: shift of t* and two orders of magnitude of rounding growth, and catch any error of
#: protocol (other batches, rate, cap or init move ‖Δw‖/‖w0‖ by percents).
CNN_STEPS = 1  # evaluations (of eval_every = ceil(P/B) steps) between t* of the two ways
CNN_WC = 1e-5  # relative difference of ‖Δw‖/‖w0‖
CNN_ERR = 0.01  # test error (one of the 100 images)


def test_cnn_members_match_the_per_run_runs_within_rounding(shared_data):
    cfgs = _seeds(dict(CNN, T=1e-2), shared_data, (0, 1))
    every = math.ceil(CNN["n_train"] / CNN["batch_size"])
    for c, b in zip(cfgs, train_points(cfgs), strict=True):
        s = train_point(**c)
        assert b["status"] == s["status"] == "done" and b["fitted"] == s["fitted"] == 1.0
        assert abs(b["steps"] - s["steps"]) <= CNN_STEPS * every
        assert b["t_star"] == pytest.approx(s["t_star"], abs=CNN_STEPS * s["t_star_resolution"])
        assert b["weight_change"] == pytest.approx(s["weight_change"], rel=CNN_WC)
        assert abs(b["test_err"] - s["test_err"]) <= CNN_ERR
        assert (b["lr"], b["h"], b["test_size"]) == (s["lr"], s["h"], s["test_size"])


def test_batched_task_refuses_runs_that_differ_outside_the_seed(shared_data):
    a = _seeds(dict(MLP, T=1e-2), shared_data, (0, 1))
    for other in (dict(a[1], alpha=1.0), dict(a[1], T=3e-2)):  # T: η and the cap differ
        with pytest.raises(ParameterError, match="configs"):
            train_points([a[0], other])
    with pytest.raises(ParameterError, match="loss_level"):
        late_points([dict(a[0], loss_level=0.1), dict(a[1], loss_level=0.2)])


def test_ensemble_size_batches_the_mlp_only(shared_data):
    mlp = dict(MLP, T=1e-2, data_dir=str(shared_data))
    assert sgw23_size(mlp) > 1
    assert sgw23_size(dict(mlp, loss_level=0.1)) == sgw23_size(mlp)  # the late worker's runs
    assert sgw23_size(dict(CNN, T=1e-2, data_dir=str(shared_data))) == 1


def test_sweep_records_batched_runs_under_the_per_run_keys(shared_data, tmp_path):
    # the claims' sweeps with the plans: every run under its per-run key (so a store written
    # either way resumes, and the sibling claims adopt it), holding the per-run worker's result
    from sgdnoise.experiments._grid import run_grid
    from sgdnoise.experiments._sgw23_powerlaws_worker import ENSEMBLE as LATE
    from sgdnoise.experiments._sgw23_powerlaws_worker import LATE_PATH
    from sgdnoise.experiments._sgw23_runs import ENSEMBLE, Net, grid_spec
    from sgdnoise.experiments.runner import RunContext
    from sgdnoise.sweeps import load_spec
    from sgdnoise.sweeps.spec import run_key

    net = Net("mnist", "mlp", 16, 1, 4, 32, 50, 8, 1000, 1e5)
    spec = grid_spec("t", "t", net, {"seed": [0, 1], "T": [1e-2, 3e-2]}, str(shared_data),
                     alpha=10.0)  # fmt: skip
    late = dict(grid_spec("l", "l", net, {"seed": [0, 1], "T": [1e-2]}, str(shared_data),
                          alpha=10.0, loss_level=0.1), function=LATE_PATH)  # fmt: skip
    ctx = RunContext("t", "smoke", tmp_path, progress=False)
    df, _ = run_grid(ctx, [spec, late], workers=1, capped="capped", ensemble=[ENSEMBLE, LATE])
    expected = {}
    for sp, worker in ((load_spec(spec), train_point), (load_spec(late), late_point)):
        for c in sp.configs():
            expected[run_key(sp.function, c)] = worker(**c)
    assert set(df["key"]) == set(expected) and len(df) == 6
    for _, row in df.iterrows():
        want = expected[row["key"]]
        for col in ("steps", "t_star", "weight_change", "test_err", "late_share"):
            if col in want:
                assert row[col] == want[col] or (math.isnan(row[col]) and math.isnan(want[col]))
