# %% [markdown]
# # UI25 — batch-size and learning-rate schedulers: the bound and its rates
#
# Umeda & Iiduka, *Increasing both batch size and learning rate accelerates SGD*,
# TMLR 2025 (arXiv 2409.08770).  This notebook re-derives the convergence bound used by
# `sgdnoise.theory.ui25`, the rate of each scheduler, and checks both on a simulation.
#
# **Setting.** f is L-smooth and bounded below by f*; SGD θ_{t+1} = θ_t − η_t g_t where
# g_t is the mean of b_t per-sample gradients drawn with replacement, so E g_t = ∇f(θ_t) and
# E‖g_t − ∇f(θ_t)‖² ≤ σ²/b_t when the per-sample variance is ≤ σ².

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import sympy as sp

from sgdnoise.display import formula, show
from sgdnoise.simulate.schedulers import run_sgd
from sgdnoise.theory import schedules as S
from sgdnoise.theory import ui25
from sgdnoise.theory.ui25_problems import noisy_quadratic

SMALL = os.environ.get("SGDNOISE_NOTEBOOK_TEST") == "1"

# %% [markdown]
# ## 1. The descent lemma, one step
#
# L-smoothness: f(θ − ηg) ≤ f(θ) − η ∇fᵀg + (L/2) η² ‖g‖².  Taking the expectation over the
# batch, E‖g‖² = ‖∇f‖² + E‖g − ∇f‖² ≤ ‖∇f‖² + σ²/b.  sympy does the algebra with G = ‖∇f‖².

# %%
eta, L, G, s2, b = sp.symbols("eta L G sigma2 b", positive=True)
expected_decrease = -eta * G + L / 2 * eta**2 * (G + s2 / b)
one_step = sp.collect(sp.expand(expected_decrease), G)
formula(r"\mathbb{E} f(\theta_{t+1}) - f(\theta_t) \le", one_step)
assert sp.simplify(one_step - (-eta * (1 - L * eta / 2) * G + L * s2 * eta**2 / (2 * b))) == 0

# %% [markdown]
# ## 2. Summing over t < T
#
# Telescoping, Σ_t η_t (1 − Lη_t/2) E‖∇f(θ_t)‖² ≤ f(θ_0) − f* + (Lσ²/2) Σ η_t²/b_t.
# With η_t ≤ η_max < 2/L, every factor 1 − Lη_t/2 ≥ 1 − Lη_max/2 > 0, and
# Σ η_t E‖∇f‖² ≥ B_T · min_t E‖∇f‖²:
#
# min_t E‖∇f(θ_t)‖² ≤ [2(f(θ_0) − f*) + Lσ²V_T] / [(2 − Lη_max) B_T],
# B_T = Σ η_t, V_T = Σ η_t²/b_t.

# %%
Delta, V, B, emax, Gmin = sp.symbols("Delta V_T B_T eta_max G_min", positive=True)
solved = sp.solve(sp.Eq((1 - L * emax / 2) * B * Gmin, Delta + L * s2 * V / 2), Gmin)[0]
expr, syms = ui25.bound_expr()
assert sp.simplify(solved - expr.subs(dict(zip(syms, (Delta, L, s2, V, B, emax))))) == 0
formula(r"\min_t \mathbb{E}\|\nabla f(\theta_t)\|^2 \le", sp.simplify(solved), rhs="UI25")

# %% [markdown]
# ## 3. Rates, scheduler by scheduler
#
# Sums run over T = K·M steps (K steps per stage, M stages).  `ui25.sums` gives B_T and
# V_T in closed form where sympy finds one.
#
# **(i) constant b.**  For a decay η_t = η_max φ(t/T) (cosine, linear, polynomial with
# η_min = 0), B_T ≈ η_max T ∫φ and V_T ≈ η_max² T ∫φ² / b, so the bound tends to the floor
# Lσ² η_max (∫φ²/∫φ) / ((2 − Lη_max) b): ∫φ²/∫φ = 1 (constant), 3/4 (cosine: ∫φ = 1/2,
# ∫φ² = 3/8), 2/3 (linear), (p+1)/(2p+1) (polynomial).  The approach to the floor is O(1/T).

# %%
for kind, c in [
    ("constant", 1),
    ("cosine", sp.Rational(3, 4)),
    ("linear", sp.Rational(2, 3)),
    ("polynomial", sp.Rational(3, 5)),
]:
    s = ui25.sums(S.scheduler_i(kind, 0.1, 8))
    lim = sp.limit(s.V / s.B, ui25.M, sp.oo)
    print(f"(i) {kind:10s} B_T = {sp.simplify(s.B)},  V_T = {sp.simplify(s.V)},  lim V/B = {lim}")
    assert sp.simplify(lim - c * sp.Rational(1, 10) / 8) == 0

# %% [markdown]
# Diminishing η0/√(t+1): B_T = η0 Σ t^{−1/2} = 2η0√T + O(1) and V_T = η0² H_T / b
# = η0² (ln T + γ_E)/b + o(1): the bound is O(log T/√T) with no floor.
#
# **(ii) b ×δ per stage.**  V_T = Σ_m (1/(b0 δ^m)) Σ_{j<K} η² ≤ η_max² K Σ_m δ^{−m}
# < η_max² K δ / ((δ − 1) b0): bounded.  So for any decay with B_T ∝ T the bound is O(1/T);
# the diminishing rate gives only O(1/√T).
#
# **(iii) b ×δ and η ×γ per stage.**  B_T = K η0 (γ^M − 1)/(γ − 1) and
# V_T = (K η0²/b0) Σ (γ²/δ)^m, bounded iff γ² < δ.  Hence bound · γ^M → a constant while
# (2 − Lη0 γ^{M−1}) stays positive — O(γ^{−M}), *geometric in stages*.  It must stop when
# η reaches 2/L; after a cap at η_c < 2/L the rate falls back to O(1/T).

# %%
g_, d_, e0, b0, K_, M = sp.symbols("gamma delta eta0 b0 K M", positive=True)
B_iii = K_ * e0 * sp.summation(g_**ui25.M, (ui25.M, 0, M - 1))
V_iii = K_ * e0**2 / b0 * sp.summation((g_**2 / d_) ** ui25.M, (ui25.M, 0, M - 1))
print("B_T =", sp.simplify(B_iii.args[0][0] if isinstance(B_iii, sp.Piecewise) else B_iii))
s = ui25.sums(S.scheduler_iii(1e-4, 1.5, 4, 3, 5))
print("(iii) with γ=3/2, δ=3, K=5, b0=4, η0=1e-4:  B_T =", s.B, ",  V_T =", s.V)
V_inf = sp.limit(s.V, ui25.M, sp.oo)
print("     V_∞ =", V_inf, "(= K η0²/(b0 (1 − γ²/δ)) =", 5 * 1e-8 / (4 * (1 - 2.25 / 3)), ")")
Ms = np.arange(6, 16)
bounds = [s.bound(int(m), 1.0, 1.0, 2.0) for m in Ms]
print("fitted log-slope in M:", np.polyfit(Ms, np.log(bounds), 1)[0], " −ln γ =", -np.log(1.5))

# %% [markdown]
# **(iv) warm-up then decay, b ×δ.**  The warm-up contributes a finite amount to B_T and
# V_T; afterwards it is scheduler (ii) started from the peak η_pk = η0 γ^{M_w}, so the bound
# is O(1/T) with constant ≈ 2Δ / ((2 − Lη_pk) η_pk c_φ) (c_φ = ∫φ) — smaller than (ii) run
# from η0 exactly when (2 − Lη_pk) η_pk > (2 − Lη0) η0, i.e. while η_pk + η0 < 2/L.  So
# "(iv) has the smaller constant" is not unconditional: it needs the peak not too close to 2/L.

# %%
ii = S.scheduler_ii("cosine", 0.05, 4, 2, 5)
iv = S.scheduler_iv(0.05, 1.5, 2, "cosine", 4, 2, 5)
for Lval in (1.0, 15.0):
    c_ii = ui25.sums(ii).bound(200, 1.0, Lval, 2.0)
    c_iv = ui25.sums(iv).bound(200, 1.0, Lval, 2.0)
    print(
        f"L = {Lval:4}: bound(ii) = {c_ii:.4g}, bound(iv) = {c_iv:.4g}, "
        f"η_pk + η0 = {0.05 * 1.5**2 + 0.05:.3f} vs 2/L = {2 / Lval:.3f}"
    )
    # the derived condition decides the order (σ² V_T is a small correction here)
    assert (c_iv < c_ii) == (0.05 * 1.5**2 + 0.05 < 2 / Lval)

# %% [markdown]
# ## 4. Simulation under the bound
#
# Noisy quadratic (L = max h exactly, σ² the exact per-sample gradient variance); many
# chains under each scheduler; the running minimum of the chain mean of ‖∇f‖² must lie under
# the prefix bound at every step.

# %%
prob = noisy_quadratic(n_samples=64 if SMALL else 512, seed=0)
n_steps = 150 if SMALL else 1500
K = n_steps // 10
fig, ax = plt.subplots(figsize=(6, 3.5))
for sch in [
    S.scheduler_i("cosine", 0.9 / prob.L, 4),
    S.scheduler_ii("cosine", 0.9 / prob.L, 4, 2, K),
    S.scheduler_iii(0.2 / prob.L, 1.3, 4, 2, K, eta_cap=1.5 / prob.L),
    S.scheduler_iv(0.2 / prob.L, 1.5, 2, "cosine", 4, 2, K),
]:
    ex = sch.expand_steps(n_steps)
    run = run_sgd(prob, ex, n_chains=32 if SMALL else 256, seed=1)
    pb = ui25.prefix_bound(ex, prob.gap, prob.L, prob.sigma2)
    rm = run.running_min()
    assert np.all(rm[1:] <= pb[run.steps[1:] - 1])
    (line,) = ax.loglog(run.steps[1:], rm[1:], label=sch.name.split(" ")[0])
    ax.loglog(np.arange(1, n_steps + 1), pb, ls="--", color=line.get_color(), lw=0.8)
    print(
        f"{sch.name:35s} min E‖∇f‖² = {rm[-1]:.3e}   bound = {pb[-1]:.3e}   "
        f"samples = {run.samples[-1]}"
    )
ax.set_xlabel("step t")
ax.set_ylabel("running min of E‖∇f‖²  (dashed: bound)")
ax.legend(fontsize=7)
show(fig, "ui25-simulation-under-bound")

# %% [markdown]
# ## 5. The floor of scheduler (i) (`ui25-floor`) and time to a target (`ui25-acceleration`)
#
# With constant η and b the bound tends to L σ² η / ((2 − Lη) b): scheduler (i) floors at a
# level ∝ η/b.  On the quadratic the floor is known exactly (derived): SGD's stationary
# covariance P solves P = A P Aᵀ + η² Σ / b with A = I − ηH, and E‖∇f‖² = tr(H P H) =
# (η/b) Σ_i h_i Σ_ii / (2 − η h_i) — under the bound's floor, and ∝ η/b up to the factor
# 1/(2 − η h_i).  A short simulation at two η/b checks both, and a growing batch (scheduler
# (ii)) ends below the floor.  `ui25-acceleration` asks who first reaches half of that floor,
# counted in steps and in samples processed.

# %%
from sgdnoise.experiments import _ui25_accel_analysis as accel  # noqa: E402
from sgdnoise.experiments import _ui25_floor_analysis as floor  # noqa: E402

prob = noisy_quadratic(n_samples=64 if SMALL else 512, seed=0)
n_steps = 1000 if SMALL else 6000
measured = {}
for eta_L, b in ((0.2, 1), (0.2, 4)):
    ex = S.scheduler_i("constant", eta_L / prob.L, b).expand_steps(n_steps)
    tr = floor.run(prob, ex, chains=32 if SMALL else 256, seed=2, record_every=4)
    measured[eta_L / b] = floor.late_mean(tr.grad_sq, 0.5)
    exact = floor.stationary_floor(prob, eta_L / prob.L, b)
    print(
        f"η·L = {eta_L}, b = {b}: floor measured {measured[eta_L / b]:.4g}, exact {exact:.4g}, "
        f"UI25 {floor.bound_floor(prob, eta_L, b):.4g}"
    )
slope = np.log(measured[0.2] / measured[0.05]) / np.log(0.2 / 0.05)
print(f"log-log slope of the floor in η/b: {slope:.3f} (UI25: 1)")
assert abs(slope - 1) < 0.15

ii = S.scheduler_ii("cosine", 0.2 / prob.L, 4, 2, n_steps // 5).expand_steps(n_steps)
tr = floor.run(prob, ii, chains=32 if SMALL else 256, seed=2, record_every=4)
eps = 0.5 * measured[0.05]
steps, samples, reached = accel.time_to_target(tr.steps, tr.samples, tr.grad_sq, eps)
end = floor.late_mean(tr.grad_sq, 0.9)
print(
    f"(ii) from b = 4: ends at {end:.4g} (floor {measured[0.05]:.4g}); half the floor "
    f"reached: {reached}, after {steps:.0f} steps, {samples:.0f} samples"
)
assert end < measured[0.05] and reached

# %% [markdown]
# ### Censored runs and the CIFAR-10 grid of `ui25-acceleration`
#
# A run that never reaches ε has a cost known only to exceed its run, so each seed's
# log cost(X) − log min cost(baselines) lies in a known interval.  The claim uses the point
# of that interval nearest 0: the exact value when nothing is censored, a bound when the
# ordering is known, 0 when censoring leaves it open.  Censoring can shrink a seed's
# evidence, never create it, in either direction.  Below: X reached ε after 100 steps; the
# best baseline (a) after 400 steps, (b) never within its 300 steps, (c) never within 50;
# (d) neither reached ε.
#
# On CIFAR-10 (a batch-norm ResNet, ‖∇f‖² over the whole training set after every epoch) the
# target is half the *late level* of scheduler (i) at constant η — its mean ‖∇f‖² over the
# second half of its epochs, measured on the same grid — and the grid holds (i) constant,
# (i) cosine, and (ii)–(iv) at each of UI25's (δ, γ) pairs, per seed.

# %%
from sgdnoise.experiments import _ui25_accel_cifar as accel_cifar  # noqa: E402

# interval ends of log(X / best baseline); a censored cost is (its run, ∞)
lo = np.array([np.log(100 / 400), -np.inf, -np.inf, -np.inf])
hi = np.array([np.log(100 / 400), np.log(100 / 300), np.log(100 / 50), np.inf])
for case, v in zip("abcd", accel.nearest_zero(lo, hi), strict=True):
    print(f"({case}) seed value {v:+.3f}")
assert accel.nearest_zero(lo, hi)[2:].tolist() == [0.0, 0.0]

cifar = accel_cifar.CifarSettings(
    n_train=512, n_test=256, pool=4, epochs=12, stage=3, b0=16, seeds=(0, 1, 2)
)
spec = accel_cifar.spec(cifar, ((2.0, 1.4), (3.0, 1.7), (4.0, 1.9)))
print("runs per seed:", list(zip(*spec["zip"][0].values())))
