"""Symbolic theory (sympy + numpy/scipy only; imports nothing else of ours but the
root-level :mod:`sgdnoise.errors` / :mod:`sgdnoise.validation`).

Every result is a sympy expression and a fast numeric function made from it, so there is
exactly one definition of each formula.
"""
