"""numba simulators (numba + numpy only; may import :mod:`sgdnoise.theory`, never torch).

Losses are never hand-copied here: they are compiled from their sympy definitions in
theory (see :mod:`sgdnoise.simulate.codegen`).

The objects a researcher uses are importable from here directly::

    from sgdnoise.simulate import sgd_chains, langevin_ensemble, Target, stationary_sampler

``sgd_chains`` is the one minibatch-SGD simulator (:func:`sgdnoise.simulate.sgd.sgd`; a
constant learning rate is its trivial schedule); it is exported under that name because
``sgdnoise.simulate.sgd`` is the module that holds it.

They load on first use (PEP 562), so ``import sgdnoise.simulate`` costs nothing until a
simulator is touched (numba and sympy take seconds to import).
"""

from .._lazy import lazy_exports

#: public name -> module (relative to this package) that defines it
_EXPORTS = {
    "sgd_chains": ".sgd:sgd",
    "SGDResult": ".sgd",
    "minibatch_gradients": ".sgd",
    "langevin_ensemble": ".langevin",
    "EnsembleResult": ".langevin",
    "stability_limit": ".langevin",
    "Target": ".outcome",
    "DONE": ".outcome",
    "DIVERGED": ".outcome",
    "stationary_sampler": ".stationary",
    "simulate_perceptron": ".perceptron:simulate",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
