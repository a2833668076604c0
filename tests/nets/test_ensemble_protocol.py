"""The batched ensembles speak ``train``'s protocol: callbacks, schedules and SGW23's centred
members give every member exactly the run ``train`` gives it (CPU, one thread, MLP layer
stacks: bit for bit, records included — only the wall clock differs)."""

from __future__ import annotations

import pytest
import torch

from sgdnoise.errors import ParameterError
from sgdnoise.nets import make_model, synthetic_dataset, train
from sgdnoise.nets.ensemble import train_members
from sgdnoise.theory.schedules import scheduler_ii, scheduler_iii


def _data(n=100, **kw):
    return synthetic_dataset(
        n_train=n, n_test=40, input_shape=(1, 4, 4), device="cpu", **{"num_classes": 3, **kw}
    )


def _mlp(seed, **kw):
    kw = {"num_outputs": 3, **kw}
    return make_model("mlp", input_shape=(1, 4, 4), width=16, seed=seed, device="cpu", **kw)


def _diff(a, b):
    return max(
        float((p.double() - q.double()).abs().max())
        for p, q in zip(a.state_dict().values(), b.state_dict().values())
    )


def _records(res):
    return [{k: v for k, v in r.items() if k != "wall"} for r in res.history]


def _final(res):
    return {k: v for k, v in res.final.items() if k != "wall"}


def _same_run(a, b):
    assert (a.steps, a.stop_reason, a.diverged, a.diverged_step) == (
        b.steps, b.stop_reason, b.diverged, b.diverged_step,
    )  # fmt: skip
    assert a.time == b.time and a.epochs == b.epochs
    assert _records(a) == _records(b) and _final(a) == _final(b)


def test_callback_members_equal_train_with_the_same_callback():
    """The callback runs a forward pass in train mode (batch-norm statistics move, dropout
    draws from the global generator), draws a number, adds entries to the record, halves
    the readout once (the change is trained on) and stops member i at its own step."""
    d = _data()
    probe = d.x_train[:8]
    seeds, lrs = [0, 1, 2], [0.05, 0.1, 0.2]
    stop_at = [30, 1000, 50]  # member 1 runs to the end

    def cb(i, model, rec):
        assert model.training
        rec["probe"] = float(model(probe).sum().detach())
        rec["draw"] = float(torch.rand(()))
        rec["member"] = i
        if rec["step"] == 20:
            with torch.no_grad():
                model.net[-1].weight.mul_(0.5)
        return rec["step"] >= stop_at[i]

    build = lambda s: _mlp(s, batch_norm=True, dropout=0.2)
    nets = [build(s) for s in seeds]
    called = []
    res = train_members(
        nets, d, lrs=lrs, seeds=seeds, batch_size=10, max_steps=80, eval_every=10, callback=cb,
        on_stop=lambda i, m, r: called.append(i),
    )  # fmt: skip
    assert sorted(called) == [0, 1, 2]
    for i, (s, lr) in enumerate(zip(seeds, lrs)):
        ref = build(s)
        rr = train(ref, d, lr=lr, batch_size=10, max_steps=80, eval_every=10, seed=s,
                   callback=lambda m, r, i=i: cb(i, m, r))  # fmt: skip
        assert _diff(nets[i], ref) == 0.0
        _same_run(res[i], rr)
        assert "probe" in res[i].final and res[i].history[-1]["member"] == i
    assert [r.stop_reason for r in res] == ["callback", "max_steps", "callback"]
    assert [r.steps for r in res] == [30, 80, 50]


@pytest.mark.parametrize(
    "make",
    [
        lambda: scheduler_ii("cosine", 0.3, 8, 2.0, 2),  # B 8 → 16 → 32, short last batches
        lambda: scheduler_iii(0.05, 1.2, 8, 2.0, 2, eta_cap=0.2),  # η and B grow by stage
    ],
)
def test_a_shared_schedule_equals_train_with_it(make):
    """UI25's schedules (ii) and (iii): every step's η_k and B_k shared by the members."""
    d = _data()
    seeds = [0, 1, 2]
    nets = [_mlp(s) for s in seeds]
    res = train_members(nets, d, schedule=make(), seeds=seeds, epochs=6)
    for s, net, r in zip(seeds, nets, res):
        ref = _mlp(s)
        rr = train(ref, d, schedule=make(), epochs=6, seed=s)
        assert _diff(net, ref) == 0.0
        _same_run(r, rr)
        assert r.stop_reason == "schedule_end"
    assert len({h["batch_size"] for h in res[0].history}) == 3
    assert len({h["lr"] for h in res[0].history}) > 1
    with pytest.raises(ParameterError) as e:
        train_members(nets, d, schedule=make(), lrs=0.1, seeds=seeds, epochs=6)
    assert e.value.parameter == "lrs"
    with pytest.raises(ParameterError) as e:
        train_members(nets, d, schedule=make(), seeds=seeds, max_steps=6)
    assert e.value.parameter == "epochs"


def test_centred_members_equal_train_on_sgw23s_protocol():
    """SGW23's α-trick members (mean-field MLPs, o = f(w) − f(w0)): hinge loss with α,
    fresh batches, evaluations every 10 steps on the train set only, each member stopped
    when it fits every point — two fit at different steps, one runs to the cap."""
    d = _data(64, num_classes=2)
    seeds, lrs, alpha = [0, 1, 2], [1.0, 3.0, 30.0], 0.3
    build = lambda s: _mlp(s, num_outputs=1, parameterization="mean-field", centered=True)
    kw = dict(batch_size=8, max_steps=400, loss="hinge", alpha=alpha, sampling="fresh",
              stop_when_fitted=True, eval_every=10, eval_test=False)  # fmt: skip
    nets = [build(s) for s in seeds]
    res = train_members(nets, d, lrs=lrs, seeds=seeds, **kw)
    for s, lr, net, r in zip(seeds, lrs, nets, res):
        ref = build(s)
        rr = train(ref, d, lr=lr, seed=s, **kw)
        assert _diff(net, ref) == 0.0  # the frozen f(w0) copy included
        _same_run(r, rr)
    assert [r.stop_reason for r in res][:2] == ["fitted", "fitted"]
    assert res[0].steps != res[1].steps and res[2].stop_reason == "max_steps"
    with pytest.raises(ParameterError) as e:
        train_members([nets[0], _mlp(0, num_outputs=1)], d, lrs=0.1, seeds=[0, 1], **kw)
    assert e.value.parameter == "models"


@pytest.mark.parametrize("engine", ["cpu", "vmap"])
def test_centred_convnets(engine, monkeypatch):
    """Centred ConvNets: on CPU member by member, bit for bit with ``train`` (its default
    channels_last layout), records included; through ``vmap`` (the engine off the CPU,
    forced here) the batched convolutions reduce in another order than a single run's, so
    members agree with ``train(channels_last=False)`` to float32 rounding grown over 30
    steps (bound 1e-4, as for uncentred conv members), records to 1e-4."""
    from sgdnoise.nets import ensemble
    from sgdnoise.nets.ensemble_forward import VmapStack

    if engine == "vmap":
        monkeypatch.setattr(ensemble, "_engine", lambda nets, x: VmapStack(nets))
    d = synthetic_dataset(n_train=40, n_test=16, input_shape=(3, 8, 8), num_classes=2,
                          device="cpu")  # fmt: skip
    build = lambda s: make_model("convnet", input_shape=(3, 8, 8), num_outputs=1, width=1,
                                 parameterization="mean-field", centered=True, seed=s,
                                 device="cpu")  # fmt: skip
    seeds, lrs = [0, 1], [2.0, 4.0]
    kw = dict(batch_size=8, max_steps=30, loss="hinge", alpha=0.5, eval_every=10)
    nets = [build(s) for s in seeds]
    res = train_members(nets, d, lrs=lrs, seeds=seeds, **kw)
    for s, lr, net, r in zip(seeds, lrs, nets, res):
        ref = build(s)
        assert _diff(net, build(s)) > 0
        if engine == "cpu":
            _same_run(r, train(ref, d, lr=lr, seed=s, **kw))
            assert _diff(net, ref) == 0.0
            continue
        rr = train(ref, d, lr=lr, seed=s, channels_last=False, **kw)
        assert _diff(net, ref) < 1e-4
        for h, g in zip(r.history, rr.history):
            assert h["test_loss"] == pytest.approx(g["test_loss"], rel=1e-4)
            assert h["train_loss"] == pytest.approx(g["train_loss"], rel=1e-4)
