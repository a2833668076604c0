"""sgdnoise.display: formulas and figures shown in Jupyter, printed and saved in a script."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import sympy as sp

from sgdnoise import display
from sgdnoise.errors import ParameterError


def test_script_prints_formula_and_saves_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(display.FIGURES_ENV, str(tmp_path / "figs"))
    x = sp.Symbol("x")
    display.formula("p(x)", sp.exp(-(x**2) / 2), rhs="eq. 3")
    assert capsys.readouterr().out.strip() == "p(x) = exp(-x**2/2)   (eq. 3)"
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = display.show(fig, "a line: θ")
    assert path == tmp_path / "figs" / "a-line.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.get_fignums(), "a script closes the figures it saved"


@pytest.mark.parametrize("name", [None, "  ", "θ"])
def test_show_needs_a_usable_name(name, tmp_path, monkeypatch):
    monkeypatch.setenv(display.FIGURES_ENV, str(tmp_path))
    fig, _ = plt.subplots()
    with pytest.raises(ParameterError) as e:
        display.show(fig, name)
    assert e.value.parameter == "name"
    plt.close(fig)
    assert not any(tmp_path.iterdir()), "nothing is written for a refused name"


def test_jupyter_renders_latex_and_displays_inline(monkeypatch, tmp_path):
    ipd = pytest.importorskip("IPython.display")
    shown = []
    monkeypatch.setattr(display, "in_jupyter", lambda: True)
    monkeypatch.setattr(ipd, "display", shown.append)
    monkeypatch.chdir(tmp_path)
    display.formula("T", sp.Rational(1, 2) * sp.Symbol("eta") / sp.Symbol("B"))
    fig, _ = plt.subplots()
    assert display.show(fig, "inline") is None
    assert isinstance(shown[0], ipd.Math) and shown[0].data == r"T = \frac{\eta}{2 B}"
    assert shown[1] is fig
    assert not (tmp_path / "figures").exists(), "Jupyter shows figures instead of saving them"


def test_not_in_jupyter_from_a_script():
    assert display.in_jupyter() is False
