"""bg21-cifar's shift decomposition: the measurement on a tiny network against a dense
Hessian and the exact telescoping, the per-seed values by hand, each criterion supported
on data that follow BG21 and contradicted on data (or a broken ingredient) that do not,
and the report drawn on a synthetic grid."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sgdnoise.experiments import _bg21_cifar_shift_analysis as sa
from sgdnoise.experiments.criteria import evaluate

T0 = 2.5e-4


def shift_grid(*, Ts=(2.5e-4, 1e-3, 4e-3), seeds=10, ratio=0.95, excess=0.3, slope=-0.5,
               noise=0.02, sd=0.03, rng=0):  # fmt: skip
    """Synthetic shift rows: ½sᵀHs = 0.8·(T/T0)^slope per shift (domain ×1.2), the penalty
    Π = ½sᵀHs / ratio, the domain test set's penalty at θ*_train ``excess`` above the
    sampling one, noise contribution ``noise``; per-seed offsets and per-run noise ``sd``."""
    rng = np.random.default_rng(rng)
    off = rng.normal(0, 0.05, seeds)
    rows = []
    for T in Ts:
        for s in range(seeds):
            row = dict(status="done", shift=True, shift_diverged=0.0, T=T, batch=16, seed=s)
            gap = 1.5 + off[s] + rng.normal(0, sd)
            for k, scale in (("sampling", 1.0), ("domain", 1.2)):
                sc = scale * 0.8 * (T / T0) ** slope * math.exp(rng.normal(0, sd))
                pen = sc / ratio * math.exp(rng.normal(0, sd))
                row.update({
                    f"{k}_shift_curvature": sc, f"{k}_func_shift_curvature": sc * (1 + 1e-6),
                    f"{k}_penalty": pen, f"{k}_noise": noise + rng.normal(0, sd),
                    f"{k}_train_min_gap": gap + (excess if k == "domain" else 0.0)
                    + rng.normal(0, sd),
                    f"{k}_shift_norm": scale * 2.0, f"{k}_line_curvature": sc,
                    f"{k}_line_slope": pen - sc, f"{k}_linear_term": sc - pen,
                })  # fmt: skip
                for j, u in enumerate(sa.LINE):
                    row[f"{k}_line_{j}"] = sc * u**2 + (pen - sc) * u
            row["train_noise"] = 0.05
            rows.append(row)
    return pd.DataFrame(rows)


def decisions(df):
    crits, data = sa.paper_criteria(df)
    return {j.name: j.decision for j in evaluate(crits, data)}


def test_per_seed_values_by_hand():
    df = shift_grid(seeds=3, Ts=(1e-3, 4e-3), sd=0.0, slope=-1.0, ratio=0.5, excess=0.2,
                    noise=0.1)  # fmt: skip
    np.testing.assert_allclose(sa.domain_excess(df), 0.2, atol=1e-12)
    np.testing.assert_allclose(sa.ratio_deviation(df, "sampling"), -0.5, atol=1e-12)
    # ½sᵀHs ∝ T^-1 over ×4 in T: ln change −ln 4
    np.testing.assert_allclose(sa.curvature_change(df, "domain"), -math.log(4), atol=1e-12)
    # coldest T = 1e-3: ½sᵀHs = 0.8·4^-1 = 0.2, minus |N| = 0.1
    np.testing.assert_allclose(sa.cold_dominance(df), 0.1, atol=1e-12)
    # a diverged fine-tune drops that seed from what needs every T, never imputed
    df.loc[0, "shift_diverged"] = 1.0
    assert sa.domain_excess(df).size == 2 and sa.cold_dominance(df).size == 2
    # ½sᵀHs ≤ 0 (no curvature along the shift): the seed leaves the log-slope
    df.loc[1, "sampling_shift_curvature"] = -0.1
    assert sa.curvature_change(df, "sampling").size == 1


def test_supported_when_the_decomposition_follows_bg21():
    dec = decisions(shift_grid())
    assert set(dec.values()) == {"supported"}, dec


@pytest.mark.parametrize(
    "change, broken",
    [
        (dict(excess=-0.3), [sa.COMPARE]),  # the domain shift cheaper than sampling
        (dict(ratio=0.3), [sa.ratio_name(k) for k in sa.SHIFTS]),  # ½sᵀHs a third of Π
        (dict(ratio=2.5), [sa.ratio_name(k) for k in sa.SHIFTS]),  # … or 2.5 × Π
        (dict(slope=0.5), [sa.with_T_name(k) for k in sa.SHIFTS]),  # curvature rising with T
        (dict(noise=1.5), [sa.COLD]),  # the noise terms larger than ½sᵀHs at the coldest T
    ],
)
def test_each_criterion_contradicted_against_the_paper(change, broken):
    dec = decisions(shift_grid(**change))
    for name in broken:
        assert dec[name] == "contradicted", (name, dec)
    assert all(d == "supported" for n, d in dec.items() if n not in broken), dec


def test_no_shift_rows_leaves_every_criterion_undecided():
    df = shift_grid().assign(shift=False)
    assert set(decisions(df).values()) == {"undecided"}


def test_smoke_criteria_pass_and_each_can_fail():
    ok = shift_grid(seeds=3, sd=0.01)
    n = len(ok)

    def smoke(df):
        crits, data = sa.smoke_criteria(df, n)
        return {j.name: j.decision for j in evaluate(crits, data)}

    assert set(smoke(ok).values()) == {"supported"}
    bad = ok.copy()
    bad.loc[2, "domain_penalty"] = math.nan  # one decomposition incomplete
    assert smoke(bad)["decomposition complete"] == "contradicted"
    # the HVP taken at the wrong point or on the wrong set: the two autograd paths part
    wrong = ok.assign(sampling_func_shift_curvature=ok["sampling_shift_curvature"] * 1.3)
    assert smoke(wrong)["HVP agrees with torch.func"] == "contradicted"
    # the "test minimum" fine-tuned on the training set: the test loss does not fall
    flat = ok.assign(domain_penalty=-0.002)
    assert smoke(flat)["cold descent finds a test minimum"] == "contradicted"
    # the domain test set is the plain one: both fine-tunes identical
    same = ok.assign(domain_shift_norm=ok["sampling_shift_norm"])
    assert smoke(same)["two shifts measured"] == "contradicted"


def test_report_draws_and_tabulates(tmp_path):
    from types import SimpleNamespace

    from sgdnoise.experiments import _bg21_cifar_shift_report as rep
    from sgdnoise.experiments.bg21_cifar import SETTINGS

    saved = {}

    class Ctx:
        def savefig(self, fig, name):
            fig.savefig(tmp_path / f"{name}.png")
            saved[name] = fig

    df = shift_grid(seeds=3)
    rep.figures(Ctx(), df)
    assert set(saved) == {"bg21_cifar_shift_vs_T", "bg21_cifar_shift_line"}
    assert all((tmp_path / f"{n}.png").stat().st_size > 1000 for n in saved)
    text = rep.details(df, SETTINGS["cpu"])
    assert "| ½sᵀH_t s (theory, HVP) | sampling shift |" in text and "3 seeds" in text
    m = rep.metrics(df)
    assert m["domain_minus_sampling_penalty"] == pytest.approx(0.3, abs=0.05)
    assert rep.details(df.assign(shift=False), SimpleNamespace()).startswith("Shift decomp")


def test_decomposition_on_a_tiny_net_against_a_dense_hessian():
    torch = pytest.importorskip("torch")
    from torch.func import functional_call

    from sgdnoise.experiments import _bg21_cifar_shift as sh
    from sgdnoise.nets import evaluate as net_eval
    from sgdnoise.nets import make_model, synthetic_dataset, train
    from sgdnoise.nets.metrics import trainable

    torch.set_num_threads(1)
    data = synthetic_dataset(n_train=96, n_test=64, input_shape=(4,), num_classes=3, seed=1,
                             device="cpu")  # fmt: skip
    net = make_model("mlp", input_shape=(4,), num_outputs=3, width=6, depth=1, seed=2,
                     device="cpu")  # fmt: skip
    train(net, data, lr=0.2, batch_size=8, epochs=5, seed=3, eval_test=False)
    shifted = (data.x_test + 0.7, data.y_test)
    tests = {"sampling": (data.x_test, data.y_test), "domain": shifted}
    out = sh.decompose(net, data, tests, T=4e-3, batch=16, time=1.0, seed=4)
    assert out["shift_diverged"] == 0.0
    # re-derive the sampling shift's terms independently
    kw = dict(T=4e-3, batch=16, time=1.0, seed=4, num_classes=3)
    train_min, _ = sh.fine_tune(net, data.x_train, data.y_train, **kw)
    test_min, _ = sh.fine_tune(train_min, data.x_test, data.y_test, **kw)
    s = sh.flat(test_min) - sh.flat(train_min)
    names = [n for n, _ in trainable(test_min)]
    shapes = [p.shape for _, p in trainable(test_min)]

    def loss(v):
        parts = torch.split(v, [math.prod(sh_) for sh_ in shapes])
        p = {n: t.view(sh_) for n, t, sh_ in zip(names, parts, shapes)}
        out = functional_call(test_min, p, (data.x_test,))
        return torch.nn.functional.cross_entropy(out, data.y_test)

    H = torch.autograd.functional.hessian(loss, sh.flat(test_min).double().float())
    assert out["sampling_shift_curvature"] == pytest.approx(0.5 * float(s @ H @ s), rel=1e-4)
    assert out["sampling_func_shift_curvature"] == pytest.approx(
        out["sampling_shift_curvature"], rel=1e-4
    )
    L = lambda m, x, y: net_eval(m, x, y)["loss"]  # noqa: E731
    L_star, L_tr = L(test_min, *tests["sampling"]), L(train_min, *tests["sampling"])
    assert out["sampling_penalty"] == pytest.approx(L_tr - L_star, abs=1e-6)
    assert out["sampling_penalty"] > 0  # the cold descent lowered the test loss
    # the exact telescoping L_test(θ_T) = L*_test + Π + N
    assert L(net, *tests["sampling"]) == pytest.approx(
        out["sampling_test_min_loss"] + out["sampling_penalty"] + out["sampling_noise"], abs=1e-6
    )
    # the line runs from the test minimum (u = 0) to the training minimum (u = 1)
    assert out["sampling_line_0"] == pytest.approx(L_star, abs=1e-6)
    assert out[f"sampling_line_{len(sa.LINE) - 1}"] == pytest.approx(L_tr, abs=1e-5)
    assert out["domain_shift_norm"] != pytest.approx(out["sampling_shift_norm"], rel=1e-3)


def test_line_fit_recovers_a_parabola():
    from sgdnoise.experiments._bg21_cifar_shift import line_fit

    u = np.asarray(sa.LINE)
    a, c = line_fit(1.3 + 0.4 * u + 0.25 * u**2)
    assert a == pytest.approx(0.4, abs=1e-9) and c == pytest.approx(0.25, abs=1e-9)
