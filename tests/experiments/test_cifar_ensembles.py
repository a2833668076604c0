"""bg21-cifar and the UI25 CIFAR-10 grids as batched ensembles (issue 14): the batched
workers return, per config, what the per-run workers return (bit for bit for BG21's MLPs;
within a stated tolerance for UI25's batch-norm ResNets), their plans group the grids as
the claims need, and a config that does not fit a task is refused."""

from __future__ import annotations

import math

import pytest

from sgdnoise.errors import ParameterError


def _same(a, b, path=""):
    """Exact equality of two result dicts, NaN equal to NaN; the first difference named."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), (path, list(a), list(b))
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            _same(u, v, f"{path}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), (path, a, b)
    else:
        assert a == b, (path, a, b)


# -- bg21-cifar ---------------------------------------------------------------------------


def _bg21_configs(data_dir, *, Ts, seeds, shift, batch=16):
    from sgdnoise.nets.shifts import DOMAIN_SHIFT

    base = dict(
        arch="mlp", width=32, depth=2, batch_norm=False, batch=batch, dataset_name="cifar10",
        data_dir=str(data_dir), n_train=256, n_test=128, image_size=8, data_seed=0, epochs=4,
        late_fraction=0.5, device="cpu", threads=1, shift=shift, shift_T=2.5e-4,
        shift_batch=16, shift_time=0.25, **DOMAIN_SHIFT,
    )  # fmt: skip
    return [dict(base, T=T, seed=s) for T in Ts for s in seeds]


@pytest.mark.realdata
def test_bg21_points_are_the_single_runs_bit_for_bit(shared_data):
    """Three temperatures × two seeds at one batch size, the shift decomposition on: each
    member's result (late scores, curves, the decomposition of its final weights) equals
    bg21_point's exactly — the MLP engine is exact on CPU.  T = 10 (η = 160) diverges: a
    member recorded as diverged at its step while the others go on."""
    from sgdnoise.experiments._bg21_cifar_worker import bg21_point, bg21_points

    configs = _bg21_configs(shared_data, Ts=(5e-4, 8e-3, 10.0), seeds=(0, 1), shift=True)
    batched = bg21_points(configs)
    single = [bg21_point(**c) for c in configs]
    assert len(batched) == len(configs)
    for got, want in zip(batched, single, strict=True):
        _same(got, want)
    status = [r.get("status", "done") for r in batched]
    assert status == ["done"] * 4 + ["diverged"] * 2
    done = batched[0]
    assert done["sampling_shift_norm"] > 0 and done["domain_shift_norm"] > 0
    assert len(done["curves"]["domain_loss"]["y"]) == 4  # every epoch, as the single run


@pytest.mark.realdata
def test_bg21_points_without_the_decomposition(shared_data):
    """The grid's other batch sizes (no decomposition) at a batch that does not divide N
    (short last batches): still the single runs exactly."""
    from sgdnoise.experiments._bg21_cifar_worker import bg21_point, bg21_points

    configs = _bg21_configs(shared_data, Ts=(1e-3, 4e-3), seeds=(3, 4), shift=False, batch=24)
    for got, want in zip(bg21_points(configs), [bg21_point(**c) for c in configs], strict=True):
        _same(got, want)
        assert not any(k.startswith(("sampling_", "domain_shift")) for k in got)


def test_bg21_points_refuse_configs_that_differ_outside_T_and_seed():
    from sgdnoise.experiments._bg21_cifar_worker import bg21_points

    a, b = _bg21_configs("", Ts=(1e-3,), seeds=(0, 1), shift=False)
    with pytest.raises(ParameterError, match="configs"):
        bg21_points([a, dict(b, batch=64)])


def test_bg21_plan_groups_the_cpu_grid_by_batch_size(tmp_path):
    """At cpu scale one task holds runs of one batch size (and one decomposition setting)
    that differ in T and seed only; the tasks cover every run once."""
    from types import SimpleNamespace

    from sgdnoise.experiments._bg21_cifar_worker import ENSEMBLE, FUNCTION
    from sgdnoise.experiments.bg21_cifar import SETTINGS, specs
    from sgdnoise.sweeps import load_spec
    from sgdnoise.sweeps.batching import tasks
    from sgdnoise.sweeps.spec import run_key

    s = SETTINGS["cpu"]
    assert s.seeds >= 5
    sps = [load_spec(d) for d in specs(SimpleNamespace(seed=0, device="cpu"), s, str(tmp_path))]
    todo = [(run_key(FUNCTION, c), c) for sp in sps for c in sp.configs()]
    batch = ENSEMBLE.batch()
    cut = tasks(batch, todo)
    assert sorted(k for t in cut for k, _ in t) == sorted(k for k, _ in todo)
    for t in cut:
        rest = {
            tuple(sorted((k, str(v)) for k, v in c.items() if k not in ("T", "seed"))) for _, c in t
        }
        assert len(rest) == 1
        assert 1 <= len(t) <= batch.size(t[0][1])
    assert len({(t[0][1]["batch"]) for t in cut}) == len(s.batches)
