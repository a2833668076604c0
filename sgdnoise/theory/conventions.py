"""Noise-scale conventions and their converters (DESIGN.md §3); the one owner of them.

SGD ``θ_{k+1} = θ_k − η g_k`` with minibatch gradient ``g_k`` of size B has, in the SDE
limit with time ``t = kη``,

    dθ = −∇L dt + sqrt(η/B) Σ(θ)^{1/2} dW,

so the **temperature** is ``T = η/B`` and the diffusion tensor ``D = (T/2) Σ``
(Bradley & Gomez-Uribe 2021, BG21).  Other conventions in the literature:

* Smith–Le noise scale ``g = η (N/B − 1) ≈ ηN/B`` (temperature of the *summed* loss);
* mean-field nets (Sclocchi, Geiger & Wyart 2023, SGW23): ``T = η/(B h)``, h the width;
* normalized noise scale (Park et al. 2019, P19): the noise scale written with the rate
  ``ε`` the NTK parameterization would use.  NTK-param SGD at rate ε equals standard-param
  SGD with per-layer rate ``ε σ_w²/n_in`` (derived in :mod:`sgdnoise.theory` tests), so
  ``ḡ = ε N / B`` with ``ε = η_std n_in / σ_w²``.  Which convention is meant is always a
  named argument, never a hidden constant.

Each formula is a sympy expression below; the public functions are its numeric form with
boundary validation.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import ParameterError
from ..validation import choice, integer, positive
from .symbolic import numeric

eta, B, N, T, h, g, eps, sigma_w2, n_in = sp.symbols(
    "eta B N T h g epsilon sigma_w2 n_in", positive=True
)

#: T = η/B (BG21 Fokker–Planck temperature).
TEMPERATURE = eta / B
#: g = η(N/B − 1) (Smith & Le 2018), exact form; ηN/B is its large-N approximation.
NOISE_SCALE = eta * (N / B - 1)
NOISE_SCALE_APPROX = eta * N / B
#: T = η/(B h) for mean-field networks (SGW23).
MEAN_FIELD_TEMPERATURE = eta / (B * h)
#: NTK-param rate ε → equivalent standard-param per-layer rate (P19, derived).
STANDARD_LR_FROM_NTK = eps * sigma_w2 / n_in
#: ḡ = ε N / B, the P19 normalized noise scale in NTK-rate units.
NORMALIZED_NOISE_SCALE = eps * N / B

_temperature = numeric(TEMPERATURE, (eta, B))
_lr_from_T = numeric(sp.solve(sp.Eq(T, TEMPERATURE), eta)[0], (T, B))
_batch_from_T = numeric(sp.solve(sp.Eq(T, TEMPERATURE), B)[0], (T, eta))
_noise_scale = numeric(NOISE_SCALE, (eta, N, B))
_noise_scale_approx = numeric(NOISE_SCALE_APPROX, (eta, N, B))
_lr_from_noise_scale = numeric(sp.solve(sp.Eq(g, NOISE_SCALE), eta)[0], (g, N, B))
_mf_temperature = numeric(MEAN_FIELD_TEMPERATURE, (eta, B, h))
_lr_from_mf_T = numeric(sp.solve(sp.Eq(T, MEAN_FIELD_TEMPERATURE), eta)[0], (T, B, h))
_std_from_ntk = numeric(STANDARD_LR_FROM_NTK, (eps, sigma_w2, n_in))
_ntk_from_std = numeric(sp.solve(sp.Eq(eta, STANDARD_LR_FROM_NTK), eps)[0], (eta, sigma_w2, n_in))
_normalized = numeric(NORMALIZED_NOISE_SCALE, (eps, N, B))
#: B = εN/ḡ: the batch at which NTK rate ε reaches normalized noise scale ḡ (P19's B_max
#: when ε = ε_max, the largest stable rate, and ḡ = ḡ_opt).
_batch_from_normalized = numeric(sp.solve(sp.Eq(g, NORMALIZED_NOISE_SCALE), B)[0], (g, eps, N))

PARAMETERIZATIONS = ("standard", "ntk")


def temperature(lr: float, batch_size: float) -> float:
    """``T = η/B`` (BG21)."""
    return float(_temperature(positive("lr", lr), positive("batch_size", batch_size)))


def lr_from_temperature(T: float, batch_size: float) -> float:
    """The learning rate η with ``η/B = T``."""
    return float(_lr_from_T(positive("T", T), positive("batch_size", batch_size)))


def batch_from_temperature(T: float, lr: float) -> float:
    """The batch size B with ``η/B = T`` (real-valued; round it yourself)."""
    return float(_batch_from_T(positive("T", T), positive("lr", lr)))


def noise_scale(lr: float, n_train: int, batch_size: float, *, exact: bool = True) -> float:
    """Smith–Le noise scale ``g = η(N/B − 1)``, or ``ηN/B`` when ``exact=False``."""
    n = integer("n_train", n_train, minimum=1)
    b = positive("batch_size", batch_size)
    if b > n:
        raise ParameterError("batch_size", batch_size, f"must be <= n_train={n}")
    f = _noise_scale if exact else _noise_scale_approx
    return float(f(positive("lr", lr), n, b))


def lr_from_noise_scale(g: float, n_train: int, batch_size: float) -> float:
    """Invert the exact Smith–Le noise scale for η (needs B < N)."""
    n = integer("n_train", n_train, minimum=2)
    b = positive("batch_size", batch_size)
    if b >= n:
        raise ParameterError("batch_size", batch_size, f"must be < n_train={n} to invert g")
    return float(_lr_from_noise_scale(positive("g", g), n, b))


def temperature_from_noise_scale(g: float, n_train: int, batch_size: float) -> float:
    """``T = η/B`` of the SGD whose exact Smith–Le noise scale is g."""
    return temperature(lr_from_noise_scale(g, n_train, batch_size), batch_size)


def mean_field_temperature(lr: float, batch_size: float, width: float) -> float:
    """``T = η/(B h)`` of SGW23's mean-field networks."""
    return float(
        _mf_temperature(
            positive("lr", lr), positive("batch_size", batch_size), positive("width", width)
        )
    )


def lr_from_mean_field_temperature(T: float, batch_size: float, width: float) -> float:
    """The η giving mean-field temperature T at batch B and width h."""
    return float(
        _lr_from_mf_T(
            positive("T", T), positive("batch_size", batch_size), positive("width", width)
        )
    )


def diffusion(T: float, sigma) -> np.ndarray | float:
    """Diffusion tensor ``D = (T/2) Σ`` from the per-sample gradient covariance Σ."""
    T = positive("T", T)
    s = np.asarray(sigma, dtype=float)
    if not np.all(np.isfinite(s)):
        raise ParameterError("sigma", sigma, "must be finite")
    d = 0.5 * T * s
    return float(d) if d.ndim == 0 else d


def covariance_from_diffusion(D, T: float) -> np.ndarray | float:
    """Inverse of :func:`diffusion`: ``Σ = 2D/T``."""
    T = positive("T", T)
    d = np.asarray(D, dtype=float)
    if not np.all(np.isfinite(d)):
        raise ParameterError("D", D, "must be finite")
    s = 2.0 * d / T
    return float(s) if s.ndim == 0 else s


def minibatch_covariance(sigma, batch_size: int, n_train: int, *, replacement: bool):
    """Covariance of the minibatch-mean gradient: ``Σ/B`` with replacement,
    ``Σ/B · (N−B)/(N−1)`` without (finite-population correction)."""
    n = integer("n_train", n_train, minimum=1)
    b = integer("batch_size", batch_size, minimum=1)
    if not replacement and b > n:
        raise ParameterError(
            "batch_size", batch_size, f"must be <= n_train={n} without replacement"
        )
    s = np.asarray(sigma, dtype=float)
    factor = 1.0 / b if replacement else (1.0 / b) * ((n - b) / (n - 1) if n > 1 else 0.0)
    out = s * factor
    return float(out) if out.ndim == 0 else out


def standard_lr_from_ntk(lr_ntk: float, fan_in: int, sigma_w2: float = 2.0) -> float:
    """Per-layer standard-param rate equivalent to NTK-param rate ε: ``ε σ_w²/n_in``."""
    return float(
        _std_from_ntk(
            positive("lr_ntk", lr_ntk),
            positive("sigma_w2", sigma_w2),
            integer("fan_in", fan_in, minimum=1),
        )
    )


def ntk_lr_from_standard(lr: float, fan_in: int, sigma_w2: float = 2.0) -> float:
    """Inverse of :func:`standard_lr_from_ntk`: ``ε = η n_in/σ_w²``."""
    return float(
        _ntk_from_std(
            positive("lr", lr), positive("sigma_w2", sigma_w2), integer("fan_in", fan_in, minimum=1)
        )
    )


def normalized_noise_scale(
    lr: float,
    n_train: int,
    batch_size: float,
    *,
    parameterization: str,
    width: int | None = None,
    sigma_w2: float = 2.0,
) -> float:
    """P19's normalized noise scale ``ḡ = ε N/B`` with ε the NTK-equivalent rate.

    ``parameterization="ntk"``: ``lr`` already is ε.  ``"standard"``: ``lr`` is the
    standard-param rate of a layer of fan-in ``width``; ε = lr·width/σ_w².
    """
    choice("parameterization", parameterization, PARAMETERIZATIONS)
    n = integer("n_train", n_train, minimum=1)
    b = positive("batch_size", batch_size)
    if parameterization == "ntk":
        e = positive("lr", lr)
    else:
        if width is None:
            raise ParameterError("width", width, "is required for parameterization='standard'")
        e = ntk_lr_from_standard(lr, width, sigma_w2)
    return float(_normalized(e, n, b))


def batch_from_normalized_noise_scale(g_bar: float, lr_ntk: float, n_train: int) -> float:
    """The batch size B with ``ε N/B = ḡ``: ``B = ε N/ḡ`` (real-valued).

    With ε the largest stable NTK-equivalent rate ε_max and ḡ the optimal normalized noise
    scale, this is P19's B_max — the largest batch at which ḡ_opt is still reachable.
    """
    n = integer("n_train", n_train, minimum=1)
    return float(_batch_from_normalized(positive("g_bar", g_bar), positive("lr_ntk", lr_ntk), n))
