"""Parameterizations of a layer and the map between NTK- and standard-parameterized SGD (P19).

A layer's effective weight is ``v = c·u`` with a fixed multiplier c and trainable u:

* standard: ``c = 1``, ``u ~ N(0, σ_w²/n_in)``;
* NTK (Jacot et al. 2018; Park et al. 2019, P19): ``c = σ_w/sqrt(n_in)``, ``u ~ N(0, 1)``;
* mean-field (Sclocchi, Geiger & Wyart 2023, SGW23): ``c = 1/sqrt(n_in)`` for hidden layers,
  ``c = 1/h`` for the readout, ``u ~ N(0, 1)``.

**Derived here (P19 §2, DESIGN.md §3).**  SGD at rate ε on u,

    u' = u − ε ∂L(c u)/∂u = u − ε c L'(v),   so   v' = c u' = v − ε c² L'(v),

is exactly SGD on v at rate ``η = ε c²``.  For an NTK layer ``η = ε σ_w²/n_in``, which is
:data:`sgdnoise.theory.conventions.STANDARD_LR_FROM_NTK`; the derivation below checks the two
agree.  The identity holds coordinate by coordinate for any loss (the chain rule multiplies
each partial derivative by the same c), hence step for step for whole networks whose layers
have different multipliers: each layer gets its own rate ``ε c_l²``.
"""

from __future__ import annotations

import sympy as sp

from ..validation import choice, integer, positive
from . import conventions
from .symbolic import numeric

eps, eta, c, u, v = sp.symbols("epsilon eta c u v", real=True)
sigma_w2, n_in, h = sp.symbols("sigma_w2 n_in h", positive=True)
_L = sp.Function("L")

PARAMETERIZATIONS = ("standard", "ntk", "mean-field")

#: Multipliers c of the effective weight v = c·u (hidden layers / readout).
MULTIPLIER = {
    "standard": sp.Integer(1),
    "ntk": sp.sqrt(sigma_w2 / n_in),
    "mean-field": 1 / sp.sqrt(n_in),
}
MEAN_FIELD_READOUT_MULTIPLIER = 1 / h
#: Standard deviation of the trainable u at initialization.
INIT_STD = {
    "standard": sp.sqrt(sigma_w2 / n_in),
    "ntk": sp.Integer(1),
    "mean-field": sp.Integer(1),
}


def derive_equivalent_rate() -> sp.Expr:
    """Solve ``c·(u − ε ∂_u L(c u)) = v − η L'(v)`` at ``v = c u`` for η (= ε c²)."""
    step_u = c * (u - eps * sp.diff(_L(c * u), u))
    step_v = (v - eta * sp.diff(_L(v), v)).subs(v, c * u)
    sol = sp.solve(sp.Eq(step_u.doit(), step_v.doit()), eta)
    if len(sol) != 1:  # pragma: no cover - the equation is linear in η
        raise RuntimeError(f"expected one solution for the rate, got {sol}")
    return sp.simplify(sol[0])


#: η = ε c²: the standard-parameterization rate of a layer with multiplier c.
EQUIVALENT_RATE = eps * c**2
_equivalent_rate = numeric(EQUIVALENT_RATE, (eps, c))
_multiplier = {k: numeric(e, (sigma_w2, n_in)) for k, e in MULTIPLIER.items()}
_init_std = {k: numeric(e, (sigma_w2, n_in)) for k, e in INIT_STD.items()}
_mf_readout = numeric(MEAN_FIELD_READOUT_MULTIPLIER, (h,))


def layer_multiplier(
    parameterization: str, fan_in: int, *, sigma_w2: float = 2.0, readout: bool = False
) -> float:
    """Multiplier c of a layer with fan-in ``n_in`` (for the mean-field readout ``1/h``, with
    h = ``fan_in``, the readout's input width)."""
    choice("parameterization", parameterization, PARAMETERIZATIONS)
    n = integer("fan_in", fan_in, minimum=1)
    s = positive("sigma_w2", sigma_w2)
    if parameterization == "mean-field" and readout:
        return float(_mf_readout(n))
    return float(_multiplier[parameterization](s, n))


def init_std(parameterization: str, fan_in: int, *, sigma_w2: float = 2.0) -> float:
    """Standard deviation of the trainable weights at initialization."""
    choice("parameterization", parameterization, PARAMETERIZATIONS)
    return float(
        _init_std[parameterization](
            positive("sigma_w2", sigma_w2), integer("fan_in", fan_in, minimum=1)
        )
    )


def equivalent_standard_lr(lr: float, multiplier: float) -> float:
    """Rate ``ε c²`` at which SGD on v = c·u moves v when u moves at rate ε."""
    m = positive("multiplier", multiplier)
    return float(_equivalent_rate(positive("lr", lr), m))


def standard_lr_for_ntk_layer(lr_ntk: float, fan_in: int, sigma_w2: float = 2.0) -> float:
    """``ε σ_w²/n_in`` — the named convention of :mod:`~sgdnoise.theory.conventions`."""
    return conventions.standard_lr_from_ntk(lr_ntk, fan_in, sigma_w2)


def check_against_convention() -> None:
    """Raise unless ``ε c²`` with the NTK multiplier equals ``STANDARD_LR_FROM_NTK``."""
    derived = derive_equivalent_rate().subs(c, MULTIPLIER["ntk"])
    convention = conventions.STANDARD_LR_FROM_NTK.subs(
        {conventions.eps: eps, conventions.sigma_w2: sigma_w2, conventions.n_in: n_in}
    )
    if sp.simplify(derived - convention) != 0:
        raise RuntimeError(
            f"conventions.STANDARD_LR_FROM_NTK = {convention} but the derivation gives {derived}"
        )
