"""Sweep specifications: one experiment function, a grid, fixed settings (DESIGN.md §6).

A sweep is written as TOML (read with :mod:`tomllib`) or as the equivalent Python dict::

    name = "quadratic-T"
    function = "noisy-quadratic"          # a registered name, or "package.module:function"

    [fixed]                               # the same for every run
    dim = 8
    steps = 2000

    [product]                             # Cartesian product of these axes
    seed = [0, 1, 2]
    noise = { geomspace = [0.1, 1, 3] }   # also linspace = [a, b, n], range = [a, b(, step)]

    [[zip]]                               # one axis whose points are tuples: zipped lists
    lr = [0.01, 0.02, 0.04]               # (lr, batch) pairs on a line of constant lr/batch
    batch = [4, 8, 16]

The grid is the product of every ``product`` axis and every ``zip`` group (a zip group is
one axis whose points are its lists read in parallel).  Each point, merged with ``fixed``,
is one run's **full config**: the keyword arguments of ``function``.

Validation happens here, before anything is written anywhere: unknown top-level keys, a
function that cannot be imported, a parameter the function does not accept, a required
parameter that no axis or fixed setting provides, a name given twice, an empty axis (an
empty grid), zip lists of unequal length, values that are not plain scalars.  A
sweepable's own ``validate(config)`` hook (see :func:`sgdnoise.sweeps.tasks.sweepable`) is
called on every config, so a value the experiment would refuse is refused up front.
Values are checked against the function's annotations (``int``, ``float``, ``bool``,
``str``, ``X | None``): an ``int`` given for a ``float`` becomes a float, anything else
that does not fit is refused.  A parameter named ``data_dir`` must name an existing folder
(or be empty: the default location).

**Names and run keys.**  Built-in workers are found by name through
:data:`sgdnoise.sweeps.tasks.BUILTIN` (no import side effects needed); a module path of a
named worker is read as its name.  A run's key (:func:`run_key`) is the SHA-256 of that
name and the run's *resolved* parameters (the config, typed, with the function's defaults
filled in): moving a function to another module, or spelling out a default, keeps the key.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import itertools
import json
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ParameterError
from ..validation import integer

SPEC_KEYS = ("name", "function", "fixed", "product", "zip", "description")
GENERATORS = ("geomspace", "linspace", "range")
#: Upper bound on the grid size, to catch a typo (a huge range) before a store is filled.
MAX_RUNS = 2_000_000

_Scalar = (bool, int, float, str)


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: ``configs()`` lists every run's full config in grid order."""

    name: str
    function: str
    fixed: dict = field(default_factory=dict)
    product: dict = field(default_factory=dict)
    zip: tuple = ()
    description: str = ""

    @property
    def axes(self) -> list[str]:
        """Every name that varies across the grid (product axes, then zipped names)."""
        names = list(self.product)
        for group in self.zip:
            names += list(group)
        return names

    def configs(self) -> list[dict]:
        """The grid points merged with the fixed settings, product axes varying slowest-first."""
        factors: list[list[dict]] = [[{k: v} for v in vals] for k, vals in self.product.items()]
        for group in self.zip:
            keys = list(group)
            n = len(group[keys[0]])
            factors.append([{k: group[k][i] for k in keys} for i in range(n)])
        out = []
        for combo in itertools.product(*factors):
            cfg = dict(self.fixed)
            for part in combo:
                cfg.update(part)
            out.append(cfg)
        return out

    def __len__(self) -> int:
        n = 1
        for vals in self.product.values():
            n *= len(vals)
        for group in self.zip:
            n *= len(next(iter(group.values())))
        return n

    def as_dict(self) -> dict:
        """The spec in the dict form :func:`load_spec` accepts (generators expanded)."""
        return {
            "name": self.name,
            "function": self.function,
            "description": self.description,
            "fixed": dict(self.fixed),
            "product": {k: list(v) for k, v in self.product.items()},
            "zip": [{k: list(v) for k, v in g.items()} for g in self.zip],
        }


def canonical_json(obj) -> str:
    """Key-sorted, whitespace-free JSON: equal configs give equal strings (and hashes)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def run_key(function: str, config: Mapping) -> str:
    """A run's identity: SHA-256 of the canonical JSON of its function's name and its
    resolved parameters (:func:`resolve_params`).

    ``function`` may be a registered name or a ``module:function`` path; a named worker
    is keyed by its name, so keys survive moving the function.  The name is part of the
    key so that one study file may hold sweeps of several experiments without their grids
    colliding.  A function that cannot be imported is keyed by the reference as given,
    with the config as given.
    """
    name, fn = function_identity(function)
    params = dict(config) if fn is None else resolve_params(fn, config)
    payload = canonical_json({"function": name, "config": params})
    return hashlib.sha256(payload.encode()).hexdigest()


def function_identity(ref: str) -> tuple[str, Callable | None]:
    """``(name the runs are keyed by, the function or None)`` for a spec's ``function``.

    A registered name is its own name; ``module:function`` of a registered worker becomes
    that worker's name (:data:`~sgdnoise.sweeps.tasks.BUILTIN`, or the function's
    ``sweep_name``); any other importable path stays the path."""
    from . import tasks

    if not isinstance(ref, str):
        return str(ref), None
    by_path = {v: k for k, v in tasks.BUILTIN.items()}
    name = by_path.get(ref, ref)
    try:
        fn = resolve_function(ref)
    except ParameterError:
        return name, None
    if name == ref and ":" in ref:
        name = getattr(fn, "sweep_name", None) or ref
    return name, fn


def worker_ref(ref: str) -> str:
    """What a worker process imports to run ``ref``: a built-in name (found through the
    table there too), else ``module:qualname`` of the function (a name registered only in
    this process with :func:`~sgdnoise.sweeps.tasks.sweepable` would be unknown there)."""
    from . import tasks

    if ref in tasks.BUILTIN or ":" in ref:
        return ref
    fn = resolve_function(ref)
    mod, qual = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not mod or "<" in qual:
        return ref  # a lambda or nested function: only reachable through the registry
    return f"{mod}:{qual}"


_PLAIN = (bool, int, float, str, type(None))
_TYPE_NAMES = {"bool": bool, "int": int, "float": float, "str": str, "None": type(None)}


@functools.lru_cache(maxsize=256)
def _params_of(fn: Callable) -> tuple | None:
    """``((name, default or _NO, allowed types or None), ...)`` of ``fn``'s keyword
    parameters; ``None`` when it has no inspectable signature."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    out = []
    for n, p in sig.parameters.items():
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            continue
        out.append((n, _NO if p.default is p.empty else p.default, _allowed_types(p.annotation)))
    return tuple(out)


class _No:
    def __repr__(self) -> str:
        return "<required>"


_NO = _No()


def _allowed_types(annotation) -> tuple[type, ...] | None:
    """The plain types an annotation admits (``float``, ``"int | None"``...), or ``None``
    when it says something this check does not read (then nothing is checked)."""
    if annotation is inspect.Parameter.empty:
        return None
    if isinstance(annotation, type):
        return (annotation,) if annotation in _PLAIN else None
    if not isinstance(annotation, str):
        return None
    parts = [a.strip() for a in annotation.split("|")]
    if not all(a in _TYPE_NAMES for a in parts):
        return None
    return tuple(_TYPE_NAMES[a] for a in parts)


def _typed(where: str, value, allowed: tuple[type, ...] | None, ref: str):
    """``value`` checked against the annotation's types (int → float where a float is
    asked for); a :class:`ParameterError` naming ``where`` otherwise."""
    if allowed is None:
        return value
    if isinstance(value, bool):
        if bool in allowed:
            return value
    elif isinstance(value, int):
        if int in allowed:
            return value
        if float in allowed:
            return float(value)
    elif isinstance(value, float):
        if float in allowed:
            return value
    elif isinstance(value, str):
        if str in allowed:
            return value
    names = " | ".join(t.__name__ if t is not type(None) else "None" for t in allowed)
    raise ParameterError(where, value, f"{ref} takes {names} here, not {type(value).__name__}")


def resolve_params(fn: Callable, config: Mapping) -> dict:
    """The parameters ``fn`` runs with: ``config`` typed by the annotations, plus every
    default (plain values only) of a parameter the config does not give."""
    spec = _params_of(fn)
    out = dict(config)
    if spec is None:
        return out
    for n, default, allowed in spec:
        if n in out:
            out[n] = _typed(n, out[n], allowed, getattr(fn, "__name__", "the function"))
        elif default is not _NO and isinstance(default, _PLAIN):
            out[n] = default
    return out


# --------------------------------------------------------------------------- functions


def resolve_function(ref: str) -> Callable:
    """``"pkg.module:function"`` (dotted attribute path allowed) or a registered name
    (:data:`~sgdnoise.sweeps.tasks.BUILTIN`, or one registered with ``@sweepable``)."""
    from . import tasks

    if not isinstance(ref, str) or not ref:
        raise ParameterError("function", ref, "must be 'package.module:function' or a name")
    if ":" not in ref:
        if ref in tasks.SWEEPABLE:
            return tasks.SWEEPABLE[ref]
        if ref in tasks.BUILTIN:
            return resolve_function(tasks.BUILTIN[ref])
        known = ", ".join(sorted(set(tasks.SWEEPABLE) | set(tasks.BUILTIN)))
        raise ParameterError(
            "function", ref, f"is not a registered sweepable ({known}); or use 'module:function'"
        )
    mod_name, _, attr = ref.partition(":")
    try:
        obj = importlib.import_module(mod_name)
    except Exception as e:  # noqa: BLE001 - any import failure is a bad reference here
        raise ParameterError(
            "function", ref, f"module {mod_name!r} cannot be imported ({e})"
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ParameterError("function", ref, f"{mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ParameterError("function", ref, "is not callable")
    return obj


def _signature_check(fn: Callable, ref: str, given: set[str]) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin without a signature: nothing to check against
    params = sig.parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        accepted = None
    else:
        accepted = {
            n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }
    if accepted is not None:
        unknown = sorted(given - accepted)
        if unknown:
            raise ParameterError(
                "parameter",
                unknown[0],
                f"is not a parameter of {ref}; it accepts {', '.join(sorted(accepted))}",
            )
    required = {
        n
        for n, p in params.items()
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    missing = sorted(required - given)
    if missing:
        raise ParameterError(
            "parameter", missing[0], f"is required by {ref}: give it in [fixed] or as an axis"
        )


# --------------------------------------------------------------------------- values


def _check_scalar(where: str, v):
    if not isinstance(v, _Scalar):
        raise ParameterError(where, v, "values must be numbers, strings or booleans")
    if isinstance(v, float) and not math.isfinite(v):
        raise ParameterError(where, v, "values must be finite")
    return v


def _expand(where: str, raw, *, unique: bool = True) -> list:
    """An axis: a list of scalars, or a one-key table naming a generator.  ``unique``: a
    value may not repeat (a product axis); a zipped list may repeat values, its points
    (the tuples) may not."""
    import numpy as np

    if isinstance(raw, Mapping):
        if len(raw) != 1 or next(iter(raw)) not in GENERATORS:
            raise ParameterError(where, dict(raw), f"a table must be one of {GENERATORS}")
        kind, args = next(iter(raw.items()))
        if not isinstance(args, list | tuple) or not all(
            isinstance(a, int | float) and not isinstance(a, bool) for a in args
        ):
            raise ParameterError(where, args, f"{kind} takes a list of numbers")
        if kind == "range":
            if not 2 <= len(args) <= 3 or not all(isinstance(a, int) for a in args):
                raise ParameterError(where, args, "range takes [start, stop(, step)]")
            if len(args) == 3 and args[2] == 0:
                raise ParameterError(where, args, "range step must be non-zero")
            if len(range(*args)) > MAX_RUNS:  # before the list is built
                raise ParameterError(where, args, f"range has more than {MAX_RUNS} values")
            vals = list(range(*args))
        else:
            if len(args) != 3:
                raise ParameterError(where, args, f"{kind} takes [start, stop, num]")
            num = integer(f"{where}.num", args[2], minimum=0, maximum=MAX_RUNS)
            if kind == "geomspace" and (args[0] <= 0 or args[1] <= 0):
                raise ParameterError(where, args, "geomspace needs start > 0 and stop > 0")
            fn = np.geomspace if kind == "geomspace" else np.linspace
            # Round to 12 significant digits so the same spec always hashes the same values,
            # whatever the platform's last-ulp behaviour of pow/exp.
            vals = [float(f"{x:.12g}") for x in fn(float(args[0]), float(args[1]), num)]
    elif isinstance(raw, list | tuple):
        vals = list(raw)
    else:
        raise ParameterError(where, raw, "an axis is a list of values or a generator table")
    if not vals:
        raise ParameterError(where, raw, "is empty, so the grid would be empty")
    for v in vals:
        _check_scalar(where, v)
    if unique and len({canonical_json(v) for v in vals}) != len(vals):
        raise ParameterError(where, vals, "holds a value twice (the run would be repeated)")
    return vals


# --------------------------------------------------------------------------- loading


def load_spec(source, *, check_function: bool = True) -> SweepSpec:
    """A validated :class:`SweepSpec` from a TOML file path, a TOML string's dict, or a dict.

    Raises :class:`ParameterError` naming the offending key on any problem.
    """
    if isinstance(source, SweepSpec):
        source = source.as_dict()
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise ParameterError("spec", str(path), "must be an existing TOML file")
        try:
            with open(path, "rb") as fh:
                source = tomllib.load(fh)
        except tomllib.TOMLDecodeError as e:
            raise ParameterError("spec", str(path), f"is not valid TOML ({e})") from None
        source.setdefault("name", path.stem)
    if not isinstance(source, Mapping):
        raise ParameterError("spec", type(source).__name__, "must be a TOML path or a dict")
    unknown = sorted(set(source) - set(SPEC_KEYS))
    if unknown:
        raise ParameterError("spec key", unknown[0], f"allowed keys are {', '.join(SPEC_KEYS)}")
    name = source.get("name", "sweep")
    if not isinstance(name, str) or not name.strip():
        raise ParameterError("name", name, "must be a non-empty string")
    description = source.get("description", "")
    if not isinstance(description, str):
        raise ParameterError("description", description, "must be a string")
    ref = source.get("function")
    if ref is None:
        raise ParameterError("function", None, "is required: 'module:function' or a name")

    fixed = source.get("fixed", {})
    if not isinstance(fixed, Mapping):
        raise ParameterError("fixed", fixed, "must be a table of name = value")
    fixed = {str(k): _check_scalar(f"fixed.{k}", v) for k, v in fixed.items()}

    product_raw = source.get("product", {})
    if not isinstance(product_raw, Mapping):
        raise ParameterError("product", product_raw, "must be a table of name = [values]")
    product = {str(k): _expand(f"product.{k}", v) for k, v in product_raw.items()}

    zip_raw = source.get("zip", [])
    if isinstance(zip_raw, Mapping):
        zip_raw = [zip_raw]
    if not isinstance(zip_raw, list | tuple):
        raise ParameterError("zip", zip_raw, "must be a list of tables of equal-length lists")
    groups = []
    for i, g in enumerate(zip_raw):
        if not isinstance(g, Mapping) or not g:
            raise ParameterError(f"zip[{i}]", g, "must be a non-empty table of lists")
        expanded = {str(k): _expand(f"zip[{i}].{k}", v, unique=False) for k, v in g.items()}
        lengths = {k: len(v) for k, v in expanded.items()}
        if len(set(lengths.values())) != 1:
            raise ParameterError(f"zip[{i}]", lengths, "zipped lists must have equal lengths")
        points = list(zip(*expanded.values()))
        if len({canonical_json(p) for p in points}) != len(points):
            raise ParameterError(f"zip[{i}]", lengths, "holds a point twice")
        groups.append(expanded)

    seen: dict[str, str] = {k: "fixed" for k in fixed}
    for where, names in [("product", product)] + [(f"zip[{i}]", g) for i, g in enumerate(groups)]:
        for k in names:
            if k in seen:
                raise ParameterError("parameter", k, f"is given twice ({seen[k]} and {where})")
            seen[k] = where

    spec = SweepSpec(name.strip(), ref, fixed, product, tuple(groups), description)
    if len(spec) > MAX_RUNS:
        raise ParameterError("grid", len(spec), f"has more than {MAX_RUNS} runs")
    if check_function:
        fn = resolve_function(ref)
        _signature_check(fn, ref, set(seen))
        spec = _typed_spec(spec, fn, ref)
        _check_data_dirs(spec)
        validate = getattr(fn, "validate_config", None)
        if validate is not None:
            for cfg in spec.configs():
                validate(**cfg)
    return spec


def _typed_spec(spec: SweepSpec, fn: Callable, ref: str) -> SweepSpec:
    """The spec with every value checked against ``fn``'s annotations (int → float where
    a float is asked for)."""
    params = _params_of(fn)
    if params is None:
        return spec
    allowed = {n: a for n, _, a in params}

    def typed(where, name, v):
        return _typed(f"{where}.{name}", v, allowed.get(name), ref)

    fixed = {k: typed("fixed", k, v) for k, v in spec.fixed.items()}
    product = {k: [typed("product", k, v) for v in vals] for k, vals in spec.product.items()}
    groups = tuple(
        {k: [typed(f"zip[{i}]", k, v) for v in vals] for k, vals in g.items()}
        for i, g in enumerate(spec.zip)
    )
    return SweepSpec(spec.name, spec.function, fixed, product, groups, spec.description)


def _check_data_dirs(spec: SweepSpec) -> None:
    """A ``data_dir`` parameter must name an existing folder ("" = the default location):
    otherwise every run would fail in its worker (issue 16)."""
    where = {"fixed": [spec.fixed.get("data_dir")], "product": spec.product.get("data_dir", [])}
    for i, g in enumerate(spec.zip):
        where[f"zip[{i}]"] = g.get("data_dir", [])
    for w, vals in where.items():
        for v in vals:
            if v is None or v == "":
                continue
            if not isinstance(v, str) or not Path(v).expanduser().exists():
                raise ParameterError(
                    f"{w}.data_dir",
                    v,
                    "must be an existing folder (or data file); it does not exist",
                )
