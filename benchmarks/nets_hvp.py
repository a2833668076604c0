"""Hessian-vector products and λmax to 1e-3: sgdnoise.nets against PyHessian, same run, same
model, same points.

Model: the small ConvNet (16-32-64 channels, no batch norm, no dropout — PyHessian puts the
model in eval mode, so both then see the same loss) trained by SGD to 99% training accuracy
(KCL23's measurement point, where the top eigenvalues crowd together) on ``n`` CIFAR-10
training images (512 by default; synthetic images of the same shape when no data is found);
mean cross-entropy over the same ``n`` points, float32, one thread.

Measured, each with repetitions interleaved (ours, PyHessian, ours, …) and medians taken,
because the machine is shared:

* ``hvp_seconds``: one product ``Hv`` — ours: one backward pass through the retained graph
  of the first backward (:class:`sgdnoise.nets.HessianOperator`); PyHessian 0.1:
  ``pyhessian.utils.hessian_vector_product`` on its ``gradsH``.  Also in float64.
* ``setup_seconds``: building that graph (both: one forward and one backward with
  ``create_graph``).
* time to 1e-3 relative error on λmax (reference: our Lanczos to a residual bound of 1e-6),
  over several start vectors:
  - ours, *certified*: ``hessian_top_eigenvalues(tol=1e-3)`` end to end — it stops by itself
    once its a-posteriori error bound is ≤ 1e-3 (and returns the bound);
  - PyHessian, *oracle*: set-up plus the products until its power-iteration estimate is within
    1e-3 of the reference and stays there — a lower bound on what it needs, since its own
    rule (relative change < tol) cannot know when that happens;
  - both *stop rules* end to end at tol 1e-3 (PyHessian's ``eigenvalues(tol=1e-3)``), with
    the error each actually reached.

``ratios.hvp_cost_over_pyhessian`` (target ≤ 1.0) and ``ratios.time_to_1e-3_over_pyhessian``
(ours certified / PyHessian oracle; target ≤ 0.7) are written when PyHessian is importable;
otherwise the plain numbers of ours.

Installing PyHessian for this benchmark only (not a dependency of the package; its PyPI
release is 0.1, whose ``density`` needs the removed ``torch.eig`` — not used here)::

    .venv/bin/python -m pip install --target /work/benchenv/site pyhessian --no-deps
    OMP_NUM_THREADS=1 PYTHONPATH=/work/benchenv/site \\
        .venv/bin/python benchmarks/nets.py --only hvp --json hvp.json
"""

from __future__ import annotations

import copy
import importlib
import sys
import time

import numpy as np
import torch

from sgdnoise.nets import load_dataset, make_model, synthetic_dataset, train
from sgdnoise.nets.hessian import (
    HessianOperator,
    hessian_top_eigenvalues,
    lanczos,
    start_vector,
)

try:  # optional: the baseline
    import pyhessian
    from pyhessian.utils import hessian_vector_product as pyh_hvp

    # the module, not the class of the same name that pyhessian/__init__ re-exports
    pyh_module = importlib.import_module("pyhessian.hessian")
except ImportError:  # pragma: no cover - depends on the benchmark's environment
    pyhessian = None


def _data(data_dir, n, device):
    if data_dir is not None:
        try:
            return load_dataset(
                "cifar10", data_dir=data_dir, n_train=n, n_test=16, device=device.type,
                download=False,
            ), "CIFAR-10"  # fmt: skip
        except Exception:  # noqa: BLE001 - fall back to synthetic images of the same shape
            pass
    return synthetic_dataset(
        n_train=n, n_test=16, input_shape=(3, 32, 32), num_classes=10, seed=0, device=device.type
    ), "synthetic"


def _log(msg):
    print(f"[hvp {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _clear_grads(model):
    for p in model.parameters():
        p.grad = None


def _pyh_build(model, x, y):
    return pyh_module.hessian(model, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=False)


def _first_within(history, times, lam, rel=1e-3):
    """Time (from ``times``) after the first product from which the estimate stays within
    ``rel`` of ``lam``; None if it never settles there."""
    h = np.asarray(history)
    bad = np.nonzero(np.abs(h - lam) > rel * abs(lam))[0]
    k = 0 if len(bad) == 0 else int(bad[-1]) + 1
    return (k + 1, float(times[k])) if k < len(h) else (None, None)


def _hvp_costs(model, x, y, reps):
    """Median seconds per product, ours vs PyHessian, interleaved."""
    op = HessianOperator(model, x, y)
    t0 = time.perf_counter()
    op.prepare()
    ours_setup = time.perf_counter() - t0
    v = torch.randn(op.n, dtype=op.dtype, generator=torch.Generator().manual_seed(0))
    op.matvec(v)  # warm-up
    out = {"ours_setup": ours_setup, "ours": [], "pyhessian": [], "pyhessian_setup": None}
    hc = None
    if pyhessian is not None:
        t0 = time.perf_counter()
        hc = _pyh_build(model, x, y)
        out["pyhessian_setup"] = time.perf_counter() - t0
        vl = [t.reshape(p.shape) for t, p in zip(torch.split(v, op.sizes), hc.params)]
        pyh_hvp(hc.gradsH, hc.params, vl)
        hv_ours = op.matvec(v)
        hv_pyh = torch.cat([t.reshape(-1) for t in pyh_hvp(hc.gradsH, hc.params, vl)])
        out["max_rel_difference"] = float(
            (hv_ours - hv_pyh).abs().max() / hv_ours.abs().max().clamp_min(1e-30)
        )
    for _ in range(reps):
        t0 = time.perf_counter()
        op.matvec(v)
        out["ours"].append(time.perf_counter() - t0)
        if hc is not None:
            t0 = time.perf_counter()
            pyh_hvp(hc.gradsH, hc.params, vl)
            out["pyhessian"].append(time.perf_counter() - t0)
    del hc
    _clear_grads(model)
    return out


def _ours_to_1e3(model, x, y, lam, seed, max_iter):
    """Certified end-to-end call, and the per-product history with timestamps."""
    t0 = time.perf_counter()
    r = hessian_top_eigenvalues(model, x, y, tol=1e-3, seed=seed, max_iter=2 * max_iter)
    certified = time.perf_counter() - t0
    t0 = time.perf_counter()
    op = HessianOperator(model, x, y)
    op.prepare()
    stamps = []

    def mv(v):
        hv = op.matvec(v)
        stamps.append(time.perf_counter() - t0)
        return hv

    g = op.gradient()  # the same start as hessian_top_eigenvalues(start="mixed")
    v0 = g / torch.linalg.vector_norm(g) + start_vector(op.n, seed, op.dtype, op.device)
    long = lanczos(mv, op.n, tol=1e-9, max_iter=max_iter, seed=seed, dtype=op.dtype, v0=v0)
    k, t = _first_within(long.history, stamps, lam)
    return {
        "certified_seconds": certified,
        "certified_products": r.n_products,
        "certified_rel_error": abs(r.value - lam) / abs(lam),
        "certified_rel_bound": r.bound / abs(r.value),
        "oracle_products": k,
        "oracle_seconds": t,
    }


def _pyh_to_1e3(model, x, y, lam, seed, max_iter):
    """PyHessian's power iteration with every product timed (from before its set-up): the
    oracle time to 1e-3, and what its own stop rule at tol 1e-3 (relative change between
    successive estimates) would have spent and returned — the same run, same start vector."""
    stamps, history = [], []
    original = pyh_module.hessian_vector_product

    def recording(gradsH, params, v):
        hv = original(gradsH, params, v)
        stamps.append(time.perf_counter() - t0)
        history.append(float(sum((a * b).sum() for a, b in zip(hv, v))))
        return hv

    torch.manual_seed(seed)
    t0 = time.perf_counter()
    hc = _pyh_build(model, x, y)
    pyh_module.hessian_vector_product = recording
    try:
        hc.eigenvalues(maxIter=max_iter, tol=1e-12)
    finally:
        pyh_module.hessian_vector_product = original
    del hc
    _clear_grads(model)
    k, t = _first_within(history, stamps, lam)
    stop = None
    for i in range(1, len(history)):
        if abs(history[i - 1] - history[i]) / (abs(history[i - 1]) + 1e-6) < 1e-3:
            stop = i  # it breaks after product i + 1 and returns the previous estimate
            break
    return {
        "stop_rule_seconds": None if stop is None else stamps[stop],
        "stop_rule_products": None if stop is None else stop + 1,
        "stop_rule_rel_error": None if stop is None else abs(history[stop - 1] - lam) / abs(lam),
        "oracle_products": k,
        "oracle_seconds": t,
        # when it never settled: the whole recorded run, a lower bound on its time to 1e-3
        "at_least_seconds": t if t is not None else stamps[-1],
    }


def bench_hvp(data_dir, device, quick):
    """HVP cost and time to 1e-3 on λmax: ours vs PyHessian (module docstring)."""
    n = 32 if quick else 512
    reps, seeds, max_iter = (2, 1, 8) if quick else (7, 3, 12)
    data, source = _data(data_dir, n, device)
    model = make_model(
        "convnet", input_shape=data.input_shape, num_outputs=10, width=1, seed=0, device=device.type
    )
    fit = train(
        model, data, lr=0.05, batch_size=32, epochs=3 if quick else 100,
        target_train_accuracy=0.99, eval_test=False, seed=0,
    )  # fmt: skip
    x, y = data.x_train, data.y_train
    _log(f"trained: {fit.steps} steps")
    ref = hessian_top_eigenvalues(model, x, y, tol=1e-6, max_iter=40, seed=100)
    lam = ref.value
    t0 = time.perf_counter()
    torch.autograd.grad(
        torch.nn.functional.cross_entropy(model(x), y), list(model.parameters())
    )  # one gradient, for scale
    grad_seconds = time.perf_counter() - t0
    _log(f"reference lambda_max {lam:.6g} after {ref.n_products} products")
    c32 = _hvp_costs(model, x, y, reps)
    _log(f"float32 products: ours {c32['ours']}, PyHessian {c32['pyhessian']}")
    m64 = copy.deepcopy(model).double()
    c64 = _hvp_costs(m64, x.double(), y, max(2, reps // 3))
    del m64
    ours = [_ours_to_1e3(model, x, y, lam, s, max_iter) for s in range(seeds)]
    _log(f"ours: {[(r['certified_products'], r['oracle_products']) for r in ours]}")
    med = lambda rows, key: (  # noqa: E731
        float(np.median([r[key] for r in rows])) if all(r[key] is not None for r in rows) else None
    )
    out = {
        "n_points": n,
        "data": source,
        "trained": f"{fit.steps} steps to train accuracy {fit.final['train_accuracy']:.3f}",
        "parameters": sum(p.numel() for p in model.parameters()),
        "lambda_max": lam,
        "lambda_max_bound": ref.bound,
        "gradient_seconds": grad_seconds,
        "ours_setup_seconds": c32["ours_setup"],
        "ours_hvp_seconds": float(np.median(c32["ours"])),
        "ours_hvp_seconds_float64": float(np.median(c64["ours"])),
        "ours_time_to_1e-3_certified_seconds": med(ours, "certified_seconds"),
        "ours_certified_products": [r["certified_products"] for r in ours],
        "ours_certified_rel_errors": [r["certified_rel_error"] for r in ours],
        "ours_certified_rel_bounds": [r["certified_rel_bound"] for r in ours],
        "ours_time_to_1e-3_oracle_seconds": med(ours, "oracle_seconds"),
        "ours_oracle_products": [r["oracle_products"] for r in ours],
        "pyhessian": pyhessian is not None,
        "baseline": "PyHessian 0.1 (retained create_graph backward; power iteration, tol 1e-3)",
        "target": "hvp cost <= 1.0, time to 1e-3 <= 0.7",
        "ratio": None,
    }
    if pyhessian is None:
        out["note"] = "PyHessian not importable: plain numbers only (see the docstring)"
        return out
    pyh = [_pyh_to_1e3(model, x, y, lam, s, 5 * max_iter // 2) for s in range(seeds)]
    _log(f"PyHessian runs done: {[r['oracle_products'] for r in pyh]}")
    cost = out["ours_hvp_seconds"] / float(np.median(c32["pyhessian"]))
    p_oracle = med(pyh, "at_least_seconds")
    p_settled = all(r["oracle_seconds"] is not None for r in pyh)
    out.update(
        {
            "pyhessian_setup_seconds": c32["pyhessian_setup"],
            "pyhessian_hvp_seconds": float(np.median(c32["pyhessian"])),
            "pyhessian_hvp_seconds_float64": float(np.median(c64["pyhessian"])),
            "hvp_max_rel_difference": c32["max_rel_difference"],
            "pyhessian_time_to_1e-3_oracle_seconds": p_oracle,
            "pyhessian_settled_in_every_run": p_settled,
            "pyhessian_oracle_products": [r["oracle_products"] for r in pyh],
            "pyhessian_stop_rule_seconds": med(pyh, "stop_rule_seconds"),
            "pyhessian_stop_rule_products": [r["stop_rule_products"] for r in pyh],
            "pyhessian_stop_rule_rel_errors": [r["stop_rule_rel_error"] for r in pyh],
        }
    )
    certified = out["ours_time_to_1e-3_certified_seconds"]
    out["ratios"] = {
        "hvp_cost_over_pyhessian": cost,
        "hvp_cost_over_pyhessian_float64": out["ours_hvp_seconds_float64"]
        / out["pyhessian_hvp_seconds_float64"],
        "time_to_1e-3_over_pyhessian": None if p_oracle is None else certified / p_oracle,
        "time_to_1e-3_oracle_over_pyhessian_oracle": None
        if (p_oracle is None or out["ours_time_to_1e-3_oracle_seconds"] is None)
        else out["ours_time_to_1e-3_oracle_seconds"] / p_oracle,
        "stop_rules_at_tol_1e-3": None
        if out["pyhessian_stop_rule_seconds"] is None
        else certified / out["pyhessian_stop_rule_seconds"],
    }
    out["ratio"] = out["ratios"]["time_to_1e-3_over_pyhessian"]
    return out
