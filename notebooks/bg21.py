# %% [markdown]
# # BG21 — temperature, two minima, shift-curvature
#
# Bradley & Gomez-Uribe (2021, arXiv 2108.09507) describe SGD near stationarity by a
# Fokker–Planck equation with temperature **T = η/B**.  This notebook derives, step by step
# in sympy, (1) the stationary density with state-dependent noise, (2) the OU covariance
# near a minimum, (3) the expected test loss under a train→test shift, and then puts each
# beside a simulation: true minibatch SGD on a finite-sample loss and Langevin ensembles.
#
# Every formula comes from `sgdnoise.theory`; nothing is re-typed here.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import sympy as sp

from sgdnoise.display import formula, show
from sgdnoise.simulate.langevin import langevin_ensemble
from sgdnoise.simulate.sgd import sgd_chains
from sgdnoise.theory import finite_sample as fs
from sgdnoise.theory import fokker_planck, ou, shift
from sgdnoise.theory.density import StationaryDensity
from sgdnoise.theory.potentials import two_minima_1d

SMALL = os.environ.get("SGDNOISE_NOTEBOOK_TEST") == "1"
CHAINS = 1500 if SMALL else 20_000

# %% [markdown]
# ## 1. Stationary density with state-dependent diffusion
#
# SGD with time t = kη is approximated by the Itô SDE dθ = −L′ dt + sqrt(2D) dW with
# D = (T/2)Σ(θ).  Zero probability flux J = −L′p − (Dp)′ gives
# p ∝ (1/D) exp(−∫ L′/D).  Take a quadratic loss and a noise that grows away from the
# minimum, and let sympy check that the flux of that density vanishes identically.

# %%
th = sp.Symbol("theta", real=True)
h, s0, s2, T = sp.symbols("h sigma0 sigma2 T", positive=True)
L = h * th**2 / 2
D = T * (s0 + s2 * th**2) / 2
p = fokker_planck.stationary_density_1d(L, D, th)
display_p = sp.simplify(p)
formula(r"p(\theta) \propto", display_p)
print("flux / p simplifies to:", sp.simplify(fokker_planck.flux_1d(p, L, D, th) / p))
assert fokker_planck.is_stationary_1d(p, L, D, th)

# %% [markdown]
# With σ₂ = 0 this is the Gaussian exp(−hθ²/(Tσ₀)), variance Tσ₀/(2h): the OU result of
# the next section.  With σ₂ > 0 the tails are power laws, (σ₀ + σ₂θ²)^(−1 − h/(Tσ₂)).

# %% [markdown]
# ## 2. OU covariance near a minimum: HC + CH = TΣ
#
# Linearizing at a minimum gives an OU process whose stationary covariance solves the
# Lyapunov equation.  Solved symbolically in 2-D; with Σ = H it is (T/2)I whatever H is.

# %%
H, S, C = ou.lyapunov_symbolic(2)
formula("C_{00}", sp.factor(C[0, 0]))
print("Σ = H  ⇒  C = (T/2) I :", ou.isotropic_when_noise_is_curvature(2))
H1, S1, C1 = ou.lyapunov_symbolic(1, lr=True)
print("finite-η SGD, 1-D: C =", sp.factor(C1[0, 0]), " (→ TΣ/(2H) as η → 0)")

# %% [markdown]
# ## 3. Expected test loss under a shift
#
# Quadratic test loss with its minimum shifted by s; θ − θ* has mean b and covariance C.
# Expanding and replacing each monomial by its moment gives the decomposition
# minimum + shift-curvature ½sᵀHs + covariance ½tr(HC) + bias terms.

# %%
q = shift.quadratic_test_loss(1)
formula(r"\mathbb{E}\,L_{\mathrm{test}}", q["expectation"])
for name, term in q["terms"].items():
    print(f"  {name:>16}: {term}")
print("sum of terms − expectation:", sp.simplify(sum(q["terms"].values()) - q["expectation"]))
b_expr, b_args = shift.mean_offset_1d()
print("mean offset at O(T):  b =", b_expr, "  (args", b_args, ")")
cubic, _ = shift.cubic_test_loss_term()
print("cubic (anharmonic) term:", sp.factor(cubic))

# %% [markdown]
# ## 4. A finite-sample loss and its exact gradient noise
#
# ℓ(θ; u, v) = L(θ − u) + vθ over N samples (u translates, v tilts).  The exact
# Σ_N(θ) = Var_i ∂ℓ_i is a degree-10 polynomial; for small translation spread it is about
# s²L″² + τ²: noise is largest where the loss is sharp.

# %%
base = two_minima_1d(k_wide=1.0, k_narrow=4.0, depth_narrow=-0.1, barrier=0.1)
train = fs.make_problem(base, 10_000, shift_sd=0.1, tilt_sd=3.0, seed=0)
grid = np.linspace(-2.0, 2.0, 801)
d2L = np.polynomial.polynomial.polyval(grid, np.polynomial.polynomial.polyder(train.loss_coeffs, 2))
fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
ax[0].plot(grid, train.loss(grid))
ax[0].set(xlabel="θ", ylabel="L_N(θ)", title="finite-sample loss (N = 10 000)")
ax[1].plot(grid, train.noise(grid), label="exact Σ_N(θ)")
ax[1].plot(grid, 0.1**2 * d2L**2 + 3.0**2, "--", label="s² L″² + τ²")
ax[1].set(xlabel="θ", ylabel="Σ(θ)", ylim=(0, 30), title="gradient-noise variance")
ax[1].legend()
show(fig, "bg21-finite-sample-loss-and-noise")

# %% [markdown]
# The state-dependent density versus the constant-noise one (Σ frozen at the deepest
# minimum), at T = 0.02:

# %%
T0 = 0.02
dens = StationaryDensity(train.potential, T0)
const = StationaryDensity(fs.constant_noise_potential(train), T0)
print("basin masses, exact Σ_N(θ):", dens.basin_masses().round(4))
print("basin masses, constant Σ:  ", const.basin_masses().round(4))

# %% [markdown]
# Here Σ_N is dominated by the tilt spread τ² = 9, so the two nearly coincide.  With a wider
# translation spread and a smaller tilt (s = 0.25, τ = 1) the noise is strongly state
# dependent and the densities differ visibly:

# %%
sharp = fs.make_problem(base, 4000, shift_sd=0.25, tilt_sd=1.0, seed=2)
T1 = 0.05
d_exact = StationaryDensity(sharp.potential, T1)
d_const = StationaryDensity(fs.constant_noise_potential(sharp), T1)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(grid, d_exact.pdf(grid), label="state-dependent Σ_N(θ)")
ax.plot(grid, d_const.pdf(grid), "--", label="constant Σ (at the deepest minimum)")
ax.set(xlabel="θ", ylabel="p(θ)", title=f"s = 0.25, τ = 1, T = {T1}")
ax.legend()
show(fig, "bg21-stationary-law")
print(
    "KS distance between the two:",
    np.max(np.abs(d_exact.marginal_cdf(grid) - d_const.marginal_cdf(grid))).round(4),
)

# %% [markdown]
# ## 5. Theory against simulation: true minibatch SGD and Langevin
#
# SGD at η = 0.02, B = 1 (T = 0.02) and a Langevin ensemble of the same SDE, both run
# for five relaxation times from the wide minimum, against the exact FP density.

# %%
from sgdnoise.theory.escape import relaxation_rate  # noqa: E402

t_run = 5 / relaxation_rate(train.potential, T0)
x_start = -1.0
sgd = sgd_chains(
    train, lr=T0, batch_size=1, n_chains=CHAINS, n_steps=int(t_run / T0), x0=x_start, seed=1
)
lang = langevin_ensemble(
    train.potential,
    T0,
    n_particles=CHAINS,
    dt=T0,
    n_steps=int(t_run / T0),
    x0=[x_start],
    seed=2,
)
fig, ax = plt.subplots(figsize=(6, 3.5))
bins = np.linspace(-2, 2, 81)
ax.hist(sgd.positions[:, 0], bins=bins, density=True, alpha=0.5, label="minibatch SGD")
ax.hist(lang.positions[:, 0], bins=bins, density=True, alpha=0.5, label="Langevin (SDE)")
ax.plot(grid, dens.pdf(grid), "k", label="FP density, state-dependent Σ_N")
ax.plot(grid, const.pdf(grid), "k:", label="FP density, constant Σ")
ax.set(xlabel="θ", title=f"stationary law at T = {T0}")
ax.legend(fontsize=8)
show(fig, "bg21-relaxation")
split = train.potential.split_offset
print(
    "wide-basin fraction: SGD",
    np.mean(sgd.positions[:, 0] < split).round(3),
    " Langevin",
    np.mean(lang.positions[:, 0] < split).round(3),
    " FP",
    dens.basin_masses()[0].round(3),
)

# %% [markdown]
# ## 6. Test loss against temperature
#
# Domain shift δ = −0.3 (every translation moved): temperature moves weight to the wide
# minimum, whose shift-curvature is smaller, against the growing ½HC.  Exact FP curve,
# BG21's second-order formula, and SGD (B = 1, time average after three relaxation times).

# %%
test = fs.shifted_test_loss(train, "domain", shift=-0.3)
temps = np.array([0.01, 0.015, 0.02, 0.03, 0.04])
exact = [shift.exact_expected_test_loss(train, test, t) for t in temps]
second = []
for t in temps:
    bt = shift.basin_test_loss(train, test, t)
    quad = bt.terms["minimum"] + bt.terms["shift_curvature"] + bt.terms["covariance"]
    second.append(float(np.dot(bt.weights, quad)))
measured = []
for i, t in enumerate(temps[:: 2 if SMALL else 1]):
    rate = relaxation_rate(train.potential, t)
    steps = int(6 / rate / t)
    res = sgd_chains(
        train,
        lr=t,
        batch_size=1,
        n_chains=CHAINS // 3,
        n_steps=steps,
        x0=np.where(np.arange(CHAINS // 3) % 2, -1.0, 1.0),
        seed=10 + i,
        record_every=max(1, steps // 60),
    )
    keep = res.record_steps * t > 3 / rate
    measured.append((float(t), float(test.loss(res.records[keep, :, 0]).mean())))
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(temps, exact, "k-", label="exact FP")
ax.plot(temps, second, "g--", label="BG21 second-order formula")
ax.plot(*zip(*measured, strict=True), "o", label="minibatch SGD")
ax.set(xlabel="T = η/B", ylabel="E L_test", title="domain shift δ = −0.3")
ax.legend()
show(fig, "bg21-shift-test-loss")
print("measured:", [(t, round(m, 4)) for t, m in measured])

# %% [markdown]
# ## 7. The effective potential with SGD's own noise (`bg21-effective`)
#
# With a translation spread in the data, the per-sample gradient noise is state dependent,
# Σ_N(θ) ≈ s² L''(θ)² + τ²: larger in the sharp basin.  The stationary law of the SDE is
# then p ∝ exp(−Φ) with the effective potential Φ = ∫ 2L_N'/(TΣ_N) + log Σ_N — not the Gibbs
# law of the training loss.  Its wide-basin weight w(T) crosses ½ at T*; isotropic noise of
# the same mean size crosses elsewhere.  A short SGD run at T* shows where SGD sits: its
# per-sample gradients are also skewed and heavy-tailed in the sharp basin, which the SDE
# (Σ_N only) does not carry.

# %%
from scipy import stats  # noqa: E402

from sgdnoise.experiments import _bg21_effective_analysis as eff  # noqa: E402

prob_e = eff.problem(10_000)
t_star = eff.crossover(prob_e.potential)
iso_e, s2_e = eff.matched_isotropic(prob_e, t_star)
t_iso_e = eff.crossover(iso_e)
print(f"effective-law T* = {t_star:.4g}; isotropic (σ² = {s2_e:.3f}) T* = {t_iso_e:.4g}")
for name, th in (("wide", -0.81), ("narrow", 0.86)):
    g = prob_e.per_sample_gradients(np.array([th]))[0]
    print(
        f"{name}: Σ_N = {prob_e.noise(th):.3f}, skewness {stats.skew(g):.2f}, "
        f"kurtosis {stats.kurtosis(g, fisher=False):.2f}"
    )
x0 = np.where(np.arange(CHAINS // 2) % 2 == 0, -0.81, 0.86)
n_steps = int((2 if SMALL else 5) * eff.relaxation_time(prob_e.potential, t_star) / t_star)
x = eff.sgd_final_positions(prob_e, lr=t_star, n_chains=CHAINS // 2, n_steps=n_steps, x0=x0,
                            seed=3)  # fmt: skip
w_sgd, _ = eff.wide_fraction(x, prob_e.potential)
print(f"at T*: effective law 0.5, minibatch SGD (B = 1, η = T*) {w_sgd:.3f}")
assert 0.3 < w_sgd < 0.9
