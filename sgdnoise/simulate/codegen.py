"""sympy → numba: the one road from a symbolic loss to simulation code.

numba cannot cache a kernel that receives a compiled function as an argument (the function's
type differs in every process), and a closure over a dynamically made function is not
cacheable either.  So we *generate source*: the model functions printed from their sympy
expressions, followed by a kernel template (a real module in :mod:`.templates`, written
against the generated names), are written to one file in the kernel cache named by the hash
of that text.  numba's ``cache=True`` then works across processes, and a potential family is
compiled once for all its parameter values, since parameters are runtime arguments.

A generated function ``name(a_0, …, a_{k−1}, out)`` takes 1-D float arrays bound to tuples of
symbols and writes ``out[j] = exprs[j]``, after common-subexpression elimination.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

_LOADED: dict[str, ModuleType] = {}


def cache_dir() -> Path:
    """Where generated kernels live: ``$SGDNOISE_CACHE_DIR`` or ``~/.cache/sgdnoise``."""
    root = os.environ.get("SGDNOISE_CACHE_DIR") or Path.home() / ".cache" / "sgdnoise"
    path = Path(root) / "kernels"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Function:
    """``name(arrays…, out)`` with ``out[j] = exprs[j]``; ``inputs[k]`` are the symbols that
    the k-th array argument holds, in order.  With ``returns=True`` it is ``name(arrays…)``
    returning the tuple of values instead: values stay in registers, so a loop calling it
    over independent particles can be vectorized."""

    name: str
    exprs: tuple[sp.Expr, ...]
    inputs: tuple[tuple[sp.Symbol, ...], ...]
    returns: bool = False


class _Printer(PythonCodePrinter):
    """Python printer that spells math functions as ``math.f`` and powers with small
    integer exponents as products (numba turns ``x**2.0`` into a pow call)."""

    def _print_Pow(self, expr, rational=False):
        b, e = expr.as_base_exp()
        if e.is_Integer and 1 < int(e) <= 8:
            base = self.parenthesize(b, 100)
            return "(" + "*".join([base] * int(e)) + ")"
        if e.is_Integer and -8 <= int(e) < 0:
            base = self.parenthesize(b, 100)
            return "(1.0/(" + "*".join([base] * -int(e)) + "))"
        return super()._print_Pow(expr, rational=rational)


class _Namer:
    """Gives each distinct invariant subexpression one symbol ``{prefix}k``."""

    def __init__(self, varying: Sequence[sp.Symbol], prefix: str):
        self.var = set(varying)
        self.prefix = prefix
        self.table: dict[sp.Expr, sp.Symbol] = {}

    def name(self, e):
        if e.is_Number:
            return e
        if e not in self.table:
            self.table[e] = sp.Symbol(f"{self.prefix}{len(self.table)}", real=True)
        return self.table[e]

    def visit(self, e):
        """Replace every maximal subexpression free of the varying symbols (inside sums and
        products) by its symbol, without expanding anything."""
        if not (e.free_symbols & self.var):
            return self.name(e)
        if e.is_Add or e.is_Mul:
            inv = [a for a in e.args if not (a.free_symbols & self.var)]
            rest = [self.visit(a) for a in e.args if a.free_symbols & self.var]
            return e.func(*([self.name(e.func(*inv))] if inv else []), *rest)
        if not e.args:
            return e
        return e.func(*[self.visit(a) for a in e.args])

    def invariants(self) -> list[tuple[sp.Symbol, sp.Expr]]:
        return [(sym, e) for e, sym in self.table.items()]


def name_invariant_blocks(
    exprs: Sequence[sp.Expr], varying: Sequence[sp.Symbol], prefix: str = "c"
) -> tuple[list[sp.Expr], list[tuple[sp.Symbol, sp.Expr]]]:
    """Replace every maximal subexpression free of ``varying`` by a fresh symbol, without
    expanding anything; returns the rewritten expressions and ``[(c_k, invariant_k)]``."""
    namer = _Namer(varying, prefix)
    return [namer.visit(sp.sympify(e)) for e in exprs], namer.invariants()


def hoist_invariants(
    exprs: Sequence[sp.Expr], varying: Sequence[sp.Symbol], prefix: str = "c"
) -> tuple[list[sp.Expr], list[tuple[sp.Symbol, sp.Expr]]]:
    """Pull every subexpression that does not involve ``varying`` out of ``exprs``.

    Returns the rewritten expressions and ``[(c_k, invariant_k)]``.  A kernel computes the
    invariants once (a generated ``prepare`` function) instead of at every step: for the
    Hermite families the polynomial coefficients are long rational functions of the
    parameters, far costlier than the polynomial itself.  Polynomials in ``varying`` are put
    in Horner form over their (hoisted) coefficients."""
    namer = _Namer(varying, prefix)
    out = []
    for e in exprs:
        e = sp.sympify(e)
        gens = [v for v in varying if v in e.free_symbols]
        if gens and e.is_polynomial(*gens):
            poly = sp.Poly(sp.expand(e), *gens)
            terms = [
                namer.name(c) * sp.Mul(*[g**k for g, k in zip(gens, m, strict=True)])
                for m, c in poly.terms()
            ]
            out.append(sp.horner(sp.Add(*terms), *gens) if len(terms) > 1 else terms[0])
        else:
            out.append(namer.visit(e))
    return out, namer.invariants()


def function_source(fn: Function) -> str:
    """Python source of one generated function (numba-compiled by the module header)."""
    args = [f"a{k}" for k in range(len(fn.inputs))]
    sub = {}
    lines = []
    for k, syms in enumerate(fn.inputs):
        for j, s in enumerate(syms):
            local = sp.Symbol(f"v{k}_{j}", real=True)
            sub[s] = local
            lines.append(f"    {local} = a{k}[{j}]")
    exprs = [sp.sympify(e).xreplace(sub) for e in fn.exprs]
    used = set().union(*(e.free_symbols for e in exprs)) if exprs else set()
    unknown = used - set(sub.values())
    if unknown:
        raise ValueError(f"{fn.name}: free symbols {sorted(map(str, unknown))} are not inputs")
    replacements, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("t"))
    pr = _Printer({"fully_qualified_modules": True, "standard": "python3"})
    for sym, val in replacements:
        lines.append(f"    {sym} = {pr.doprint(val)}")
    if fn.returns:
        values = ", ".join(pr.doprint(e) for e in reduced)
        lines.append(f"    return ({values},)")
    else:
        for j, e in enumerate(reduced):
            lines.append(f"    out[{j}] = {pr.doprint(e)}")
        args = args + ["out"]
    head = f"@njit(cache=True, inline='always')\ndef {fn.name}({', '.join(args)}):"
    return head + "\n" + "\n".join(lines or ["    pass"]) + "\n"


def build(template: ModuleType, functions: Sequence[Function], constants: dict | None = None):
    """Generate (or reuse) the module = functions + ``template``'s source, and import it.

    ``constants`` become module-level ints/floats, which numba treats as compile-time
    constants (e.g. the dimension, so inner loops unroll)."""
    parts = [
        "# Generated by sgdnoise.simulate.codegen: do not edit.",
        "import math",
        "import numpy as np",
        "from numba import njit",
        "",
    ]
    for k, v in sorted((constants or {}).items()):
        parts.append(f"{k} = {v!r}")
    parts += ["", *[function_source(f) for f in functions]]
    body = inspect.getsource(template)
    parts.append(body)
    text = "\n".join(parts)
    key = hashlib.sha256(text.encode()).hexdigest()[:20]
    name = f"sgdnoise_gen_{template.__name__.rsplit('.', 1)[-1]}_{key}"
    if name in _LOADED:
        return _LOADED[name]
    path = cache_dir() / f"{name}.py"
    if not path.exists():
        # Write atomically so that concurrent processes never import a half-written file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    _LOADED[name] = mod
    return mod
