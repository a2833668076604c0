"""Batched ensembles follow separate trainer runs exactly: same batches, same init, same
update, bit for bit on CPU (one thread: the kernels then split no reduction differently),
with batch norm, dropout and SAM members, per-member divergence and per-member stopping."""

from __future__ import annotations

import pytest
import torch

from sgdnoise.errors import ParameterError
from sgdnoise.nets import make_model, synthetic_dataset, train, train_ensemble
from sgdnoise.nets.ensemble import MAX_MEMBERS, ensemble_size, train_members


def _data(n=100, dtype=torch.float32):
    return synthetic_dataset(
        n_train=n, n_test=40, input_shape=(1, 4, 4), num_classes=3, device="cpu", dtype=dtype
    )


def _mlp(seed, **kw):
    return make_model("mlp", input_shape=(1, 4, 4), num_outputs=3, width=16, seed=seed,
                      device="cpu", **kw)  # fmt: skip


def _same(a, b):
    """Largest absolute difference over parameters and buffers (running statistics)."""
    return max(
        float((p.double() - q.double()).abs().max())
        for p, q in zip(a.state_dict().values(), b.state_dict().values())
    )


def test_members_follow_single_runs_bit_for_bit_over_300_steps():
    """float32, 300 steps (30 epochs of 100 points in batches of 10), and 100 steps on 64
    points (every epoch ends with a short batch of 4): difference exactly 0."""
    for n, steps in ((100, 300), (64, 100)):
        d = _data(n)
        seeds, lrs = [0, 1, 2, 3], [0.05, 0.1, 0.2, 0.4]
        nets = [_mlp(s) for s in seeds]
        res = train_members(nets, d, lrs=lrs, seeds=seeds, batch_size=10, max_steps=steps)
        for s, lr, net, r in zip(seeds, lrs, nets, res):
            ref = _mlp(s)
            rr = train(ref, d, lr=lr, batch_size=10, max_steps=steps, seed=s)
            assert _same(net, ref) == 0.0
            assert r.steps == rr.steps == steps and r.stop_reason == rr.stop_reason
            assert [h["test_accuracy"] for h in r.history] == [
                h["test_accuracy"] for h in rr.history
            ]
            # losses: the evaluation sums per member in another order (rounding only)
            for h, g in zip(r.history, rr.history):
                assert h["train_loss"] == pytest.approx(g["train_loss"], rel=1e-6)
                assert h["time"] == g["time"] and h["weight_change"] == pytest.approx(
                    g["weight_change"], rel=1e-6
                )
        assert _same(nets[0], _mlp(0)) > 0  # it trained


def test_ntk_batch_norm_dropout_and_sam_members_equal_single_runs():
    """Per-member dropout p and SAM ρ (0 for some members: no second pass for them)."""
    d = _data()
    seeds, lrs = [0, 1, 2], [0.5, 1.0, 2.0]
    drops, rhos = [0.0, 0.2, 0.4], [0.05, 0.0, 0.1]

    def build(s, p):
        # one architecture (dropout layers in every member); p = 0 draws no mask
        net = _mlp(s, parameterization="ntk", batch_norm=True, dropout=0.5)
        for m in net.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = p
        return net

    nets = [build(s, p) for s, p in zip(seeds, drops)]
    train_members(nets, d, lrs=lrs, seeds=seeds, batch_size=10, max_steps=150, rho=rhos)
    for s, lr, p, rho, net in zip(seeds, lrs, drops, rhos, nets):
        ref = build(s, p)
        train(ref, d, lr=lr, batch_size=10, max_steps=150, seed=s, rho=rho)
        assert _same(net, ref) == 0.0


def test_a_diverging_member_is_recorded_and_masked():
    d = _data()
    seeds, lrs = [0, 1, 2], [0.1, 500.0, 0.2]
    nets = [_mlp(s) for s in seeds]
    res = train_members(nets, d, lrs=lrs, seeds=seeds, batch_size=10, epochs=4)
    ref = _mlp(1)
    rr = train(ref, d, lr=500.0, batch_size=10, epochs=4, seed=1)
    assert rr.diverged and res[1].diverged
    assert res[1].diverged_step == rr.diverged_step and res[1].steps == rr.steps
    assert _same(nets[1], ref) == 0.0  # the weights at the step it diverged
    for j in (0, 2):
        assert not res[j].diverged and res[j].steps == 40
        ref = _mlp(seeds[j])
        train(ref, d, lr=lrs[j], batch_size=10, epochs=4, seed=seeds[j])
        assert _same(nets[j], ref) == 0.0


def test_per_member_stopping_freezes_the_member_where_a_single_run_stops():
    d = _data()
    seeds, lrs = [0, 1, 2], [0.02, 0.5, 0.2]
    nets = [_mlp(s) for s in seeds]
    stopped = []
    res = train_members(
        nets, d, lrs=lrs, seeds=seeds, batch_size=10, epochs=30, target_train_accuracy=0.6,
        on_stop=lambda i, net, r: stopped.append((i, r.steps)),
    )  # fmt: skip
    steps = set()
    for s, lr, net, r in zip(seeds, lrs, nets, res):
        ref = _mlp(s)
        rr = train(ref, d, lr=lr, batch_size=10, epochs=30, seed=s, target_train_accuracy=0.6)
        assert (r.stop_reason, r.steps) == (rr.stop_reason, rr.steps)
        assert _same(net, ref) == 0.0
        steps.add(r.steps)
    assert len(steps) > 1  # members stopped at different epochs
    assert sorted(i for i, _ in stopped) == [0, 1, 2]


def test_evaluation_only_where_asked():
    d = _data()
    nets = [_mlp(0), _mlp(1)]
    res = train_members(nets, d, lrs=0.1, seeds=[0, 1], batch_size=10, epochs=5,
                        train_eval_epochs=(), test_eval_epochs=(4, 5))  # fmt: skip
    ref = _mlp(0)
    full = train(ref, d, lr=0.1, batch_size=10, epochs=5, seed=0).history
    h = res[0].history
    assert [r["epoch"] for r in h] == [4, 5]
    assert "train_accuracy" not in h[0] and "train_accuracy" in h[1]  # the last has it
    assert [r["test_accuracy"] for r in h] == [r["test_accuracy"] for r in full[3:]]


def test_float64_and_old_api():
    d = _data(dtype=torch.float64)
    build = lambda s: _mlp(s, dtype=torch.float64)
    models = train_ensemble(build, d, lrs=[0.1, 0.3], seeds=[3, 4], batch_size=10, steps=50)
    for s, lr, m in zip([3, 4], [0.1, 0.3], models):
        ref = build(s)
        train(ref, d, lr=lr, batch_size=10, max_steps=50, seed=s, eval_test=False)
        assert _same(m, ref) == 0.0


def test_vmap_engine_for_convnets_agrees_to_rounding(monkeypatch):
    """Off the CPU non-MLP architectures go through vmap (forced here): not bit for bit
    (batched convolutions reduce in another order), within float32 rounding amplified over
    20 steps (tests/nets/test_ensemble_conv.py: BN, 200 steps, and the exact CPU engine)."""
    from sgdnoise.nets import ensemble
    from sgdnoise.nets.ensemble_forward import VmapStack

    monkeypatch.setattr(ensemble, "_engine", lambda nets, x: VmapStack(nets))
    d = synthetic_dataset(n_train=40, n_test=8, input_shape=(3, 8, 8), num_classes=3,
                          device="cpu")  # fmt: skip
    build = lambda s: make_model("convnet", input_shape=(3, 8, 8), num_outputs=3, width=1,
                                 seed=s, device="cpu")  # fmt: skip
    nets = [build(0), build(1)]
    train_members(nets, d, lrs=[0.05, 0.1], seeds=[0, 1], batch_size=8, max_steps=20,
                  eval_test=False)  # fmt: skip
    for s, lr, net in zip([0, 1], [0.05, 0.1], nets):
        ref = build(s)
        train(ref, d, lr=lr, batch_size=8, max_steps=20, seed=s, eval_test=False,
              channels_last=False)  # fmt: skip
        assert 0 < _same(net, build(s)) and _same(net, ref) < 1e-4


def test_ensemble_size_from_model_size():
    small = make_model("mlp", input_shape=(3, 8, 8), num_outputs=10, width=32, device="cpu")
    mid = make_model("mlp", input_shape=(3, 8, 8), num_outputs=10, width=128, device="cpu")
    big = make_model("mlp", input_shape=(3, 8, 8), num_outputs=10, width=512, device="cpu")
    sizes = [ensemble_size(m, batch_size=32, device="cpu") for m in (small, mid, big)]
    assert MAX_MEMBERS >= sizes[0] > sizes[1] > sizes[2] >= 1
    assert sizes[2] <= 8  # width 512: a few members keep the working set in cache
    huge = make_model("mlp", input_shape=(3, 8, 8), num_outputs=10, width=2048, device="cpu")
    assert ensemble_size(huge, batch_size=32, device="cpu") == 1


def test_bad_input():
    d = _data(8)
    nets = [_mlp(0), _mlp(1)]
    with pytest.raises(ParameterError) as e:
        train_members(nets, d, lrs=[0.1], seeds=[0, 1], batch_size=2, max_steps=1)
    assert e.value.parameter == "lrs"
    with pytest.raises(ParameterError) as e:
        train_members(nets, d, lrs=0.1, seeds=[0], batch_size=2, max_steps=1)
    assert e.value.parameter == "seeds"
    with pytest.raises(ParameterError) as e:
        train_members(nets, d, lrs=0.1, seeds=[0, 1], batch_size=9, max_steps=1)
    assert e.value.parameter == "batch_size"
    wide = make_model("mlp", input_shape=(1, 4, 4), num_outputs=3, width=8, device="cpu")
    with pytest.raises(ParameterError) as e:
        train_members([nets[0], wide], d, lrs=0.1, seeds=[0, 1], batch_size=2, max_steps=1)
    assert e.value.parameter == "models"
    with pytest.raises(ParameterError) as e:
        train_ensemble(_mlp, d, lrs=[0.1], seeds=[0, 1], batch_size=2, steps=1)
    assert e.value.parameter == "lrs"


def test_a_stopped_member_is_measured_as_a_plain_model():
    """KCL23's protocol per member: at the first evaluation with train accuracy ≥ 0.6, λmax
    (sgdnoise.nets.hessian), ‖∇L‖ and ‖w − w0‖ of the frozen member equal those of the single
    run stopped by the same criterion (same weights, same measurement code)."""
    from sgdnoise.nets import full_gradient_norm, hessian_top_eigenvalues

    d = _data()
    x, y = d.x_train[:64], d.y_train[:64]

    def measure(net, res):
        lam = hessian_top_eigenvalues(net, x, y, k=1, tol=1e-6).eigenvalues[0]
        return float(lam), full_gradient_norm(net, x, y), res.final["weight_change"]

    got = {}
    nets = [_mlp(0), _mlp(1)]
    train_members(
        nets, d, lrs=[0.3, 0.1], seeds=[0, 1], batch_size=10, epochs=20,
        target_train_accuracy=0.6, on_stop=lambda i, net, r: got.update({i: measure(net, r)}),
    )  # fmt: skip
    for i, (s, lr) in enumerate([(0, 0.3), (1, 0.1)]):
        ref = _mlp(s)
        rr = train(ref, d, lr=lr, batch_size=10, epochs=20, seed=s, target_train_accuracy=0.6)
        want = measure(ref, rr)
        assert got[i][:2] == want[:2]
        assert got[i][2] == pytest.approx(want[2], rel=1e-6)
