"""The SGD trainer against hand-written references: plain SGD, SAM, schedules, sampling,
stopping rules, divergence as a result, determinism and bad input."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from sgdnoise.errors import ParameterError
from sgdnoise.nets import make_model, synthetic_dataset, train
from sgdnoise.nets.losses import make_loss
from sgdnoise.nets.sampling import BatchSampler

F64 = torch.float64


def data(n=40, classes=3, shape=(6,), seed=0):
    return synthetic_dataset(
        n_train=n,
        n_test=10,
        input_shape=shape,
        num_classes=classes,
        seed=seed,
        device="cpu",
        dtype=F64,
    )


def mlp(seed=0, outputs=3, **kw):
    return make_model(
        "mlp",
        input_shape=(6,),
        num_outputs=outputs,
        width=8,
        depth=2,
        seed=seed,
        device="cpu",
        dtype=F64,
        **kw,
    )


def params(m):
    return [p.detach().clone() for p in m.parameters()]


def reference_sgd(model, d, lr, batch, steps, seed, sampling="epoch", rho=0.0):
    """torch.optim.SGD (and a textbook SAM) on the same batches as the trainer."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    sampler = BatchSampler(d.n_train, sampling, seed)
    loss = make_loss("cross_entropy")
    per_epoch = math.ceil(d.n_train / batch)
    for k in range(steps):
        idx = sampler.next(batch, k // per_epoch)
        xb, yb = d.x_train[idx], d.y_train[idx]
        opt.zero_grad()
        loss(model(xb), yb).mean().backward()
        if rho > 0:
            g = [p.grad.clone() for p in model.parameters()]
            norm = torch.sqrt(sum((t**2).sum() for t in g))
            with torch.no_grad():
                for p, t in zip(model.parameters(), g):
                    p.add_(rho * t / norm)
            opt.zero_grad()
            loss(model(xb), yb).mean().backward()
            with torch.no_grad():
                for p, t in zip(model.parameters(), g):
                    p.sub_(rho * t / norm)
        opt.step()


@pytest.mark.parametrize("sampling", ["epoch", "replacement", "fresh"])
def test_matches_torch_optim_sgd(sampling):
    d = data()
    a, b = mlp(), mlp()
    r = train(a, d, lr=0.3, batch_size=7, max_steps=23, sampling=sampling, seed=4)
    reference_sgd(b, d, 0.3, 7, 23, 4, sampling)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-13)
    assert r.steps == 23 and r.stop_reason == "max_steps"
    assert r.time == pytest.approx(23 * 0.3)


def test_sam_matches_textbook():
    d = data()
    a, b = mlp(), mlp()
    train(a, d, lr=0.2, batch_size=10, max_steps=9, rho=0.05, seed=1)
    reference_sgd(b, d, 0.2, 10, 9, 1, rho=0.05)
    for p, q in zip(a.parameters(), b.parameters()):
        # restoring w after the ascent step by subtraction (the reference) vs by copy (the
        # trainer) differs by rounding: ~1e-16 per step
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)
    c = mlp()
    train(c, d, lr=0.2, batch_size=10, max_steps=9, rho=0.0, seed=1)
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_epoch_sampler_is_a_permutation_per_epoch():
    s = BatchSampler(10, "epoch", seed=0)
    e0 = torch.cat([s.next(4, 0) for _ in range(3)])
    e1 = torch.cat([s.next(4, 1) for _ in range(3)])
    assert sorted(e0.tolist()) == list(range(10)) == sorted(e1.tolist())
    assert not torch.equal(e0, e1)
    fresh = BatchSampler(10, "fresh", 0).next(10, 0)
    assert sorted(fresh.tolist()) == list(range(10))
    # with replacement: 200 draws of 10 from 10 points must repeat somewhere
    rep = BatchSampler(10, "replacement", 0)
    assert any(len(set(rep.next(10, 0).tolist())) < 10 for _ in range(200))


def test_duck_typed_schedule_is_followed():
    class Halving:
        def expand(self, n_train, epochs):
            per = [math.ceil(n_train / b) for b in (8, 16)][:epochs]
            lr = np.concatenate([np.full(per[0], 0.4), np.full(per[1], 0.2)])
            bs = np.concatenate([np.full(per[0], 8), np.full(per[1], 16)])
            ep = np.concatenate([np.zeros(per[0], int), np.ones(per[1], int)])
            return SimpleNamespace(lr=lr, batch_size=bs, epoch=ep)

    d = data(n=40)
    r = train(mlp(), d, schedule=Halving(), epochs=2)
    assert r.steps == 5 + 3 and r.time == pytest.approx(5 * 0.4 + 3 * 0.2)
    assert [h["batch_size"] for h in r.history] == [8, 16]
    assert [h["epoch"] for h in r.history] == [1, 2]
    assert r.epochs == pytest.approx(2.0) and r.stop_reason == "schedule_end"
    with pytest.raises(ParameterError) as e:
        train(mlp(), d, schedule=Halving(), epochs=2, lr=0.1)
    assert e.value.parameter == "schedule"
    with pytest.raises(ParameterError) as e:
        train(mlp(), d, schedule=object(), epochs=2)
    assert e.value.parameter == "schedule"


def test_deterministic_on_cpu_with_dropout():
    d = data()
    a, b, c = mlp(dropout=0.3), mlp(dropout=0.3), mlp(dropout=0.3)
    train(a, d, lr=0.1, batch_size=8, epochs=2, seed=7)
    train(b, d, lr=0.1, batch_size=8, epochs=2, seed=7)
    train(c, d, lr=0.1, batch_size=8, epochs=2, seed=8)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_divergence_is_a_result():
    d = data()
    r = train(mlp(), d, lr=1e4, batch_size=40, epochs=50, loss="mse")
    assert r.diverged and r.stop_reason == "diverged"
    assert isinstance(r.diverged_step, int) and 0 < r.diverged_step < 50
    assert r.steps == r.diverged_step
    assert not math.isfinite(r.final["train_loss"]) or r.final["train_loss"] > 1e3


def test_stop_when_fitted_with_hinge():
    # linearly separable binary teacher task; α-trick centred scalar output
    d = synthetic_dataset(
        n_train=30, n_test=10, input_shape=(6,), num_classes=2, seed=2, device="cpu", dtype=F64
    )
    net = make_model(
        "mlp", input_shape=(6,), num_outputs=1, width=32, centered=True, device="cpu", dtype=F64
    )
    r = train(
        net,
        d,
        lr=0.5,
        batch_size=5,
        loss="hinge",
        alpha=2.0,
        sampling="fresh",
        stop_when_fitted=True,
        eval_every=6,
        max_steps=5000,
    )
    assert r.stop_reason == "fitted" and r.final["train_fitted"] == 1.0
    with torch.no_grad():
        s = 2.0 * d.y_train - 1
        assert float((2.0 * s * net(d.x_train)[:, 0]).min()) >= 1.0


def test_train_accuracy_threshold_and_history():
    d = data(n=60)
    seen = []
    r = train(
        mlp(),
        d,
        lr=0.5,
        batch_size=10,
        epochs=200,
        target_train_accuracy=0.9,
        callback=lambda m, rec: seen.append(rec["step"]),
    )
    assert r.stop_reason == "train_accuracy" and r.final["train_accuracy"] >= 0.9
    assert seen[-1] == r.steps  # the callback saw the record that stopped the run
    assert r.history[-2]["train_accuracy"] < 0.9
    assert {"test_loss", "test_accuracy", "weight_change"} <= set(r.final)


def test_momentum_and_weight_decay_against_torch_optim():
    d = data()
    a, b = mlp(), mlp()
    train(a, d, lr=0.1, batch_size=8, max_steps=11, momentum=0.9, weight_decay=1e-3, seed=2)
    opt = torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    s = BatchSampler(d.n_train, "epoch", 2)
    for k in range(11):
        idx = s.next(8, k // 5)
        opt.zero_grad()
        make_loss("cross_entropy")(b(d.x_train[idx]), d.y_train[idx]).mean().backward()
        opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize(
    "kwargs,parameter",
    [
        (dict(rho=-0.1), "rho"),
        (dict(lr=-1.0), "lr"),
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=41), "batch_size"),
        (dict(sampling="poisson"), "sampling"),
        (dict(loss="l1"), "loss"),
        (dict(lr_scale={"nope": 2.0}), "lr_scale"),
        (dict(max_steps=None), "max_steps"),
        (dict(momentum=1.0), "momentum"),
        (dict(target_train_accuracy=1.5), "target_train_accuracy"),
    ],
)
def test_bad_input(kwargs, parameter):
    args = dict(lr=0.1, batch_size=8, max_steps=3)
    args.update(kwargs)
    with pytest.raises(ParameterError) as e:
        train(mlp(), data(), **args)
    assert e.value.parameter == parameter


def test_centered_training_with_precomputed_offsets_matches_the_frozen_copy(monkeypatch):
    # the trainer computes f(w0, x) once for a centred net; the same run with the frozen copy
    # evaluated on every batch (initial_outputs disabled) must follow the same trajectory
    # up to float64 rounding of the subtraction order
    from sgdnoise.nets.models import CenteredOutput

    d = synthetic_dataset(
        n_train=40, n_test=20, input_shape=(6,), num_classes=2, seed=4, device="cpu", dtype=F64
    )

    def run():
        net = make_model(
            "mlp", input_shape=(6,), num_outputs=1, width=16, centered=True, seed=1,
            parameterization="mean-field", device="cpu", dtype=F64,
        )  # fmt: skip
        calls = []
        net.initial.register_forward_hook(lambda *a: calls.append(1))
        r = train(net, d, lr=2.0, batch_size=8, loss="hinge", alpha=3.0, sampling="fresh",
                  max_steps=60, eval_every=5, seed=2)  # fmt: skip
        return r, torch.cat([p.detach().flatten() for p in net.parameters()]), len(calls)

    fast, w_fast, calls_fast = run()
    monkeypatch.setattr(CenteredOutput, "initial_outputs", lambda self, x, chunk_size=0: None)
    slow, w_slow, calls_slow = run()
    assert calls_fast == 2 and calls_slow > 60  # once per set, against once per batch
    assert torch.allclose(w_fast, w_slow, rtol=0, atol=1e-10)
    for a, b in zip(fast.history, slow.history):
        for k in ("train_loss", "test_loss", "train_fitted", "weight_change"):
            assert a[k] == pytest.approx(b[k], rel=1e-9, abs=1e-12)
