"""Helpers that turn one sympy expression into its fast numeric function."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sympy as sp


def numeric(expr: sp.Expr, args: Sequence[sp.Symbol]) -> Callable:
    """``lambdify`` ``expr`` over ``args`` with numpy semantics (broadcasts over arrays)."""
    return sp.lambdify(tuple(args), expr, modules="numpy", cse=True)
