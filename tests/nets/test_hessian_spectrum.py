"""λmax with its error bound, Hutchinson trace and SLQ spectral density, each against the dense
Hessian of a tiny float64 net (torch.func.hessian of the loss as a function of the flat
parameter vector, eigvalsh), plus loss callables, the retained-graph products and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, hessian

from sgdnoise.errors import ParameterError
from sgdnoise.nets import make_model, synthetic_dataset
from sgdnoise.nets.hessian import HessianOperator, hessian_top_eigenvalues
from sgdnoise.nets.hessian_lanczos import lanczos
from sgdnoise.nets.hessian_spectrum import (
    hessian_spectral_density,
    hessian_trace,
    lanczos_quadrature,
    rademacher,
)
from sgdnoise.nets.losses import make_loss

F64 = torch.float64


def tiny(seed=0, batch_norm=False, n=24):
    d = synthetic_dataset(
        n_train=n, n_test=4, input_shape=(5,), num_classes=3, seed=seed, device="cpu", dtype=F64
    )
    net = make_model(
        "mlp", input_shape=(5,), num_outputs=3, width=6, depth=2, seed=seed,
        batch_norm=batch_norm, device="cpu", dtype=F64,
    )  # fmt: skip
    return d.x_train, d.y_train, net


def dense(net, x, y, loss):
    """Full Hessian of mean(loss(net(x), y)) by torch.func.hessian (no batch norm)."""
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for _, p in net.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def f(w):
        ps, i = {}, 0
        for n, s in zip(names, shapes):
            ps[n] = w[i : i + s.numel()].view(s)
            i += s.numel()
        return loss(functional_call(net, ps, (x,)), y).mean()

    return hessian(f)(flat)


@pytest.fixture(scope="module")
def case():
    x, y, net = tiny()
    H = dense(net, x, y, make_loss("cross_entropy"))
    return x, y, net, H, torch.linalg.eigvalsh(H).numpy()


@pytest.mark.parametrize("bound", ["residual", "gap"])
@pytest.mark.parametrize("tol", [1e-2, 1e-4, 1e-8])
def test_lambda_max_error_within_its_bound(case, tol, bound):
    x, y, net, _, ev = case
    for seed, start in [(0, "mixed"), (1, "mixed"), (2, "random")]:
        r = hessian_top_eigenvalues(net, x, y, tol=tol, seed=seed, bound=bound, start=start)
        assert r.converged
        assert r.bound <= tol * abs(r.value)
        # the true error against dense eigvalsh never exceeds the returned bound
        assert abs(ev[-1] - r.value) <= r.bound
        assert r.value <= ev[-1] + 1e-12  # a Ritz value never overshoots λmax
    loose = hessian_top_eigenvalues(net, x, y, tol=1e-2)
    tight = hessian_top_eigenvalues(net, x, y, tol=1e-8)
    assert loose.n_products < tight.n_products


def test_bound_on_a_cluster_residual_safe_gap_optimistic():
    """λ1 = 10, λ2 = 9.99 over a bulk in [−1, 4]: until Lanczos resolves the pair, the gap
    estimate sees the bulk, not λ2, and the gap bound under-states the error; the residual
    bound holds at every step once λ1 has entered the Krylov space."""
    rng = np.random.default_rng(0)
    lam = np.concatenate([[10.0, 9.99], rng.uniform(-1, 4, 200)])
    Q = torch.as_tensor(np.linalg.qr(rng.standard_normal((202, 202)))[0])
    A = Q @ torch.diag(torch.as_tensor(lam)) @ Q.T
    res = lanczos(lambda v: A @ v, 202, tol=1e-13, max_iter=60, bound="residual")
    gap = lanczos(lambda v: A @ v, 202, tol=1e-13, max_iter=60, bound="gap")
    # same start vector: the two runs share their Ritz values step for step
    j = len(gap.history)
    np.testing.assert_allclose(gap.history, res.history[:j], rtol=1e-12)
    err = 10.0 - np.asarray(res.history)
    b_res, b_gap = np.asarray(res.bound_history), np.asarray(gap.bound_history)
    seen = np.argmax(err < 1.0)  # λ1 well inside the Krylov space from here on
    assert np.all(err[seen:] <= b_res[seen:])
    # on the plateau before the pair is resolved (error ≈ 8e-4) the gap bound says ~1e-5
    assert np.any(err[seen:j] > 10 * b_gap[seen:j])


def test_hutchinson_trace_against_dense(case):
    x, y, net, H, _ = case
    t = hessian_trace(net, x, y, max_probes=300, min_probes=300, seed=1)
    assert t.n_products == 300
    exact = float(torch.trace(H))
    # |estimate − tr H| ≤ 4 standard errors (a 4σ event has probability 6e-5)
    assert abs(t.value - exact) <= 4 * t.standard_error
    # the standard error matches theory: Var zᵀHz = 2 Σ_{i≠j} H_ij² for Rademacher z;
    # the sample SD of 300 draws is within ±30% of it with overwhelming probability
    off = H - torch.diag(torch.diag(H))
    se_theory = float(torch.sqrt(2 * (off**2).sum() / 300))
    assert 0.7 < t.standard_error / se_theory < 1.3
    # Hutch++ at a third of the products: the top 33 directions exact, the rest by Hutchinson
    pp = hessian_trace(net, x, y, method="hutch++", max_probes=99, seed=1)
    assert pp.n_products == 99
    assert abs(pp.value - exact) <= 4 * pp.standard_error + 1e-9 * abs(exact)
    assert pp.standard_error < 0.5 * t.standard_error  # measured 0.07 vs 0.24
    stop = hessian_trace(net, x, y, tol=0.2, seed=1)
    assert stop.converged and stop.standard_error <= 0.2 * abs(stop.value)
    assert stop.n_products < 300


def test_slq_quadrature_exact_for_low_degree_polynomials(case):
    """Gauss quadrature with m nodes integrates polynomials of degree ≤ 2m − 1 exactly:
    Σ τ_k² θ_kᵖ = vᵀHᵖv for the probe itself, to rounding."""
    x, y, net, H, _ = case
    n, m = H.shape[0], 6
    op = HessianOperator(net, x, y)
    slq = lanczos_quadrature(op.matvec, n, n_probes=1, n_iter=m, seed=3)
    v = rademacher(n, torch.Generator().manual_seed(3), F64, "cpu") / np.sqrt(n)
    for p in range(1, 2 * m):
        exact = float(v @ torch.linalg.matrix_power(H, p) @ v)
        assert slq.probe_moments(p)[0] == pytest.approx(exact, rel=1e-8)


def test_slq_density_against_dense_eigvalsh(case):
    x, y, net, H, ev = case
    n = len(ev)
    slq = hessian_spectral_density(net, x, y, n_probes=40, n_iter=25, seed=0)
    # moments tr Hᵖ/n: each probe is unbiased (quadrature exact for p ≤ 49), so the probe mean
    # lies within 4 standard errors
    for p in (1, 2, 3):
        est, se = slq.moment(p)
        assert abs(est - np.mean(ev**p)) <= 4 * se
    assert slq.trace == pytest.approx(n * slq.moment(1)[0])
    # Gaussian-smoothed densities (σ = 2% of the spread): the per-probe smoothed density is
    # unbiased for the dense one up to quadrature error, so their L1 distance is bounded by the
    # probes' integrated standard error (4×) plus 0.05 for the quadrature of a kernel this wide
    lo, hi = ev.min(), ev.max()
    sigma = 0.02 * (hi - lo)
    grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, 2000)
    dt = grid[1] - grid[0]
    z = (grid[:, None] - ev[None, :]) / sigma
    ref = np.exp(-0.5 * z**2).sum(1) / (n * sigma * np.sqrt(2 * np.pi))
    got = slq.density(grid, sigma)
    per = slq.probe_densities(grid, sigma)
    se = per.std(axis=0, ddof=1) / np.sqrt(slq.n_probes)
    tol = 4 * np.sum(se) * dt + 0.05
    l1 = np.sum(np.abs(got - ref)) * dt
    assert np.sum(got) * dt == pytest.approx(1.0, abs=1e-3)
    assert l1 <= tol
    # the check can fail: the same spectrum shifted by 10σ is far outside it
    shifted = slq.density(grid - 10 * sigma, sigma)
    assert np.sum(np.abs(shifted - ref)) * dt > 3 * tol
    # cdf at the dense 10% and 90% quantiles, within 0.1 (about the weight one quadrature
    # node carries here); not the median: it falls inside the cluster of near-zero
    # eigenvalues (directions the loss does not see), a near-atom where any quadrature CDF jumps
    q = np.quantile(ev, [0.1, 0.9])
    np.testing.assert_allclose(slq.cdf(q), [np.mean(ev <= t) for t in q], atol=0.1)


def test_loss_callables(case):
    x, y, net, H, ev = case
    ref = hessian_top_eigenvalues(net, x, y, tol=1e-10)
    mean_loss = hessian_top_eigenvalues(net, x, y, tol=1e-10, loss=nn.CrossEntropyLoss())
    assert mean_loss.value == pytest.approx(ref.value, rel=1e-10)

    def huber(out, t):  # a loss no string names: per-sample Huber on one-hot targets
        return nn.functional.huber_loss(
            out, nn.functional.one_hot(t, 3).to(out.dtype), reduction="none", delta=0.3
        ).sum(1)

    Hh = dense(net, x, y, huber)
    r = hessian_top_eigenvalues(net, x, y, loss=huber, tol=1e-10)
    assert r.value == pytest.approx(float(torch.linalg.eigvalsh(Hh)[-1]), rel=1e-8)
    assert abs(r.value - ev[-1]) > 1e-3  # a different loss, a different curvature
    with pytest.raises(ParameterError) as e:
        hessian_top_eigenvalues(net, x, y, loss=lambda o, t: o)  # (N, 3): not per-sample
    assert e.value.parameter == "loss"
    with pytest.raises(ParameterError) as e:
        hessian_top_eigenvalues(net, x, y, loss=42)
    assert e.value.parameter == "loss"


def test_retained_graph_equals_recomputed_products_with_batch_norm():
    x, y, net = tiny(batch_norm=True)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    v = torch.randn(sum(p.numel() for p in net.parameters()), dtype=F64)
    kept = HessianOperator(net, x, y, chunk_size=8, retain=True)
    fresh = HessianOperator(net, x, y, chunk_size=8, retain=False)
    torch.testing.assert_close(kept.matvec(v), fresh.matvec(v), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(kept.matvec(2 * v), 2 * fresh.matvec(v), rtol=1e-12, atol=1e-14)
    assert kept._grad is not None and fresh._grad is None and kept.n_products == 2
    tight = HessianOperator(net, x, y, chunk_size=8, memory_budget=1.0)  # 1 byte: no room
    torch.testing.assert_close(tight.matvec(v), fresh.matvec(v), rtol=1e-12, atol=1e-14)
    assert tight._grad is None and tight.retained_bytes > 1.0
    for k, t in net.state_dict().items():  # running statistics untouched
        assert torch.equal(t, before[k]), k
    with torch.no_grad():  # weights changed in place: the retained graph is rebuilt
        next(net.parameters()).mul_(1.5)
    torch.testing.assert_close(
        kept.matvec(v), HessianOperator(net, x, y, chunk_size=8, retain=False).matvec(v)
    )


def test_bad_input(case):
    x, y, net, _, _ = case
    bad = [
        (dict(x=x, y=y[:-1]), "y"),
        (dict(x=x[:0], y=y[:0]), "x"),
        (dict(x=x.numpy(), y=y), "x"),
        (dict(x=x, y=y, tol=float("nan")), "tol"),
        (dict(x=x, y=y, tol=float("inf")), "tol"),
        (dict(x=x, y=y, tol=-1.0), "tol"),
        (dict(x=x, y=y, retain="yes"), "retain"),
        (dict(x=x, y=y, retain=1), "retain"),
        (dict(x=x, y=y, chunk_size=0), "chunk_size"),
        (dict(x=x, y=y, bound="kato"), "bound"),
        (dict(x=x, y=y, k=10**6), "k"),
        (dict(x=x, y=y, max_iter=0), "max_iter"),
        (dict(x=x, y=y, seed=-1), "seed"),
        (dict(x=x, y=y, start="gradient"), "start"),
    ]
    xn = x.clone()
    xn[0, 0] = float("nan")
    bad.append((dict(x=xn, y=y), "x"))
    for kw, name in bad:
        with pytest.raises(ParameterError) as e:
            hessian_top_eigenvalues(net, **kw)
        assert e.value.parameter == name, (kw, e.value)
    with pytest.raises(ParameterError) as e:
        lanczos(lambda v: v, 5, v0=torch.zeros(5))
    assert e.value.parameter == "v0"
    with pytest.raises(ParameterError) as e:
        hessian_top_eigenvalues("net", x, y)
    assert e.value.parameter == "model"
    for kw, name in [
        (dict(max_probes=1), "max_probes"),
        (dict(min_probes=500), "min_probes"),
        (dict(tol=float("nan")), "tol"),
        (dict(method="hutch+"), "method"),
        (dict(method="hutch++", max_probes=3), "n_products"),
    ]:
        with pytest.raises(ParameterError) as e:
            hessian_trace(net, x, y, **kw)
        assert e.value.parameter == name
    with pytest.raises(ParameterError) as e:
        hessian_spectral_density(net, x, y[:3])
    assert e.value.parameter == "y"
    with pytest.raises(ParameterError) as e:
        hessian_spectral_density(net, x, y, n_iter=0)
    assert e.value.parameter == "n_iter"
    slq = hessian_spectral_density(net, x, y, n_probes=1, n_iter=3)
    with pytest.raises(ParameterError) as e:
        slq.density([0.0], sigma=-1.0)
    assert e.value.parameter == "sigma"
