"""The KCL23 runs as batched ensembles (issue 14): :func:`kcl23_runs` returns, config by
config, exactly what the per-run worker :func:`kcl23_run` returns (bit for bit: the smoke
MLP is a layer stack, which the engine trains exactly as single runs on CPU), and the claims'
grid runner records the members under the per-run keys."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.experiments import _kcl23_worker as W

pytestmark = pytest.mark.realdata

# five members of one task: one reaching 99% training accuracy early (epoch 7), one capped
# at the 15-epoch cap (η too small), one with SAM, one with dropout, one diverging
MEMBERS = [
    # lr, rho, dropout, seed
    (0.3, 0.0, 0.0, 0),
    (0.005, 0.0, 0.0, 1),
    (0.1, 0.05, 0.0, 2),
    (0.1, 0.0, 0.2, 3),
    (60.0, 0.0, 0.0, 4),
]


def _configs(shared_data) -> list[dict]:
    base = W.fixed_for("smoke", data_dir=str(shared_data), max_epochs=15, batch=16)
    return [dict(base, lr=lr, rho=r, dropout=p, seed=s) for lr, r, p, s in MEMBERS]


def _same(batched: dict, ref: dict) -> None:
    """Equal in every metric but the wall time."""
    a, b = dict(batched), dict(ref)
    a.pop("train_seconds", None), b.pop("train_seconds", None)
    assert a == b


def test_batched_runs_equal_per_run_runs_bit_for_bit(shared_data):
    cfgs = _configs(shared_data)
    batched = W.kcl23_runs(cfgs)
    refs = [W.kcl23_run(**c) for c in cfgs]
    for got, ref in zip(batched, refs, strict=True):
        _same(got, ref)
    # the members do what they were chosen for: early stop, cap, divergence
    assert [r.get("reached") for r in refs] == [1.0, 0.0, 1.0, 1.0, 0.0]
    assert refs[0]["epochs"] < 15 and refs[1]["epochs"] == 15
    assert refs[4]["status"] == "diverged" and "lambda_max" not in refs[4]
    # and the ensemble's λmax is the independent power iteration's (smoke checks it)
    for r in refs[:4]:
        assert r["lambda_max"] == pytest.approx(r["lambda_max_power"], rel=1e-3)


def test_grid_runner_records_members_under_the_per_run_keys(tmp_path, shared_data):
    """The claims' grid (one zip group of the five members) runs as one ensemble task into
    the store: one record per run under kcl23_run's key, the per-run worker's metrics; a
    second run resumes with nothing to do."""
    from sgdnoise.sweeps.spec import run_key

    cfgs = _configs(shared_data)
    assert W.kcl23_size(cfgs[0]) >= len(cfgs)  # one task
    ctx = SimpleNamespace(out_dir=tmp_path, data_dir=shared_data, device="cpu", progress=False)
    fixed = {k: v for k, v in cfgs[0].items() if k not in W.MEMBERS}
    zipped = {k: [c[k] for c in cfgs] for k in W.MEMBERS}
    df = W.run_grid(ctx, "kcl23-test", fixed, {}, zips=(zipped,))
    assert len(df) == 5 and (df["attempts"] == 1).all()
    assert df["seconds"].nunique() == 1  # one task: each run charged an equal share
    by_key = df.set_index("key")
    for c in cfgs:
        row = by_key.loc[run_key(W.FUNCTION, c)]
        ref = W.kcl23_run(**c)
        if ref.get("status") == "diverged":
            assert row["status"] == "diverged" and row["steps"] == ref["steps"]
            continue
        assert row["status"] == ("done" if ref["reached"] else "capped")
        for k, v in ref.items():
            if k != "train_seconds":
                assert row[k] == v, k
    again = W.run_grid(ctx, "kcl23-test", fixed, {}, zips=(zipped,))
    assert (again["attempts"] == 1).all()


def test_batched_configs_must_share_all_but_the_member_axes(shared_data):
    a, b = _configs(shared_data)[:2]
    with pytest.raises(ParameterError, match="configs"):
        W.kcl23_runs([a, dict(b, batch=32)])


def test_input_shape_and_ensemble_sizes(shared_data):
    """The shape computed without loading is the loaded data's; the ensemble size is many
    members for the smoke MLP and one for the cpu protocol's (width 512 on 32×32×3: its
    weights leave the cache, and batching measured no faster)."""
    from sgdnoise.experiments._netdata import dataset

    for data, pool, n in (("mnist", 2, 256), ("cifar10", 1, 100)):
        d = dataset(data, n_train=n, n_test=10, pool=pool, data_dir=str(shared_data))
        assert W.input_shape(data, pool) == tuple(d.input_shape)
    smoke = dict(W.fixed_for("smoke"), lr=0.1, batch=16, seed=0)
    cpu = dict(W.fixed_for("cpu"), lr=0.1, batch=32, seed=0)
    assert W.kcl23_size(smoke) >= 8
    assert W.kcl23_size(cpu) == 1
