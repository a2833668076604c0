"""The torch paths on every device this machine has: CPU always, CUDA when present.

These are the tests ``benchmarks/gpu_check.py`` runs on a GPU machine.  On a device other
than the CPU a run is compared with the same run on the CPU: the kernels differ (cuBLAS
splits reductions differently), so agreement is to a stated tolerance, not bit for bit —
after 40 SGD steps of a small MLP in float64 the trajectories differ by rounding grown at
the dynamics' own rate, well under 1e-8; λmax by Lanczos to its stated 1e-6 tolerance.
"""

from __future__ import annotations

import pytest
import torch

from sgdnoise.nets import (
    full_gradient_norm,
    hessian_top_eigenvalues,
    load_dataset,
    make_model,
    synthetic_dataset,
    train,
    train_members,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _task(device):
    return synthetic_dataset(
        n_train=128, n_test=64, input_shape=(12,), num_classes=3, seed=0, device=device,
        dtype=torch.float64,
    )  # fmt: skip


def _net(device, seed=0, **kw):
    return make_model(
        "mlp", input_shape=(12,), num_outputs=3, width=32, depth=2, seed=seed, device=device,
        dtype=torch.float64, **kw,
    )  # fmt: skip


def _flat(net):
    return torch.cat([p.detach().reshape(-1).cpu() for p in net.parameters()])


@pytest.mark.parametrize("device", DEVICES)
def test_trainer_on_device_matches_cpu(device):
    runs = {}
    for d in {"cpu", device}:
        net = _net(d)
        res = train(net, _task(d), lr=0.1, batch_size=16, max_steps=40, seed=3)
        assert not res.diverged
        assert next(net.parameters()).device.type == d
        runs[d] = _flat(net)
    assert torch.allclose(runs[device], runs["cpu"], rtol=0, atol=1e-8)


@pytest.mark.parametrize("device", DEVICES)
def test_ensemble_members_follow_their_single_runs_on_device(device):
    data = _task(device)
    lrs, seeds = [0.05, 0.1, 0.2], [0, 1, 2]
    members = [_net(device, s, batch_norm=False) for s in seeds]
    train_members(members, data, lrs=lrs, seeds=seeds, batch_size=16, max_steps=40)
    for m, lr, s in zip(members, lrs, seeds, strict=True):
        single = _net(device, s, batch_norm=False)
        train(single, data, lr=lr, batch_size=16, max_steps=40, seed=s)
        # bit for bit on one CPU thread (tests/nets/test_ensemble.py); on CUDA batched and
        # single kernels round differently: rounding grown over 40 steps
        tol = 0.0 if device == "cpu" else 1e-8
        assert torch.allclose(_flat(m), _flat(single), rtol=0, atol=tol)


@pytest.mark.parametrize("device", DEVICES)
def test_hessian_and_gradient_norm_on_device_match_cpu(device):
    vals = {}
    for d in {"cpu", device}:
        data, net = _task(d), _net(d)
        train(net, data, lr=0.1, batch_size=16, max_steps=40, seed=3)
        spec = hessian_top_eigenvalues(net, data.x_train, data.y_train, tol=1e-6)
        assert spec.converged and spec.bound <= 1e-6 * abs(spec.value)
        vals[d] = (spec.value, full_gradient_norm(net, data.x_train, data.y_train))
    assert vals[device][0] == pytest.approx(vals["cpu"][0], rel=1e-5)
    assert vals[device][1] == pytest.approx(vals["cpu"][1], rel=1e-6)


@pytest.mark.realdata
@pytest.mark.parametrize("device", DEVICES)
def test_real_data_lands_on_the_device(device, shared_data):
    data = load_dataset(
        "cifar10", data_dir=shared_data, n_train=64, n_test=32, seed=0, device=device
    )
    assert data.x_train.device.type == device and data.y_test.device.type == device
    cpu = load_dataset("cifar10", data_dir=shared_data, n_train=64, n_test=32, seed=0, device="cpu")
    assert torch.equal(data.x_train.cpu(), cpu.x_train)
