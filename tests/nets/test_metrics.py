"""Full-gradient norm, weight change and evaluation against direct computations."""

from __future__ import annotations

import pytest
import torch

from sgdnoise.nets import (
    evaluate,
    full_gradient_norm,
    make_model,
    snapshot,
    synthetic_dataset,
    weight_change,
)
from sgdnoise.nets.losses import make_loss

F64 = torch.float64


def setup():
    d = synthetic_dataset(
        n_train=50, n_test=10, input_shape=(4,), num_classes=3, device="cpu", dtype=F64
    )
    net = make_model(
        "mlp", input_shape=(4,), num_outputs=3, width=7, dropout=0.4, device="cpu", dtype=F64
    )
    return d, net


def test_full_gradient_norm_is_the_full_batch_gradient():
    d, net = setup()
    g = full_gradient_norm(net, d.x_train, d.y_train, chunk_size=16)
    net.eval()  # no BN here, so eval mode == dropout off == measurement mode
    loss = make_loss("cross_entropy")(net(d.x_train), d.y_train).mean()
    grads = torch.autograd.grad(loss, list(net.parameters()))
    direct = torch.sqrt(sum((t**2).sum() for t in grads))
    assert g == pytest.approx(float(direct), rel=1e-12)


def test_weight_change_overall_and_per_layer():
    d, net = setup()
    w0 = snapshot(net)
    with torch.no_grad():
        first = net.net[1].weight
        first.mul_(1.5)  # ‖Δ‖ = 0.5 ‖w0‖ in that layer only
    wc = weight_change(net, w0)
    assert wc["per_layer"]["net.1"] == pytest.approx(0.5, rel=1e-12)
    assert wc["per_layer"]["net.4"] == 0.0
    total = sum(float((t**2).sum()) for t in w0.values())
    assert wc["overall"] == pytest.approx(0.5 * float(w0["net.1.weight"].norm()) / total**0.5)


def test_evaluate_accuracy_and_loss():
    d, net = setup()
    r = evaluate(net, d.x_test, d.y_test, chunk_size=3)
    assert net.training  # the previous mode is restored
    net.eval()
    with torch.no_grad():
        out = net(d.x_test)
    assert r["accuracy"] == pytest.approx(float((out.argmax(1) == d.y_test).double().mean()))
    assert r["loss"] == pytest.approx(float(make_loss("cross_entropy")(out, d.y_test).mean()))
