"""Lazy package exports (PEP 562): the one implementation behind ``sgdnoise.theory``,
``sgdnoise.simulate``, ``sgdnoise.sweeps`` and ``sgdnoise.experiments``.

Importing a package then costs nothing until one of its names is touched (sympy, numba and
torch take seconds to import; ``sgdnoise list`` must answer in well under one).
"""

from __future__ import annotations

import sys
from importlib import import_module


def lazy_exports(package: str, exports: dict[str, str]):
    """``(__getattr__, __dir__, __all__)`` for ``package``, whose public names are
    ``exports``: name -> ``"module"`` or ``"module:attribute"`` (relative to the package;
    the attribute defaults to the name, so a function may be exported under another name
    than its own).  A name is resolved once and then kept in the package's namespace."""

    def __getattr__(name: str):
        try:
            target = exports[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        module, _, attr = target.partition(":")
        value = getattr(import_module("." + module.lstrip("."), package), attr or name)
        vars(sys.modules[package])[name] = value
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__, sorted(exports)
