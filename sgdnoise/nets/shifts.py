"""Deterministic test-set shifts and image downsampling (BG21's domain shift, small inputs).

BG21 (Bradley & Gomez-Uribe 2021, §5) separate two ways the test loss surface differs from
the training one: **sampling shift** — the test set is a fresh sample of the same
distribution (the real CIFAR-10 test images) — and **domain shift** — the test inputs come
from a different distribution.  Our domain shift is one documented, deterministic pixel
transform applied to the raw test images in ``[0, 1]``:

    x' = clip( c · (x − ½) + ½ + b , 0, 1 )

a contrast change by the factor ``c`` about mid-grey followed by a brightness offset ``b``
(:data:`DOMAIN_SHIFT`: c = 0.6, b = +0.15 — a washed-out, brighter image; the pixel
statistics move while the labels stay recognisable).  Because :func:`load_dataset`
standardizes with the training subset's per-channel mean μ and std σ, the transform is
applied in pixel space: ``x_std → x = μ + σ x_std → x' → (x' − μ)/σ``.

:func:`downsample` average-pools images by an integer factor (8×8 CIFAR for smoke-scale
runs); it is linear and per-channel, so it commutes with the standardization but not with
the clipping above: shift first, then downsample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ParameterError
from ..validation import finite, integer, positive
from .datasets import Dataset

#: The domain shift used by the ``bg21-cifar`` claim: contrast × 0.6, brightness + 0.15.
DOMAIN_SHIFT = {"contrast": 0.6, "brightness": 0.15}


def brightness_contrast(x: torch.Tensor, *, contrast: float, brightness: float) -> torch.Tensor:
    """``clip(contrast·(x − ½) + ½ + brightness, 0, 1)`` for images ``x`` with pixels in [0, 1].

    ``contrast = 1, brightness = 0`` is the identity on [0, 1].
    """
    contrast = positive("contrast", contrast)
    brightness = finite("brightness", brightness)
    if not torch.is_tensor(x) or not torch.is_floating_point(x):
        raise ParameterError("x", type(x).__name__, "must be a floating-point tensor")
    return (contrast * (x - 0.5) + 0.5 + brightness).clamp(0.0, 1.0)


def _channel_stats(data: Dataset):
    mean, std = data.meta.get("channel_mean"), data.meta.get("channel_std")
    if mean is None or std is None:
        raise ParameterError(
            "data", data.name, "needs the standardization statistics in meta (load_dataset)"
        )
    shape = (1, len(mean), 1, 1)
    as_t = lambda v: torch.as_tensor(v, dtype=data.x_test.dtype, device=data.x_test.device)
    return as_t(mean).reshape(shape), as_t(std).reshape(shape)


def domain_shifted(data: Dataset, *, contrast: float, brightness: float) -> Dataset:
    """``data`` with its test images replaced by their brightness/contrast-shifted versions.

    The training images, labels and the standardization (the training subset's μ, σ) are
    unchanged; the shift is applied to the raw pixels ``μ + σ x`` of the test images.
    """
    mean, std = _channel_stats(data)
    raw = mean + std * data.x_test
    shifted = (brightness_contrast(raw, contrast=contrast, brightness=brightness) - mean) / std
    meta = dict(data.meta, domain_shift={"contrast": contrast, "brightness": brightness})
    return Dataset(
        data.name,
        data.task,
        data.x_train,
        data.y_train,
        shifted,
        data.y_test,
        data.num_classes,
        meta,
    )


def downsample(data: Dataset, size: int) -> Dataset:
    """Average-pool train and test images to ``size × size`` (``size`` must divide the side)."""
    size = integer("size", size, minimum=1)
    if data.x_train.ndim != 4:
        raise ParameterError("data", data.input_shape, "needs images (N, C, H, W)")
    h, w = data.x_train.shape[-2:]
    if h != w or h % size:
        raise ParameterError("size", size, f"must divide the image side {h} (square images)")
    k = h // size
    pool = (lambda x: F.avg_pool2d(x, k)) if k > 1 else (lambda x: x)
    return Dataset(
        data.name,
        data.task,
        pool(data.x_train).contiguous(),
        data.y_train,
        pool(data.x_test).contiguous(),
        data.y_test,
        data.num_classes,
        dict(data.meta, image_size=size),
    )
