"""Theory, simulation and criteria of `bg21-effective` (BG21, arXiv 2108.09507).

The problem: the 1-D two-minima family with a wide minimum (curvature 1) and a narrow one
(curvature 4, deeper), as a finite-sample loss ℓ(θ; u, v) = L(θ − u) + vθ with
u ~ N(0, 0.2²), v ~ N(0, 1) (:mod:`sgdnoise.theory.finite_sample`).  The translation spread
makes the gradient noise state dependent, Σ_N(θ) ≈ s² L''(θ)² + τ²: about 1.0 in the wide
basin and 1.6 in the narrow one — SGD's noise is shaped by the curvature, not isotropic.

Theory (derived from BG21's Fokker–Planck picture).  SGD at temperature T = η/B has, in the
SDE limit, the 1-D stationary law p ∝ (1/D) exp(−∫ L_N'/D), D = T Σ_N/2 (Itô), i.e.
p ∝ exp(−Φ) with the *effective potential* Φ = ∫ 2L_N'/(TΣ_N) + log Σ_N — not the Gibbs
law of the training loss exp(−2L_N/(Tσ²)).  Its basin masses (``StationaryDensity``) give
the wide basin's weight w(T); the crossover T* solves w(T*) = ½ (deep wins below, wide
above).  The contrast: the same loss with isotropic noise of the same mean size,
σ² = E_p[Σ_N] under the state-dependent law at T* (``constant_noise_potential``), whose
crossover T*_iso differs.

Simulation: true minibatch SGD (B = 1, so η = T is as small as the temperature allows),
chains started half in each minimum, run for ``relax`` relaxation times; and, as the check
of the theory, Langevin ensembles of the SDE itself (Gaussian noise with the same Σ_N(θ),
step T/4).  The two differ beyond Σ_N: the per-sample gradients are skewed and heavy-tailed
in the sharp basin (the shift u enters L'(θ − u) through a degree-5 polynomial), and their
higher cumulants — which the SDE drops, and which grow with η at fixed T — help SGD out of
the narrow minimum.
"""

from __future__ import annotations

import math

import numpy as np

from ..theory import finite_sample as fs
from ..theory.density import StationaryDensity
from ..theory.potentials import two_minima_1d
from .criteria import Criterion

FAMILY = dict(k_wide=1.0, k_narrow=4.0, depth_wide=0.0, depth_narrow=-0.1, barrier=0.05)
SHIFT_SD, TILT_SD = 0.2, 1.0


def problem(n: int, seed: int = 0) -> fs.FiniteSampleLoss:
    """The training set (module doc); the data seed is fixed as a training set is."""
    return fs.make_problem(two_minima_1d(**FAMILY), n, shift_sd=SHIFT_SD, tilt_sd=TILT_SD,
                           seed=seed)  # fmt: skip


def wide_weight(pot, T: float) -> float:
    """Stationary mass of the wide basin (basin 0) at T."""
    return float(StationaryDensity(pot, T).basin_masses()[0])


def crossover(pot, lo: float = 1e-3, hi: float = 2.0) -> float:
    """T* with wide weight ½ (brentq in log T)."""
    from scipy.optimize import brentq

    return float(math.exp(brentq(lambda lt: wide_weight(pot, math.exp(lt)) - 0.5,
                                 math.log(lo), math.log(hi), xtol=1e-6)))  # fmt: skip


def matched_isotropic(prob, T: float):
    """The same loss with constant noise σ² = E_p[Σ_N] under the state-dependent law at T."""
    dens = StationaryDensity(prob.potential, T)
    x = np.linspace(*prob.potential.domain[0], 40001)
    p = dens.pdf(x)
    s2 = float(np.sum(p * prob.noise(x)) / np.sum(p))
    return fs.constant_noise_potential(prob, s2), s2


def relaxation_time(pot, T: float) -> float:
    """1/λ₁ from the spectral gap, or from the two exact mean first-passage times where the
    spectral method cannot resolve the gap (then 1/λ₁ ≈ 1/(1/τ_wn + 1/τ_nw))."""
    from ..errors import ParameterError
    from ..theory.escape import mean_first_passage_time, relaxation_rate

    try:
        return 1.0 / relaxation_rate(pot, T)
    except ParameterError:
        a = mean_first_passage_time(pot, T, 0, 1)
        b = mean_first_passage_time(pot, T, 1, 0)
        return 1.0 / (1.0 / a + 1.0 / b)


def sgd_final_positions(prob, *, lr: float, n_chains: int, n_steps: int, x0, seed: int):
    """Final states of ``n_chains`` minibatch-SGD chains (B = 1, batches with replacement)
    through the public simulator; chains that diverged are NaN.  The simulator's entry
    point is being unified (``sgd_chains`` → ``sgd``, same keywords): use whichever exists."""
    from ..simulate import sgd as simulator

    fn = getattr(simulator, "sgd_chains", None) or simulator.sgd
    res = fn(prob, lr=lr, batch_size=1, n_chains=n_chains, n_steps=n_steps, x0=x0, seed=seed)
    x = np.asarray(res.positions, dtype=float)[:, 0].copy()
    x[np.asarray(res.status) != 0] = np.nan
    return x


def sde_final_positions(pot, T: float, *, n: int, n_steps: int, dt: float, x0, seed: int):
    """Final states of a Langevin ensemble of the SDE dθ = −L_N' dt + sqrt(TΣ_N) dW (the
    public simulator), NaN where a particle diverged."""
    from ..simulate.langevin import langevin_ensemble

    x0 = np.asarray(x0, dtype=float).reshape(n, 1)  # one row per particle
    res = langevin_ensemble(pot, T, n_particles=n, dt=dt, n_steps=n_steps, x0=x0, seed=seed)
    x = np.asarray(res.positions, dtype=float)[:, 0].copy()
    x[np.asarray(getattr(res, "status", np.zeros(x.size))) != 0] = np.nan
    return x


def wide_fraction(x, pot) -> tuple[float, float]:
    """(fraction of the finite in-domain states below the barrier top, fraction lost)."""
    lo, hi = pot.domain[0]
    keep = np.isfinite(x) & (x >= lo) & (x <= hi)
    return float(np.mean(x[keep] < pot.split_offset)), float(1 - keep.mean())


def gradient_shape(prob, theta: float) -> tuple[float, float]:
    """(skewness, kurtosis) of the per-sample gradients at θ (Gaussian: 0, 3)."""
    from scipy import stats

    g = prob.per_sample_gradients(np.array([theta]))[0]
    return float(stats.skew(g)), float(stats.kurtosis(g, fisher=False))


def measured_crossover(Ts, w) -> float:
    """log T where the per-replicate wide weight first crosses ½ (linear in log T between
    the grid points that bracket it); NaN when it does not cross on the grid."""
    lt = np.log(np.asarray(Ts, dtype=float))
    w = np.asarray(w, dtype=float)
    for i in range(len(w) - 1):
        if (w[i] - 0.5) * (w[i + 1] - 0.5) <= 0 and w[i] != w[i + 1]:
            return float(lt[i] + (0.5 - w[i]) * (lt[i + 1] - lt[i]) / (w[i + 1] - w[i]))
    return math.nan


def criteria(
    fp_cold: float, fp_hot: float, fp_rise: float, gap: float, sign_iso: int
) -> list[Criterion]:
    """``fp_cold``/``fp_hot``: predicted wide weight at the coldest / hottest T;
    ``fp_rise``: their difference; ``gap``: abs(log T*_SD − log T*_iso); ``sign_iso``: the
    sign of log T*_SD − log T*_iso (the direction the state-dependent noise moves T*)."""
    return [
        Criterion(
            "sde-follows-effective-law",
            "the effective potential is the stationary law of the SDE with SGD's own noise "
            "Σ_N(θ): Langevin ensembles with that noise reach its basin weights (max over T "
            "of abs(simulated − predicted))",
            "equivalence", margin=fp_rise / 4, derived=True,
            margin_reason="a quarter of the predicted rise of the wide weight across the "
            "grid, so the weights resolve the trade-off they are meant to show",
        ),
        Criterion(
            "deep-wins-cold",
            "SGD trades off deep against low-curvature regions: at low T the deeper, narrow "
            "minimum holds most of the mass (SGD wide weight − ½ < 0 at the coldest T)",
            "direction", sign=-1, effect=abs(0.5 - fp_cold) / 2,
            effect_reason="half the predicted distance from ½ at the coldest T",
        ),
        Criterion(
            "wide-wins-hot",
            "… and at high T the wide, low-curvature minimum wins although it is shallower "
            "(SGD wide weight − ½ > 0 at the hottest T)",
            "direction", sign=1, effect=abs(fp_hot - 0.5) / 2,
            effect_reason="half the predicted distance from ½ at the hottest T",
        ),
        Criterion(
            "effective-not-loss",
            "SGD optimizes an effective potential different from the training loss: SGD's "
            "crossover T* departs from that of the loss's Gibbs law (isotropic noise of the "
            "same mean size) in the direction its state-dependent noise predicts "
            "(log T*_SGD − log T*_iso)",
            "direction", sign=sign_iso, effect=gap / 2, derived=True,
            effect_reason="half the distance between the two predictions",
        ),
        Criterion(
            "sgd-crossover-is-effective-law",
            "the crossover T* where the wide basin wins is that of the effective law built "
            "from Σ_N alone (log T*_SGD − log T*_SD)",
            "equivalence", margin=gap, derived=True,
            margin_reason="the distance to the isotropic-noise prediction: a crossover "
            "within it is nearer the effective law than the training loss's Gibbs law is",
        ),
    ]  # fmt: skip


#: judged at smoke (machinery forms); the last is reported there, judged at cpu/paper
SMOKE_JUDGED = ("sde-follows-effective-law", "deep-wins-cold", "wide-wins-hot",
                "effective-not-loss")  # fmt: skip


def units(w: np.ndarray, w_sde: np.ndarray, Ts, fp: np.ndarray, t_sd: float, t_iso: float) -> dict:
    """Per-replicate values of :func:`criteria`: ``w`` (replicates × T) SGD wide weights,
    ``w_sde`` the Langevin ones, ``fp`` the predicted weights per T."""
    cross = np.array([measured_crossover(Ts, row) for row in w])
    ok = cross[np.isfinite(cross)]
    return {
        "sde-follows-effective-law": np.max(np.abs(w_sde - fp[None, :]), axis=1),
        "deep-wins-cold": w[:, 0] - 0.5,
        "wide-wins-hot": w[:, -1] - 0.5,
        "effective-not-loss": ok - math.log(t_iso),
        "sgd-crossover-is-effective-law": ok - math.log(t_sd),
    }
