"""Convolutional members with batch norm (stacked running statistics updated per member in
train mode, used in eval mode) against single ``train`` runs over 200 steps, through both
engines: on CPU member by member (``LoopStack``: bit for bit, records included, with batch
norm, dropout and SAM), and through ``vmap`` (the CUDA engine, forced here on CPU).

Tolerance, and why: ``vmap``'s batched convolutions reduce in another order than a single
network's, so a member's weights differ from its single run's by one rounding after the
first step, and that difference then grows at the dynamics' own rate.  In float64 (rounding
1e-16) the measured difference after 200 steps is ≤ 2e-15: the same algorithm — batches,
update, SAM's second pass, running statistics — to rounding (bound 1e-12).  In float32 the
growth is not smooth: at a kink (a ReLU or max-pool choice flipping on a 1e-7 difference) it
jumps, measured 2e-7 for most members but 1e-3 for some (BN ConvNet with SAM; BN ResNet-small
seeds) — and ``train`` itself moves exactly as far when only its memory layout changes
(channels_last vs contiguous, another rounding order: 1.07e-3 vs the ensemble's 1.07e-3 on
the SAM member below).  So the float32 bound is relative to that: the ensemble is no
further from ``train`` than 3× ``train``'s own layout difference (or 1e-5).  ``train`` runs
conv nets in channels_last by default; the reference run passes ``channels_last=False``,
the layout the ensemble uses.
"""

from __future__ import annotations

import pytest
import torch

from sgdnoise.nets import ensemble, make_model, synthetic_dataset, train
from sgdnoise.nets.ensemble import ensemble_size, train_members
from sgdnoise.nets.ensemble_forward import LoopStack, VmapStack


@pytest.fixture
def vmap_engine(monkeypatch):
    """Every non-MLP ensemble through ``vmap`` (the engine off the CPU)."""
    monkeypatch.setattr(ensemble, "_engine", lambda nets, x: VmapStack(nets))


def _diffs(a, b):
    """Largest absolute differences: (trainable weights, running statistics); and whether
    the step counters agree."""
    sa, sb = a.state_dict(), b.state_dict()
    d = {k: float((sa[k].double() - sb[k].double()).abs().max()) for k in sa}
    w = max(v for k, v in d.items() if "running" not in k and "num_batches" not in k)
    stats = max(v for k, v in d.items() if "running" in k)
    counts = all(torch.equal(sa[k], sb[k]) for k in sa if "num_batches" in k)
    return w, stats, counts


def _task(dtype, steps=200, **kw):
    d = synthetic_dataset(n_train=64, n_test=32, input_shape=(3, 8, 8), num_classes=3,
                          device="cpu", dtype=dtype)  # fmt: skip
    build = lambda s: make_model("convnet", input_shape=(3, 8, 8), num_outputs=3, width=1,
                                 batch_norm=True, seed=s, device="cpu", dtype=dtype,
                                 **kw)  # fmt: skip
    return d, build, dict(batch_size=16, max_steps=steps, eval_every=50)


def test_cpu_members_equal_train_bit_for_bit_with_bn_dropout_and_sam():
    """The CPU engine runs each member through a single run's kernels in ``train``'s
    default layout (channels_last) and random streams: weights, running statistics,
    step counters and records equal ``train``'s exactly over 100 float32 steps."""
    d, build, kw = _task(torch.float32, steps=100, dropout=0.3)
    seeds, lrs, rhos = [0, 1, 2], [0.02, 0.05, 0.1], [0.0, 0.05, 0.0]
    nets = [build(s) for s in seeds]
    res = train_members(nets, d, lrs=lrs, seeds=seeds, rho=rhos, **kw)
    for s, lr, rho, net, r in zip(seeds, lrs, rhos, nets, res):
        ref = build(s)
        rr = train(ref, d, lr=lr, seed=s, rho=rho, **kw)
        assert _diffs(net, ref)[:2] == (0.0, 0.0) and _diffs(net, ref)[2]
        assert _diffs(net, build(s))[1] > 0.1  # trained, statistics moved
        assert (r.steps, r.stop_reason) == (rr.steps, rr.stop_reason)
        strip = lambda h: [{k: v for k, v in x.items() if k != "wall"} for x in h]
        assert strip(r.history) == strip(rr.history)
        assert r.final["weight_change_per_layer"] == rr.final["weight_change_per_layer"]


@pytest.mark.parametrize("batch_norm", [False, True])
def test_cpu_vgg_members_on_one_channel_images_equal_train_bit_for_bit(batch_norm):
    """KCL23's VGG (conv-conv-maxpool blocks, global pool, flatten, linear) on 1-channel
    images: the first conv's weight ``[C, 1, 3, 3]`` has an ambiguous layout, which
    ``train``'s ``Module.to(channels_last)`` restrides and ``.contiguous`` does not — and
    oneDNN picks its path from the strides (1e-7 apart after one step before the engine
    took ``train``'s ``Tensor.to``).  Weights, statistics and records exactly equal over
    80 float32 steps, two members."""
    d = synthetic_dataset(n_train=64, n_test=32, input_shape=(1, 7, 7), num_classes=3,
                          device="cpu", dtype=torch.float32)  # fmt: skip
    build = lambda s: make_model("vgg", input_shape=(1, 7, 7), num_outputs=3, width=1,
                                 depth=2, batch_norm=batch_norm, seed=s,
                                 device="cpu")  # fmt: skip
    kw = dict(batch_size=16, max_steps=80, eval_every=40)
    seeds, lrs = [0, 1], [0.1, 0.05]
    nets = [build(s) for s in seeds]
    res = train_members(nets, d, lrs=lrs, seeds=seeds, **kw)
    for s, lr, net, r in zip(seeds, lrs, nets, res):
        ref = build(s)
        rr = train(ref, d, lr=lr, seed=s, **kw)
        sa, sb = net.state_dict(), ref.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
        assert not torch.equal(sa["features.0.weight"], build(s).state_dict()["features.0.weight"])
        strip = lambda h: [{k: v for k, v in x.items() if k != "wall"} for x in h]
        assert strip(r.history) == strip(rr.history)
        assert r.final["weight_change_per_layer"] == rr.final["weight_change_per_layer"]


def test_ensemble_size_counts_conv_activations_and_loops_on_cpu():
    """Activations per input counted by hooks on every leaf module; by hand for the
    ConvNet on 8×8: conv, BN, act of 16·8·8, pool 16·4·4, conv/BN/act 32·4·4, pool 32·2·2,
    conv/BN/act 64·2·2, pool 64, global pool 64, flatten 64, readout 3."""
    net = make_model("convnet", input_shape=(3, 8, 8), num_outputs=3, width=1,
                     batch_norm=True, device="cpu")  # fmt: skip
    by_hand = 3 * 1024 + 256 + 3 * 512 + 128 + 3 * 256 + 64 + 64 + 64 + 3
    assert ensemble._activations(net, (3, 8, 8)) == by_hand
    assert ensemble_size(net, batch_size=32, device="cpu") == ensemble.CPU_LOOP_MEMBERS
    assert isinstance(ensemble._engine([net], torch.zeros(1, 3, 8, 8)), LoopStack)


def test_bn_convnet_members_follow_single_runs_over_200_steps_float64(vmap_engine):
    d, build, kw = _task(torch.float64)
    tol = 1e-12
    seeds, lrs, rhos = [0, 1], [0.02, 0.05], [0.0, 0.05]
    nets = [build(s) for s in seeds]
    res = train_members(nets, d, lrs=lrs, seeds=seeds, rho=rhos, **kw)
    for s, lr, rho, net, r in zip(seeds, lrs, rhos, nets, res):
        ref = build(s)
        rr = train(ref, d, lr=lr, seed=s, rho=rho, channels_last=False, **kw)
        w, stats, counts = _diffs(net, ref)
        assert w < tol and stats < 10 * tol and counts  # statistics are of order 1–10
        assert _diffs(net, build(s))[1] > 0.1  # trained, statistics moved
        assert (r.steps, r.stop_reason) == (rr.steps, rr.stop_reason)
        # evaluations in eval mode read the stacked running statistics
        assert [h["test_accuracy"] for h in r.history] == [h["test_accuracy"] for h in rr.history]
        for h, g in zip(r.history, rr.history):
            assert h["test_loss"] == pytest.approx(g["test_loss"], rel=100 * tol)


def test_bn_convnet_members_in_float32_within_trains_own_layout_difference(vmap_engine):
    d, build, kw = _task(torch.float32)
    seeds, lrs, rhos = [0, 1], [0.02, 0.05], [0.0, 0.05]
    nets = [build(s) for s in seeds]
    train_members(nets, d, lrs=lrs, seeds=seeds, rho=rhos, **kw)
    for s, lr, rho, net in zip(seeds, lrs, rhos, nets):
        plain, nhwc = build(s), build(s)
        train(plain, d, lr=lr, seed=s, rho=rho, channels_last=False, **kw)
        train(nhwc, d, lr=lr, seed=s, rho=rho, channels_last=True, **kw)
        layout = _diffs(nhwc, plain)[0]
        w, _, counts = _diffs(net, plain)
        assert 0 < w <= max(1e-5, 3 * layout) and counts


def test_vmap_members_draw_their_own_dropout_masks(vmap_engine):
    """Through ``vmap`` each member's dropout mask is drawn from its own stream with its own
    p (0, 0.2, 0.5 here), as a single run draws it: members agree with ``train`` to float32
    rounding over 30 steps (another mask would move a member by O(0.1))."""
    d, build0, kw = _task(torch.float32, steps=30, dropout=0.5)

    def build(s, p):
        net = build0(s)
        for m in net.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = p
        return net

    seeds, ps = [0, 1, 2], [0.0, 0.2, 0.5]
    nets = [build(s, p) for s, p in zip(seeds, ps)]
    train_members(nets, d, lrs=0.05, seeds=seeds, **kw)
    for s, p, net in zip(seeds, ps, nets):
        ref = build(s, p)
        train(ref, d, lr=0.05, seed=s, channels_last=False, **kw)
        assert _diffs(net, ref)[0] < 1e-4
        assert _diffs(net, build(s, p))[0] > 1e-2  # trained
