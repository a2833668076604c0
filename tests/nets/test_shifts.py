"""The domain shift (brightness/contrast in pixel space) and downsampling of sgdnoise.nets.shifts,
checked against direct numpy computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sgdnoise.errors import ParameterError
from sgdnoise.nets import Dataset
from sgdnoise.nets.shifts import DOMAIN_SHIFT, brightness_contrast, domain_shifted, downsample


def _data(seed=0, n=6, c=3, side=8):
    """A standardized dataset with known channel statistics (as load_dataset records them)."""
    rng = np.random.default_rng(seed)
    raw_tr = rng.uniform(0, 1, (n, c, side, side))
    raw_te = rng.uniform(0, 1, (n, c, side, side))
    mean = raw_tr.mean(axis=(0, 2, 3), keepdims=True)
    std = raw_tr.std(axis=(0, 2, 3), keepdims=True)
    t = lambda a: torch.as_tensor((a - mean) / std, dtype=torch.float64)
    meta = {"channel_mean": mean.ravel().tolist(), "channel_std": std.ravel().tolist()}
    y = torch.arange(n) % 10
    return Dataset("cifar10", "multiclass", t(raw_tr), y, t(raw_te), y, 10, meta), raw_te, mean, std


def test_brightness_contrast_values_and_clipping():
    x = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64)
    out = brightness_contrast(x, contrast=0.6, brightness=0.15)
    # by hand: 0.6 (x − 0.5) + 0.65 → 0.35, 0.5, 0.65, 0.8, 0.95 (none clipped)
    np.testing.assert_allclose(out.numpy(), [0.35, 0.5, 0.65, 0.8, 0.95], rtol=0, atol=1e-15)
    # identity on [0, 1]
    assert torch.equal(brightness_contrast(x, contrast=1.0, brightness=0.0), x)
    # strong contrast clips at both ends
    out = brightness_contrast(x, contrast=3.0, brightness=0.0)
    np.testing.assert_allclose(out.numpy(), [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-15)


def test_domain_shift_acts_on_pixels_and_leaves_train_alone():
    data, raw_te, mean, std = _data()
    out = domain_shifted(data, **DOMAIN_SHIFT)
    expect = np.clip(
        DOMAIN_SHIFT["contrast"] * (raw_te - 0.5) + 0.5 + DOMAIN_SHIFT["brightness"], 0, 1
    )
    # float64 round trip standardize → unstandardize: errors of a few ulps of O(1) numbers
    np.testing.assert_allclose(out.x_test.numpy(), (expect - mean) / std, rtol=0, atol=1e-12)
    assert torch.equal(out.x_train, data.x_train) and torch.equal(out.y_test, data.y_test)
    assert out.meta["domain_shift"] == DOMAIN_SHIFT
    same = domain_shifted(data, contrast=1.0, brightness=0.0)
    np.testing.assert_allclose(same.x_test.numpy(), data.x_test.numpy(), atol=1e-12)
    # the shift really moves the inputs (a brightness change moves every channel mean)
    assert float((out.x_test - data.x_test).abs().mean()) > 0.1


def test_downsample_is_block_average():
    data, *_ = _data(side=8)
    small = downsample(data, 4)
    x = data.x_train.numpy()
    blocks = x.reshape(x.shape[0], x.shape[1], 4, 2, 4, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(small.x_train.numpy(), blocks, atol=1e-14)
    assert small.input_shape == (3, 4, 4) and small.meta["image_size"] == 4
    assert torch.equal(downsample(data, 8).x_test, data.x_test)


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda d: brightness_contrast(d.x_test, contrast=0.0, brightness=0.0), "contrast"),
        (
            lambda d: brightness_contrast(d.x_test, contrast=1.0, brightness=float("nan")),
            "brightness",
        ),
        (lambda d: brightness_contrast([0.5], contrast=1.0, brightness=0.0), "x"),
        (lambda d: downsample(d, 3), "size"),
        (lambda d: downsample(d, 0), "size"),
        (
            lambda d: domain_shifted(
                Dataset("x", "multiclass", d.x_train, d.y_train, d.x_test, d.y_test, 10, {}),
                contrast=1.0,
                brightness=0.0,
            ),
            "data",
        ),
    ],
)
def test_bad_input(call, name):
    data, *_ = _data()
    with pytest.raises(ParameterError) as e:
        call(data)
    assert e.value.parameter == name
