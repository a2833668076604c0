"""The claim catalog: every claim's id, paper, statement and module, known without importing
the claim (DESIGN.md §9; issue 15 item 7).

``sgdnoise list`` reads this table alone, so it answers without importing numba, sympy,
torch or matplotlib; :func:`sgdnoise.experiments.registry.get_claim` imports a claim's
module only when the claim is run.  The claim module still registers itself with
``@claim(...)``; ``tests/experiments/test_catalog.py`` checks that what the modules
register equals this table, so a claim missing here (or differing) fails a test.

**Adding a claim**: write its module in ``sgdnoise/experiments/`` with ``@claim("id")``
(paper, statement and scales may be omitted there: they are read from here) and add one
:class:`Entry` line below.  ``data`` names the data sets the claim reads at each scale, so
that ``sgdnoise reproduce`` checks them (present, readable, right checksum) before it
creates anything.

This module imports nothing heavy (standard library only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCALES = ("smoke", "cpu", "paper")
PAPERS = {
    "P19": "Park, Sohl-Dickstein, Le, Smith, ICML 2019 (arXiv 1905.03776)",
    "BG21": "Bradley & Gomez-Uribe, MLST 2022 (arXiv 2108.09507)",
    "SGW23": "Sclocchi, Geiger, Wyart, ICML 2023 (arXiv 2301.13703)",
    "UI25": "Umeda & Iiduka, TMLR 2025 (arXiv 2409.08770)",
    "KCL23": "Kaur, Cohen, Lipton, PMLR 187 2023 (arXiv 2206.10654)",
}
#: The data sets a claim may read (``sgdnoise.nets.datasets.DATASETS``).
DATASETS = ("cifar10", "mnist")


@dataclass(frozen=True)
class Entry:
    """One claim as ``sgdnoise list`` shows it; ``module`` is the module name inside
    ``sgdnoise.experiments``; ``data`` maps a scale to the data sets read at that scale."""

    id: str
    paper: str
    module: str
    statement: str
    scales: tuple[str, ...] = SCALES
    data: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def module_path(self) -> str:
        return f"sgdnoise.experiments.{self.module}"

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "paper": self.paper,
            "scales": list(self.scales),
            "statement": self.statement,
        }


CIFAR_ALL = dict.fromkeys(SCALES, ("cifar10",))
CIFAR_CPU = {"cpu": ("cifar10",), "paper": ("cifar10",)}  # smoke: a synthetic task
MNIST_ALL = dict.fromkeys(SCALES, ("mnist",))
BOTH_ALL = dict.fromkeys(SCALES, ("mnist", "cifar10"))
KCL23_DATA = {"smoke": ("mnist",), "cpu": ("cifar10",), "paper": ("cifar10",)}

CLAIMS: tuple[Entry, ...] = (
    Entry(
        "bg21-cifar",
        "BG21",
        "bg21_cifar",
        (
            "on CIFAR-10, SGD runs with equal T = η/B reach equal test loss (within a margin "
            "set by the T effect), and a higher T lowers the test loss under sampling and "
            "domain shift"
        ),
        data=CIFAR_ALL,
    ),
    Entry(
        "bg21-effective",
        "BG21",
        "bg21_effective",
        (
            "minibatch SGD with its state-dependent noise Σ_N(θ) follows an effective "
            "potential, not the training loss: the deep narrow minimum wins at low T, the "
            "wide one at high T, crossing over at the T* the effective law predicts"
        ),
    ),
    Entry(
        "bg21-invariance",
        "BG21",
        "bg21_invariance",
        (
            "SGD pairs (eta, B) with equal eta/B share one stationary law while eta*h_max is "
            "small, and part where the SDE approximation fails (eta*h_max = O(1))"
        ),
    ),
    Entry(
        "bg21-selection",
        "BG21",
        "bg21_selection",
        (
            "Higher temperature T=η/B shifts occupation to the wide minimum as the "
            "Fokker–Planck/Laplace weights predict, relaxing at the Kramers rate."
        ),
    ),
    Entry(
        "bg21-shift",
        "BG21",
        "bg21_shift",
        (
            "SGD's stationary test loss vs T = eta/B under sampling and domain shift follows "
            "the Fokker-Planck / shift-curvature theory; higher T can lower the domain-shift "
            "test loss"
        ),
    ),
    Entry(
        "bg21-stationary",
        "BG21",
        "bg21_stationary",
        (
            "Langevin dynamics at temperature T=η/B settles into the Fokker–Planck stationary"
            " density p ∝ (1/D)exp(−∫L'/D) (1-D, constant and state-dependent noise; 2-D)."
        ),
    ),
    Entry(
        "kcl23-bn",
        "KCL23",
        "kcl23_bn",
        "batch norm does not consistently lower λmax, yet it improves test accuracy",
        data=KCL23_DATA,
    ),
    Entry(
        "kcl23-dropout",
        "KCL23",
        "kcl23_dropout",
        "higher dropout lowers λmax, yet excessive dropout degrades test accuracy",
        data=KCL23_DATA,
    ),
    Entry(
        "kcl23-eos",
        "KCL23",
        "kcl23_eos",
        "full-batch GD at rate η drives the Hessian's λmax to the edge of stability 2/η",
        data=CIFAR_CPU,
    ),
    Entry(
        "kcl23-gd-sgd",
        "KCL23",
        "kcl23_gd_sgd",
        (
            "full-batch GD and minibatch SGD over a range of η: λmax falls with η under both, "
            "test accuracy moves with η only under SGD (the GD–SGD discrepancy)"
        ),
        data=KCL23_DATA,
    ),
    Entry(
        "kcl23-lr",
        "KCL23",
        "kcl23_lr",
        (
            "a larger learning rate lowers λmax at every batch size; its accuracy benefit "
            "fades at large batch sizes"
        ),
        data=KCL23_DATA,
    ),
    Entry(
        "kcl23-sam",
        "KCL23",
        "kcl23_sam",
        (
            "SAM (ρ=0.05) lowers λmax at every batch size; its accuracy benefit fades at "
            "large batch sizes"
        ),
        data=KCL23_DATA,
    ),
    Entry(
        "kcl23-scaling",
        "KCL23",
        "kcl23_scaling",
        "scaling η and B together (η/B fixed) changes λmax but not test accuracy",
        data=KCL23_DATA,
    ),
    Entry(
        "p19-bmax",
        "P19",
        "p19_bmax",
        (
            "the largest stable rate ε_max is bounded, so B_max = ε_max N/ḡ_opt, the largest "
            "batch consistent with the optimal noise scale, falls as the width k grows"
        ),
        data=CIFAR_ALL,
    ),
    Entry(
        "p19-collapse",
        "P19",
        "p19_collapse",
        (
            "the optimal SGD hyper-parameters are determined by a normalized noise scale "
            "ḡ = εN/B: at each width, grid points of equal ḡ reach equal test accuracy and "
            "points of different ḡ do not"
        ),
        data=CIFAR_ALL,
    ),
    Entry(
        "p19-param",
        "P19",
        "p19_param",
        (
            "NTK-param SGD at rate ε equals standard-param SGD with per-layer rate ε "
            "σ_w²/n_in, step for step (MLP and ConvNet, float64)"
        ),
        data=CIFAR_CPU,
    ),
    Entry(
        "p19-width",
        "P19",
        "p19_width",
        (
            "without batch norm the optimal normalized noise scale ḡ_opt = εN/B is "
            "proportional to width k (log-log slope 1), and wider networks reach higher test "
            "accuracy"
        ),
        data=CIFAR_ALL,
    ),
    Entry(
        "sgw23-opposite",
        "SGW23",
        "sgw23_opposite",
        (
            "raising T and lowering α both take α-trick nets out of the lazy regime, yet in "
            "some lazy cell of the (α, T) phase diagram they change the test error in "
            "opposite directions (MNIST and CIFAR-10)"
        ),
        data=BOTH_ALL,
    ),
    Entry(
        "sgw23-perceptron",
        "SGW23",
        "sgw23_perceptron",
        (
            "Perceptron SGD for T ≫ 1/α: ‖Δw_⊥‖ ∝ T√d P^0 (noise set by T), Δw₁/‖Δw_⊥‖ ∝ "
            "P^{1/(1+χ)} (a stronger signal), T_c ∝ P^{−1/(1+χ)}, Δw₁ ∝ T, and t* ∝ T d "
            "P^{(3+χ)/(1+χ)} (b derived); for T ≪ 1/α, Δw₁ independent of T"
        ),
    ),
    Entry(
        "sgw23-phase",
        "SGW23",
        "sgw23_phase",
        (
            "(α, T) phase diagram of test error for α-trick nets on MNIST and CIFAR-10: "
            "lowering α or raising T leaves the lazy regime; SGD noise is useful in the lazy "
            "regime; T_opt grows with α; raising T and lowering α can have opposite effects "
            "on performance"
        ),
        data=BOTH_ALL,
    ),
    Entry(
        "sgw23-powerlaws",
        "SGW23",
        "sgw23_powerlaws",
        (
            "in the lazy regime ‖Δw‖/‖w0‖ and t* are joint power laws T^δ P^γ (δ, γ > 0, the "
            "exponents steady across the grid), T_c's exponent a = γ/δ (derived); most of the "
            "weight change and of the temperature's effect on the test error come after the "
            "training loss falls to a tenth of its initial value"
        ),
        data=MNIST_ALL,
    ),
    Entry(
        "sgw23-tc",
        "SGW23",
        "sgw23_tc",
        (
            "In the lazy regime ‖Δw‖/‖w0‖ and t* grow with T; the temperature T_c where the "
            "weight change departs from its T → 0 value is a power law of P, T_c ∝ P^(−a)"
        ),
        data=MNIST_ALL,
    ),
    Entry(
        "ui25-bounds",
        "UI25",
        "ui25",
        "the UI25 bound of schedulers (i)-(iv): closed forms, rates, and SGD under it",
    ),
    Entry(
        "ui25-cifar",
        "UI25",
        "ui25_cifar",
        (
            "on a ResNet with CIFAR-10, increasing batch sizes reach small full-gradient "
            "norms with fewer samples processed; schedulers (iii)/(iv) do best"
        ),
        data=CIFAR_ALL,
    ),
    Entry(
        "ui25-synthetic",
        "UI25",
        "ui25_synthetic",
        (
            "SGD under schedulers (i)-(iv) on problems with known L, σ²: (i) stalls; "
            "(iii)/(iv) accelerate, per step and per sample processed"
        ),
    ),
    Entry(
        "ui25-floor",
        "UI25",
        "ui25_floor",
        (
            "scheduler (i) (constant b, constant η) floors at E‖∇f‖² ∝ σ²η/b under UI25's "
            "constants, and schedulers (ii)-(iv) from the same η0, b0 go below that floor"
        ),
    ),
    Entry(
        "ui25-acceleration",
        "UI25",
        "ui25_acceleration",
        (
            "schedulers (iii) and (iv) reach a stated ‖∇f‖² in fewer steps and fewer samples "
            "processed than (i) and (ii) on the synthetic problems and a ResNet on CIFAR-10, "
            "for (δ, γ) = (2, 1.4), (3, 1.7), (4, 1.9)"
        ),
        data=CIFAR_ALL,
    ),
)


def entries() -> dict[str, Entry]:
    """Every catalogued claim by id, in a stable order (paper, then id)."""
    return {e.id: e for e in sorted(CLAIMS, key=lambda e: (e.paper, e.id))}
