"""Analysis helpers against hand-checkable data, and the figures/report they feed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from sgdnoise.errors import ParameterError
from sgdnoise.stats import powerlaw_fit
from sgdnoise.sweeps import analysis, plots


def grid_frame():
    """acc(lr; width, seed) = 1 − (log10 lr − log10 lr*(w))² + seed offset, lr* = 0.01·w.

    By hand: the seed mean peaks at lr = lr*(w) exactly on the grid; the spread over
    seeds at the optimum is the std of the offsets (0, 0.02, 0.04) = 0.02.
    """
    rows = []
    for w in (1, 10, 100):
        for seed, off in zip((0, 1, 2), (0.0, 0.02, 0.04)):
            for lr in (0.001, 0.01, 0.1, 1.0, 10.0):
                acc = 1 - (math.log10(lr) - math.log10(0.01 * w)) ** 2 + off
                rows.append({"width": w, "seed": seed, "lr": lr, "acc": acc})
    return pd.DataFrame(rows)


def test_optimum_per_group_with_seed_spread():
    opt = analysis.optimum(grid_frame(), "acc", ["lr"], by=["width"])
    assert list(opt["width"]) == [1, 10, 100]
    np.testing.assert_allclose(opt["lr"], [0.01, 0.1, 1.0])
    np.testing.assert_allclose(opt["acc"], 1.02)
    np.testing.assert_allclose(opt["acc_std"], 0.02)
    np.testing.assert_allclose(opt["acc_sem"], 0.02 / math.sqrt(3))
    assert list(opt["n_seeds"]) == [3, 3, 3] and list(opt["n_points"]) == [5, 5, 5]
    np.testing.assert_allclose(opt["lr_seed_lo"], opt["lr"])
    np.testing.assert_allclose(opt["lr_seed_hi"], opt["lr"])
    # minimizing picks the grid edge farthest from lr*
    low = analysis.optimum(grid_frame(), "acc", "lr", by="width", mode="min")
    np.testing.assert_allclose(low["lr"], [10.0, 0.001, 0.001])


def test_a_diverged_seed_disqualifies_a_point_and_per_seed_optima_spread():
    df = grid_frame()
    bad = (df["width"] == 1) & (df["lr"] == 0.01) & (df["seed"] == 2)
    df.loc[bad, "acc"] = np.nan
    # seed 1 prefers a different lr at width 10
    df.loc[(df["width"] == 10) & (df["seed"] == 1) & (df["lr"] == 1.0), "acc"] = 5.0
    opt = analysis.optimum(df, "acc", ["lr"], by=["width"]).set_index("width")
    assert opt.loc[1, "lr"] in (0.001, 0.1)  # the optimum's neighbours (equal by symmetry)
    assert opt.loc[1, "n_points"] == 4
    assert opt.loc[10, "lr"] == 1.0  # mean (0.0+5+0.04... ) beats the rest
    ps = analysis.per_seed_optimum(df, "acc", ["lr"], by=["width"])
    assert len(ps) == 9
    w10 = ps[ps["width"] == 10].set_index("seed")["lr"]
    assert list(w10) == [0.1, 1.0, 0.1]
    assert opt.loc[10, "lr_seed_lo"] == 0.1 and opt.loc[10, "lr_seed_hi"] == 1.0


def test_fit_powerlaw_is_stats_powerlaw_fit_on_the_columns():
    ps = analysis.per_seed_optimum(grid_frame(), "acc", ["lr"], by=["width"])
    fit = analysis.fit_powerlaw(ps, "width", "lr", groups="seed", n_boot=200, seed=3)
    ref = powerlaw_fit(ps["width"], ps["lr"], groups=ps["seed"], n_boot=200, seed=3)
    assert fit == ref
    assert fit.exponent == pytest.approx(1.0) and fit.prefactor == pytest.approx(0.01)
    with pytest.raises(ParameterError) as e:
        analysis.fit_powerlaw(ps, "width", "nope")
    assert e.value.parameter == "column"


def test_critical_temperature_hand_checks():
    T = np.geomspace(1e-4, 1.0, 17)
    # d = (T/0.5)^2 exactly: T_c = 0.5 sqrt(f); log-log interpolation is exact for a power law
    q = 3.0 * (1 + (T / 0.5) ** 2)
    assert analysis.critical_temperature(T, q, q0=3.0, fraction=0.1) == pytest.approx(
        0.5 * math.sqrt(0.1), rel=1e-12
    )
    # q0 estimated from the lowest T shifts d by (T_min/0.5)^2 = 4e-8: negligible here
    assert analysis.critical_temperature(T, q, fraction=0.1) == pytest.approx(
        0.5 * math.sqrt(0.1), rel=1e-6
    )
    # a decreasing quantity departs just as well; repeated temperatures are averaged
    T2 = np.concatenate([T, T])
    q2 = np.concatenate([2 - (T / 0.2), 2 - (T / 0.2)])
    assert analysis.critical_temperature(T2, q2, q0=2.0, fraction=0.25) == pytest.approx(0.1)
    # never departs / departs below the grid → NaN
    assert math.isnan(analysis.critical_temperature(T, np.ones_like(T), fraction=0.1))
    assert math.isnan(analysis.critical_temperature(T, q, q0=1.0, fraction=0.1))
    for kwargs, name in [
        ({"fraction": 0.0}, "fraction"),
        ({"q0": 0.0}, "q0"),
        ({"n_low": 17}, "n_low"),
    ]:
        with pytest.raises(ParameterError) as e:
            analysis.critical_temperature(T, q, **kwargs)
        assert e.value.parameter == name
    with pytest.raises(ParameterError) as e:
        analysis.critical_temperature(-T, q)
    assert e.value.parameter == "T"


def test_low_temperature_limit_extrapolates_a_linear_onset():
    """q = q0 + A T on a grid that starts above the plateau: the line through the three lowest
    T gives q0 exactly (least squares of exact data), so ``q0="linear"`` recovers T_c =
    f q0 / A, where the lowest-T value as q0 gives a wrong T_c."""
    T = np.array([3e-4, 1e-3, 3e-3, 1e-2])
    q0, A, f = 0.015, 13.0, 0.5
    q = q0 + A * T
    lim = analysis.low_temperature_limit(T, q)
    assert lim.q0 == pytest.approx(q0, rel=1e-10) and lim.slope == pytest.approx(A, rel=1e-10)
    assert lim.max_rel_residual < 1e-10 and lim.n_points == 3
    exact = f * q0 / A
    assert analysis.critical_temperature(T, q, fraction=f, q0="linear") == pytest.approx(
        exact, rel=1e-10
    )  # d = A T / q0 is a power law in T: the log-log interpolation is exact
    assert analysis.critical_temperature(T, q, fraction=f) > 1.5 * exact
    # a quadratic onset is not a line: the misfit says so
    assert analysis.low_temperature_limit(T, q0 * (1 + (T / 1e-3) ** 2)).max_rel_residual > 0.3
    # repeated temperatures are averaged before the fit
    lim2 = analysis.low_temperature_limit(np.r_[T, T], np.r_[q - 1e-4, q + 1e-4], n_low=4)
    assert lim2.q0 == pytest.approx(q0, rel=1e-10)
    for kwargs, name in [({"n_low": 1}, "n_low"), ({"n_low": 5}, "n_low")]:
        with pytest.raises(ParameterError) as e:
            analysis.low_temperature_limit(T, q, **kwargs)
        assert e.value.parameter == name
    with pytest.raises(ParameterError) as e:
        analysis.critical_temperature(T, q, q0="quadratic")
    assert e.value.parameter == "q0"


def test_critical_temperatures_per_group_follow_a_power_law():
    """T_c(P) = 0.3 P^(-1/2) by construction (SGW23's form with χ = 1); recovered per P
    and per seed, and the exponent by powerlaw_fit."""
    rows = []
    for P in (64, 256, 1024, 4096):
        tc = 0.3 * P**-0.5
        for seed, s in zip((0, 1), (0.9, 1.1)):  # seeds shift T_c by ±10%
            for T in np.geomspace(1e-5, 1, 26):
                rows.append({"P": P, "seed": seed, "T": T, "q": 1 + 0.1 * (T / (s * tc))})
    df = pd.DataFrame(rows)
    tcs = analysis.critical_temperatures(df, "T", "q", by=["P"], seed="seed", fraction=0.1, q0=1)
    for P, lo, hi in zip(tcs["P"], tcs["T_c_lo"], tcs["T_c_hi"]):
        assert lo == pytest.approx(0.9 * 0.3 * P**-0.5, rel=1e-9)
        assert hi == pytest.approx(1.1 * 0.3 * P**-0.5, rel=1e-9)
    # the seed-mean curve has slope mean(1/s): T_c = tc / mean(1/0.9, 1/1.1).  q0 is the
    # value at T = 1e-5, above the true 1 by 0.1·1e-5/tc ≤ 2.2e-4 (tc ≥ 0.0046), which moves
    # the 0.1 threshold, hence T_c, by ≤ 2.2e-3 relative
    tcs_mean = analysis.critical_temperatures(df, "T", "q", by=["P"], fraction=0.1)
    harmonic = 2 / (1 / 0.9 + 1 / 1.1)
    for P, tc in zip(tcs_mean["P"], tcs_mean["T_c"]):
        assert tc == pytest.approx(harmonic * 0.3 * P**-0.5, rel=2.5e-3)
    fit = analysis.fit_powerlaw(tcs, "P", "T_c", n_boot=100)
    assert fit.exponent == pytest.approx(-0.5, abs=0.02)


def test_fit_collapse_recovers_the_exponents():
    P = np.repeat([100.0, 400.0, 1600.0, 6400.0], 30)
    x = np.tile(np.geomspace(1e-3, 1e2, 30), 4)
    u = x * P**0.5
    y = u / (1 + u) * P**-0.3  # so y·P^0.3 = g(x·P^0.5)
    a, b, q = analysis.fit_collapse(x, y, P)
    assert a == pytest.approx(0.5, abs=1e-3) and b == pytest.approx(0.3, abs=1e-3)
    assert q < 1e-4 < analysis.collapse_quality(*analysis.rescale(x, y, P, 0.4, 0.3), P)
    a2, b2, _ = analysis.fit_collapse(x, y, P, b0=0.3, fit_b=False)
    assert a2 == pytest.approx(0.5, abs=1e-3) and b2 == 0.3
    assert analysis.collapse_quality([1, 2], [1, 2], [0, 1]) == math.inf  # no overlap


def test_plots_are_figures_with_blank_diverged_cells(tmp_path):
    df = grid_frame()
    df.loc[(df["width"] == 100) & (df["lr"] == 10.0) & (df["seed"] == 0), "acc"] = np.nan
    table = plots.grid_table(df, "lr", "width", "acc")
    assert table.shape == (3, 5) and np.isnan(table.loc[100, 10.0])
    assert table.loc[10, 0.1] == pytest.approx(1.02)
    opt = analysis.optimum(df, "acc", ["lr"], by=["width"])
    fig = plots.phase_diagram(df, "lr", "width", "acc", mark=(opt["lr"], opt["width"]))
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert np.ma.count_masked(ax.collections[0].get_array()) == 1
    fig.savefig(tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000
    P = np.repeat([100.0, 400.0], 5)
    x = np.tile(np.geomspace(0.1, 10, 5), 2)
    for f in (
        plots.collapse_plot(x, x * P, P, 0.0, -1.0),
        plots.curves_plot({"a": ([0, 1, 2], [3, 2, 1])}),
        plots.line_plot(df, "lr", "acc", hue="width"),
        plots.powerlaw_plot([1, 2, 4], [1, 2.1, 3.9], powerlaw_fit([1, 2, 4], [1, 2.1, 3.9])),
    ):
        assert isinstance(f, Figure)
    with pytest.raises(ParameterError) as e:
        plots.phase_diagram(df, "lr", "nope", "acc")
    assert e.value.parameter == "column"
