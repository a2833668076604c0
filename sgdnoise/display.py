"""Show formulas and figures the same way in Jupyter and in a script (the notebooks' helper).

The notebooks in ``notebooks/`` are jupytext scripts: opened in Jupyter they should render a
derivation's formulas as LaTeX and its figures inline; run as ``python notebooks/bg21.py``
(which is how the tests execute them) they should print the formulas and save every figure
as a PNG, because a script has no screen to show them on.  This module is that one switch,
so no notebook forces a backend or tests for Jupyter itself.

Imports nothing of ours; sympy and matplotlib are imported only when a formula or a figure
is shown, so importing it is free.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import ParameterError

#: Where :func:`show` saves figures when not in Jupyter (relative to the working directory).
FIGURES_ENV = "SGDNOISE_FIGURES"


def in_jupyter() -> bool:
    """True inside a running Jupyter kernel (not plain IPython, not a script)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def formula(label: str, expr, *, rhs: str | None = None) -> None:
    """Show ``label = expr``: as LaTeX in Jupyter, as sympy's plain text in a script.

    ``expr`` is a sympy expression (or anything :func:`sympy.latex` accepts); ``rhs`` is an
    optional remark shown after it (e.g. the paper's equation number).
    """
    import sympy as sp

    if in_jupyter():
        from IPython.display import Math, display

        tail = rf"\quad\text{{{rhs}}}" if rhs else ""
        display(Math(f"{label} = {sp.latex(expr)}{tail}"))
    else:
        print(f"{label} = {sp.sstr(expr)}" + (f"   ({rhs})" if rhs else ""))


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    if not slug:
        raise ParameterError("name", name, "a figure name with at least one letter or digit")
    return slug


def show(fig=None, name: str | None = None, *, dpi: int = 120) -> Path | None:
    """Show a matplotlib figure inline in Jupyter; save it as ``figures/NAME.png`` otherwise.

    ``fig`` defaults to the current figure.  In a script the folder is ``$SGDNOISE_FIGURES``
    or ``./figures``; the saved path is returned (``None`` in Jupyter, where the figure is
    displayed instead).  The figure is closed in a script so long runs do not pile them up.
    """
    import matplotlib.pyplot as plt

    fig = plt.gcf() if fig is None else fig
    if name is None:
        raise ParameterError("name", name, "a file name for the figure, e.g. 'occupation'")
    if in_jupyter():
        from IPython.display import display

        display(fig)
        plt.close(fig)
        return None
    folder = Path(os.environ.get(FIGURES_ENV, "figures"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_slug(name)}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path
