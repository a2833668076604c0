"""Kernel templates: real, readable numba code written against names that
:mod:`sgdnoise.simulate.codegen` generates from sympy (``drift``, ``noise_sd``, ``DIM``, …).
They are never imported to run; codegen pastes their source after the generated functions."""
