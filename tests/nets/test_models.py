"""Model factory: every architecture × parameterization, the parameterizations' defining
properties, the α-trick centring, seeded initialization and bad input."""

from __future__ import annotations

import math

import pytest
import torch

from sgdnoise.errors import ParameterError
from sgdnoise.nets import make_model, scaled_layers
from sgdnoise.nets.models import ARCHITECTURES
from sgdnoise.nets.parameterization import RELU_NORMALIZER, to_standard

SHAPE = (3, 32, 32)


@pytest.mark.parametrize("arch", [a for a in ARCHITECTURES if a != "resnet18"])
@pytest.mark.parametrize("p", ["standard", "ntk", "mean-field"])
def test_forward_shapes(arch, p):
    net = make_model(
        arch,
        input_shape=SHAPE,
        num_outputs=10,
        width=1,
        parameterization=p,
        batch_norm=True,
        dropout=0.1,
        device="cpu",
    )
    out = net(torch.randn(4, *SHAPE))
    assert out.shape == (4, 10) and torch.isfinite(out).all()


def test_resnet18_shape_and_size():
    net = make_model("resnet18", input_shape=SHAPE, num_outputs=10, batch_norm=True, device="cpu")
    # ResNet-18 for CIFAR has ~11.2M parameters
    assert 11.0e6 < sum(p.numel() for p in net.parameters()) < 11.3e6
    assert net(torch.randn(2, *SHAPE)).shape == (2, 10)


def test_widening_factor_scales_channels():
    n1 = sum(
        p.numel() for p in make_model("convnet", input_shape=SHAPE, num_outputs=10).parameters()
    )
    n2 = sum(
        p.numel()
        for p in make_model("convnet", input_shape=SHAPE, num_outputs=10, width=2).parameters()
    )
    # conv weights grow ~k² (all but the first layer)
    assert 3.0 < n2 / n1 < 4.0


@pytest.mark.parametrize("arch", ["mlp", "convnet", "resnet-small"])
def test_ntk_and_standard_are_the_same_function_at_init(arch):
    """Same seed ⇒ same Gaussian draws z: standard u = z σ/√n, NTK c·u = (σ/√n) z."""
    kw = dict(input_shape=SHAPE, num_outputs=3, width=2, seed=5, device="cpu", dtype=torch.float64)
    a = make_model(arch, parameterization="standard", **kw)
    b = make_model(arch, parameterization="ntk", **kw)
    x = torch.randn(6, *SHAPE, dtype=torch.float64)
    torch.testing.assert_close(a(x), b(x), rtol=1e-12, atol=1e-12)
    for layer in scaled_layers(b).values():
        assert float(layer.weight.std()) == pytest.approx(1.0, abs=0.5)
        assert layer.multiplier == pytest.approx(math.sqrt(layer.sigma_w2 / layer.fan_in))


def test_mean_field_scalings():
    net = make_model(
        "mlp",
        input_shape=(20,),
        num_outputs=1,
        width=64,
        depth=2,
        parameterization="mean-field",
        device="cpu",
    )
    layers = list(scaled_layers(net).values())
    assert layers[0].multiplier == pytest.approx(1 / math.sqrt(20))
    assert layers[1].multiplier == pytest.approx(1 / 8)
    assert layers[-1].multiplier == pytest.approx(1 / 64)  # readout 1/h
    # normalized activation: E[(√2 relu(z))²] = 1 for z ~ N(0,1); Monte Carlo, 1e6 draws:
    # std error of the mean of a chi-square-like variable ≈ 1.7e-3, so 1e-2 is > 5σ.
    z = torch.randn(1_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float((RELU_NORMALIZER * torch.relu(z)).pow(2).mean()) == pytest.approx(1.0, abs=1e-2)


def test_centered_output_is_zero_at_init_and_frozen_copy_not_trained():
    net = make_model("mlp", input_shape=(5,), num_outputs=1, width=8, centered=True, device="cpu")
    x = torch.randn(10, 5)
    assert torch.equal(net(x), torch.zeros(10, 1))
    names = [n for n, _ in net.named_parameters()]
    assert names and all(n.startswith("model.") for n in names)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1)
    assert net(x).abs().max() > 0
    assert "initial.net.1.weight" in dict(net.named_buffers())


def test_seeded_initialization():
    kw = dict(input_shape=SHAPE, num_outputs=10, device="cpu")
    a, b = make_model("convnet", seed=1, **kw), make_model("convnet", seed=1, **kw)
    c = make_model("convnet", seed=2, **kw)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_to_standard_twin_rates():
    net = make_model(
        "mlp",
        input_shape=(7,),
        num_outputs=2,
        width=5,
        depth=1,
        parameterization="ntk",
        device="cpu",
        dtype=torch.float64,
    )
    twin, scale = to_standard(net)
    x = torch.randn(3, 7, dtype=torch.float64)
    torch.testing.assert_close(net(x), twin(x), rtol=1e-14, atol=1e-14)
    assert scale["net.1.weight"] == pytest.approx(2.0 / 7)
    assert scale["net.3.weight"] == pytest.approx(1.0 / 5)  # readout σ_w² = 1
    assert "net.1.bias" not in scale


@pytest.mark.parametrize(
    "kwargs,parameter",
    [
        (dict(architecture="transformer"), "architecture"),
        (dict(parameterization="mup"), "parameterization"),
        (dict(width=0), "width"),
        (dict(width=1.5), "width"),
        (dict(dropout=1.0), "dropout"),
        (dict(dropout=-0.1), "dropout"),
        (dict(depth=0), "depth"),
        (dict(num_outputs=0), "num_outputs"),
        (dict(input_shape=(3, 0, 4)), "input_shape"),
        (dict(device="tpu"), "device"),
    ],
)
def test_bad_input(kwargs, parameter):
    args = dict(architecture="mlp", input_shape=(3, 4, 4), num_outputs=2, device="cpu")
    args.update(kwargs)
    with pytest.raises(ParameterError) as e:
        make_model(args.pop("architecture"), **args)
    assert e.value.parameter == parameter


def test_centered_output_precomputed_initial_outputs_match_the_frozen_copy():
    x = torch.randn(37, 3, 8, 8)
    kw = dict(input_shape=(3, 8, 8), num_outputs=1, centered=True, device="cpu")
    net = make_model("convnet", parameterization="mean-field", seed=3, **kw)
    f0 = net.initial_outputs(x, chunk_size=10)  # chunked: rows must not depend on the chunking
    with torch.no_grad():
        assert torch.allclose(f0, net.initial(x), rtol=1e-5, atol=1e-6)
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
        idx = torch.tensor([5, 0, 36, 12])
        assert torch.allclose(net(x[idx], f0=f0[idx]), net(x[idx]), rtol=1e-5, atol=1e-6)
    # batch norm makes f(w0, x_i) depend on the rest of the batch: no precomputation
    assert make_model("convnet", batch_norm=True, **kw).initial_outputs(x) is None
    assert make_model("mlp", dropout=0.2, **dict(kw, input_shape=(5,))).initial_outputs(x) is None
