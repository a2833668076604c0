"""numba simulators (numba + numpy only; may import :mod:`sgdnoise.theory`, never torch).

Losses are never hand-copied here: they are compiled from their sympy definitions in
theory (see :mod:`sgdnoise.simulate.codegen`)."""
