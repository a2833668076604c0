"""Boundary checks that raise :class:`~sgdnoise.errors.ParameterError`.

Each check returns the (converted) value so that call sites read
``T = positive("T", T)``.  Messages follow scikit-learn's convention: the parameter's
name, the offending value, and the allowed range or choices.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real

from .errors import ParameterError


def finite(name: str, value: object) -> float:
    """A finite real number."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ParameterError(name, value, "must be a finite real number")
    v = float(value)
    if not math.isfinite(v):
        raise ParameterError(name, value, "must be a finite real number")
    return v


def positive(name: str, value: object) -> float:
    """A finite real number > 0."""
    v = finite(name, value)
    if v <= 0:
        raise ParameterError(name, value, "must be a finite number > 0")
    return v


def nonnegative(name: str, value: object) -> float:
    """A finite real number >= 0."""
    v = finite(name, value)
    if v < 0:
        raise ParameterError(name, value, "must be a finite number >= 0")
    return v


def in_range(
    name: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number in the interval given by ``low``/``high`` (closed unless *_open)."""
    v = finite(name, value)
    lo_ok = low is None or (v > low if low_open else v >= low)
    hi_ok = high is None or (v < high if high_open else v <= high)
    if not (lo_ok and hi_ok):
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ParameterError(name, value, f"must lie in {left}{lo}, {hi}{right}")
    return v


def integer(
    name: str, value: object, minimum: int | None = None, maximum: int | None = None
) -> int:
    """An integer (bools refused) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ParameterError(name, value, "must be an integer")
    v = int(value)
    if minimum is not None and v < minimum:
        bound = f"[{minimum}, {maximum}]" if maximum is not None else f">= {minimum}"
        raise ParameterError(name, value, f"must be an integer {bound}")
    if maximum is not None and v > maximum:
        bound = f"[{minimum}, {maximum}]" if minimum is not None else f"<= {maximum}"
        raise ParameterError(name, value, f"must be an integer {bound}")
    return v


def boolean(name: str, value: object) -> bool:
    """True or False itself (0/1 and strings refused: a spec's "false" must not read as True)."""
    if not isinstance(value, bool):
        raise ParameterError(name, value, "must be True or False")
    return value


def choice(name: str, value: object, allowed: Iterable[object]) -> object:
    """One of a fixed set of values."""
    options = list(allowed)
    if value not in options:
        raise ParameterError(name, value, "must be one of " + ", ".join(repr(o) for o in options))
    return value


def machine_memory() -> int:
    """Bytes of physical memory of this machine (the cgroup limit where one is lower)."""
    import os

    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for f in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(f) as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def memory_budget(name: str, value: object, nbytes: float, what: str, fraction=0.5) -> None:
    """Refuse ``value`` of ``name`` when it makes ``what`` need ``nbytes`` of memory, more
    than ``fraction`` of this machine's (so a typo'd size fails at validation, not as a
    MemoryError hours into a sweep)."""
    budget = fraction * machine_memory()
    if nbytes > budget:
        raise ParameterError(
            name,
            value,
            f"needs about {nbytes / 2**30:.3g} GiB for {what}, more than "
            f"{budget / 2**30:.3g} GiB ({fraction:.0%} of this machine's memory)",
        )
