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

from importlib import import_module

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

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    try:
        target = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    module, _, attr = target.partition(":")
    value = getattr(import_module(module, __name__), attr or name)
    globals()[name] = value  # resolve once
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
