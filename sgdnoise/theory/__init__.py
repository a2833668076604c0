"""Symbolic theory (sympy + numpy/scipy only; imports nothing else of ours but the
root-level :mod:`sgdnoise.errors` / :mod:`sgdnoise.validation`).

Every result is a sympy expression and a fast numeric function made from it, so there is
exactly one definition of each formula.

The objects a researcher uses are importable from here directly (recipes in
``docs/recipes.md``)::

    from sgdnoise.theory import potential, StationaryDensity, summarize_basins, kramers_time

They load on first use (PEP 562): ``import sgdnoise.theory`` imports no sympy until one is
touched.  Three are exported under a name other than their module's, because a submodule
of that name exists and ``import sgdnoise.theory.basins`` would rebind the package
attribute: ``find_basins`` is :func:`.basins.basins`, ``summarize_basins`` is
:func:`.basin_summary.basin_summary` and ``per_sample_loss`` is
:func:`.sample_loss.sample_loss`.
"""

from .._lazy import lazy_exports

#: public name -> "module[:attribute]" (relative to this package) that defines it
_EXPORTS = {
    # a potential of your own, its stationary law, basins and escape times
    "potential": ".potentials",
    "Potential": ".potentials",
    "two_minima_1d": ".potentials",
    "two_minima_2d": ".potentials",
    "check_potential": ".potential_checks",
    "StationaryDensity": ".density",
    "find_basins": ".basins:basins",
    "Basins": ".basins",
    "minima": ".basins",
    "laplace_log_weights": ".basins",
    "summarize_basins": ".basin_summary:basin_summary",
    "BasinSummary": ".basin_summary",
    "kramers_time": ".escape",
    "mean_first_passage_time": ".escape",
    "relaxation_rate": ".escape",
    # finite-sample losses (what minibatch SGD sees)
    "per_sample_loss": ".sample_loss:sample_loss",
    "SampleLoss": ".sample_loss",
    "FiniteSampleLoss": ".finite_sample",
    "finite_sample_loss": ".finite_sample",
    "make_problem": ".finite_sample",
    # conventions, OU covariance, shift, stability
    "temperature": ".conventions",
    "noise_scale": ".conventions",
    "normalized_noise_scale": ".conventions",
    "ou_covariance": ".ou",
    "sgd_covariance": ".ou",
    "basin_test_loss": ".shift",
    "critical_lr": ".stability",
    "eos_sharpness": ".stability",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
