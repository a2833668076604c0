"""Versions recorded beside every result (claim runs and sweep sessions).  Root-level and
import-free (package metadata only), so every layer may use it."""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata


def versions(packages: Iterable[str]) -> dict[str, str]:
    """Python, platform and the installed version of each package ("not installed" if absent)."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
