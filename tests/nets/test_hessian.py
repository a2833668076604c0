"""Hessian measurements against dense matrices built independently (torch.func.hessian of the
flattened loss), with batch norm in train mode chunked and dropout off."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import functional_call, hessian

from sgdnoise.errors import ParameterError
from sgdnoise.nets import (
    HessianOperator,
    full_gradient,
    hessian_top_eigenvalues,
    lanczos,
    make_model,
    power_iteration,
    synthetic_dataset,
)
from sgdnoise.nets.losses import make_loss

F64 = torch.float64


def tiny(batch_norm=False, dropout=0.0, seed=0):
    d = synthetic_dataset(
        n_train=24, n_test=4, input_shape=(5,), num_classes=3, seed=seed, device="cpu", dtype=F64
    )
    net = make_model(
        "mlp",
        input_shape=(5,),
        num_outputs=3,
        width=6,
        depth=2,
        seed=seed,
        batch_norm=batch_norm,
        dropout=dropout,
        device="cpu",
        dtype=F64,
    )
    return d, net


def dense_hessian(net, x, y, chunk):
    """Independent reference for nets without batch norm: torch.func.hessian of the
    chunk-averaged loss as a function of the flat parameter vector (dropout off)."""
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for _, p in net.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    buffers = {n: b.clone() for n, b in net.named_buffers()}
    loss = make_loss("cross_entropy")

    def f(w):
        ps, i = {}, 0
        for n, s in zip(names, shapes):
            ps[n] = w[i : i + s.numel()].view(s)
            i += s.numel()
        total = 0.0
        for a in range(0, len(x), chunk):
            out = functional_call(
                net, (ps, {k: v.clone() for k, v in buffers.items()}), (x[a : a + chunk],)
            )
            total = total + loss(out, y[a : a + chunk]).sum()
        return total / len(x)

    net.train()
    for m in net.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    return hessian(f)(flat)


def fd_hessian(net, x, y, chunk, h=1e-5):
    """Independent reference for batch-norm nets (whose in-place running-statistics updates
    torch.func does not differentiate faithfully): central differences of the first-order
    autograd gradient, column by column.  Truncation error O(h² ∂³L) ≈ 1e-10 and rounding
    O(ε/h) ≈ 1e-11 for these O(1) losses, far under the 1e-6 tolerance."""
    ps = list(net.parameters())
    flat = torch.cat([p.detach().reshape(-1) for p in ps])

    def grad_at(w):
        with torch.no_grad():
            i = 0
            for p in ps:
                p.copy_(w[i : i + p.numel()].view_as(p))
                i += p.numel()
        return torch.cat([t.reshape(-1) for t in full_gradient(net, x, y, chunk_size=chunk)])

    cols = []
    for j in range(len(flat)):
        e = torch.zeros_like(flat)
        e[j] = h
        cols.append((grad_at(flat + e) - grad_at(flat - e)) / (2 * h))
    grad_at(flat)
    H = torch.stack(cols, dim=1)
    return 0.5 * (H + H.T)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_lambda_max_against_dense_eigvalsh(batch_norm):
    d, net = tiny(batch_norm=batch_norm)
    ref = fd_hessian if batch_norm else dense_hessian
    H = ref(net, d.x_train, d.y_train, chunk=8)
    ev = torch.linalg.eigvalsh(H).flip(0).numpy()
    spec = hessian_top_eigenvalues(net, d.x_train, d.y_train, chunk_size=8, k=3, tol=1e-10)
    assert spec.converged
    # float64 Lanczos with full reorthogonalization, converged to a residual of 1e-10·|θ|:
    # Ritz values of a symmetric matrix are then within ~1e-10 relative, well under 1e-6.
    np.testing.assert_allclose(spec.eigenvalues, ev[:3], rtol=1e-6)
    es = hessian_top_eigenvalues(
        net, d.x_train, d.y_train, chunk_size=8, k=2, method="eigsh", tol=1e-10
    )
    np.testing.assert_allclose(es.eigenvalues, ev[:2], rtol=1e-6)
    if abs(ev[0]) >= abs(ev[-1]):
        pw = hessian_top_eigenvalues(
            net, d.x_train, d.y_train, chunk_size=8, method="power", tol=1e-13, max_iter=20000
        )
        # the Rayleigh quotient's error is O(|λ2/λ1|^{2k}); stopping at 1e-13 change per step
        # leaves ≲ 1e-8 relative error for the gaps of these tiny nets
        assert pw.lambda_max == pytest.approx(ev[0], rel=1e-6)


def test_hvp_equals_dense_product_and_leaves_bn_stats_alone():
    d, net = tiny(batch_norm=True, dropout=0.5)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    op = HessianOperator(net, d.x_train, d.y_train, chunk_size=8)
    v = torch.randn(op.n, dtype=F64, generator=torch.Generator().manual_seed(0))
    hv1, hv2 = op.matvec(v), op.matvec(v)
    assert torch.equal(hv1, hv2)  # dropout is off while measuring
    H = fd_hessian(net, d.x_train, d.y_train, chunk=8)
    torch.testing.assert_close(hv1, H @ v, rtol=1e-6, atol=1e-8)
    # chunking matters with batch norm in train mode: the full-batch Hessian differs
    H_full = fd_hessian(net, d.x_train, d.y_train, chunk=24)
    assert float((H_full - H).abs().max()) > 1e-6
    for k, t in net.state_dict().items():
        assert torch.equal(t, before[k]), k
    assert op.n_products == 2


def test_lanczos_beats_power_iteration_on_a_small_gap():
    """Diagonal operator with λ1 = 1, λ2 = 0.97: power iteration needs O(1/gap) products,
    Lanczos O(1/sqrt(gap))."""
    n = 400
    lam = torch.cat(
        [torch.tensor([1.0, 0.97], dtype=F64), torch.linspace(0.9, -0.2, n - 2, dtype=F64)]
    )
    mv = lambda v: lam * v
    lz = lanczos(mv, n, tol=1e-6, max_iter=200)
    pw = power_iteration(mv, n, tol=1e-9, max_iter=5000)
    assert lz.converged and lz.lambda_max == pytest.approx(1.0, rel=1e-8)
    assert pw.lambda_max == pytest.approx(1.0, rel=1e-3)
    assert lz.n_products * 3 < pw.n_products
    top = lanczos(mv, n, k=2, tol=1e-10, max_iter=300)
    # a Ritz value is within its residual (≤ 1e-10·|θ|) of an eigenvalue
    np.testing.assert_allclose(top.eigenvalues, [1.0, 0.97], rtol=1e-9)


def test_lanczos_exact_on_small_matrix_and_vectors():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((12, 12))
    A = torch.as_tensor(A + A.T)
    s = lanczos(lambda v: A @ v, 12, k=3, max_iter=12, tol=1e-12, vectors=True)
    ev, evec = torch.linalg.eigh(A)
    np.testing.assert_allclose(s.eigenvalues, ev.flip(0)[:3].numpy(), rtol=1e-10)
    # eigenvector of the top eigenvalue up to sign
    assert abs(float(s.eigenvectors[:, 0] @ evec[:, -1])) == pytest.approx(1.0, abs=1e-8)


def test_bad_input():
    d, net = tiny()
    with pytest.raises(ParameterError) as e:
        hessian_top_eigenvalues(net, d.x_train, d.y_train, method="arnoldi")
    assert e.value.parameter == "method"
    with pytest.raises(ParameterError) as e:
        hessian_top_eigenvalues(net, d.x_train, d.y_train, method="power", k=2)
    assert e.value.parameter == "k"
    with pytest.raises(ParameterError) as e:
        lanczos(lambda v: v, 5, tol=0)
    assert e.value.parameter == "tol"
