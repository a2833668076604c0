"""Sweepable experiment functions and their registry.

The sweep machinery runs any importable ``f(**config) -> dict``: the dict holds numeric
metrics, optionally ``"curves"`` (``{name: [y...]}`` or ``{name: {"x": [...], "y": [...]}}``)
and ``"status"`` (``"done"`` or ``"diverged"``; a diverged run is a result, DESIGN.md §7).
An exception inside ``f`` marks the run ``failed`` with its traceback.

:func:`sweepable` registers a function under a short name usable as ``function = "name"``
in a spec, and attaches an optional ``validate_config(**config)`` hook that the spec
loader calls on every grid point, so bad values are refused before a store is touched.

:func:`noisy_quadratic_sgd` is a real, cheap experiment used by the tests and the
benchmark: minibatch SGD on finite-sample least squares.  This module imports only numpy
so that worker processes start fast.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..validation import integer, memory_budget, nonnegative, positive

#: Every built-in worker by name → ``module:function``.  A spec names a worker here by
#: its name (``function = "kcl23-run"``) and nothing has to be imported first; runs are
#: keyed by the name, so a worker that moves only changes its line here.  **A new
#: built-in worker adds one line** (``tests/sweeps/test_sweep_names.py`` finds a worker
#: that is missing: every ``FUNCTION`` constant and ``@sweepable`` of sgdnoise).
BUILTIN: dict[str, str] = {
    "noisy-quadratic": "sgdnoise.sweeps.tasks:noisy_quadratic_sgd",
    "bg21-cifar-point": "sgdnoise.experiments._bg21_cifar_worker:bg21_point",
    "kcl23-run": "sgdnoise.experiments._kcl23_worker:kcl23_run",
    "kcl23-bn-run": "sgdnoise.experiments._kcl23_bn_worker:kcl23_bn_run",
    "kcl23-eos-run": "sgdnoise.experiments.kcl23_eos:eos_run",
    "p19-point": "sgdnoise.experiments._p19_grid:p19_point",
    "sgw23-late": "sgdnoise.experiments._sgw23_powerlaws_worker:late_point",
    "sgw23-perceptron": "sgdnoise.experiments._sgw23_perceptron_worker:perceptron_run",
    "sgw23-train": "sgdnoise.experiments._sgw23_runs:train_point",
    "ui25-cifar-run": "sgdnoise.experiments.ui25_cifar:ui25_cifar_run",
}

#: Functions registered at run time with :func:`sweepable` (a user's own experiments).
SWEEPABLE: dict[str, Callable] = {}


def sweepable(name: str, *, validate: Callable | None = None):
    """Register ``f`` as the sweepable experiment ``name`` (with an optional config check)."""

    def deco(fn: Callable) -> Callable:
        if name in SWEEPABLE and SWEEPABLE[name] is not fn:
            raise ValueError(f"sweepable {name!r} registered twice")
        here = f"{fn.__module__}:{fn.__qualname__}"
        if name in BUILTIN and BUILTIN[name] != here:
            raise ValueError(f"sweepable {name!r} is the built-in {BUILTIN[name]}")
        SWEEPABLE[name] = fn
        if validate is not None:
            fn.validate_config = validate
        fn.sweep_name = name
        return fn

    return deco


def _check_quadratic(
    lr, batch, *, dim=8, n_train=256, steps=2000, noise=0.5, cond=2.0, record_every=50, seed=0
):
    """The one set of bounds of :func:`noisy_quadratic_sgd` (used at spec time and run time),
    with its memory: the minibatch indices are drawn up front (``steps × batch`` int64) and
    the data are two ``n_train × dim`` float64 arrays, which must fit this machine."""
    c = dict(
        lr=positive("lr", lr),
        batch=integer("batch", batch, minimum=1),
        dim=integer("dim", dim, minimum=1, maximum=10_000),
        n_train=integer("n_train", n_train, minimum=2),
        steps=integer("steps", steps, minimum=1),
        noise=nonnegative("noise", noise),
        cond=positive("cond", cond),
        record_every=integer("record_every", record_every, minimum=1),
        seed=integer("seed", seed, minimum=0, maximum=2**63 - 1),
    )
    memory_budget("steps", c["steps"], 8 * c["steps"] * c["batch"], "the minibatch indices")
    memory_budget("n_train", c["n_train"], 2 * 8 * c["n_train"] * c["dim"], "the data")
    return c


@sweepable("noisy-quadratic", validate=_check_quadratic)
def noisy_quadratic_sgd(
    lr: float,
    batch: int,
    *,
    dim: int = 8,
    n_train: int = 256,
    steps: int = 2000,
    noise: float = 0.5,
    cond: float = 2.0,
    record_every: int = 50,
    seed: int = 0,
) -> dict:
    """Minibatch SGD (with replacement) on ``L(θ) = (1/2N) Σ_i (x_i·θ − y_i)²``.

    Inputs ``x_i ~ N(0, diag(h))`` with h spread geometrically over [1/cond, 1] (so the
    Hessian's condition number is about ``cond``), labels ``y_i = x_i·θ* + noise·ε_i``.
    SGD starts at θ = 0 with the convention of DESIGN.md §3,
    ``θ ← θ − (η/B) Σ_{i∈batch} ∇ℓ_i``.

    Metrics: ``final_loss``; ``excess_loss`` = time average over the second half of the
    run of ``L(θ_k) − L(θ̂)`` (θ̂ the least-squares minimizer), which in the SDE limit
    approaches ``(T/4) tr Σ(θ̂)`` with T = η/B (the OU covariance C solves
    ``HC + CH = TΣ``, and ``½ tr(HC) = (T/4) tr Σ``, BG21); ``trace_sigma`` = tr Σ(θ̂)
    and ``lambda_max`` of the Hessian, so that the prediction can be formed outside;
    ``test_loss`` on fresh samples.  Curves: ``train_loss`` every ``record_every`` steps.
    A loss that becomes non-finite or exceeds 1e8 times its start marks the run
    ``diverged`` at the step where it did (GD on a quadratic diverges for η > 2/λ_max).
    """
    c = _check_quadratic(
        lr,
        batch,
        dim=dim,
        n_train=n_train,
        steps=steps,
        noise=noise,
        cond=cond,
        record_every=record_every,
        seed=seed,
    )
    lr, batch, dim, n, steps = c["lr"], c["batch"], c["dim"], c["n_train"], c["steps"]
    rng = np.random.default_rng(c["seed"])
    scales = np.sqrt(np.geomspace(1.0 / c["cond"], 1.0, dim))
    theta_star = rng.standard_normal(dim)

    def sample(m):
        x = rng.standard_normal((m, dim)) * scales
        return x, x @ theta_star + c["noise"] * rng.standard_normal(m)

    X, y = sample(n)
    Xt, yt = sample(n)
    H = X.T @ X / n
    theta_hat = np.linalg.lstsq(X, y, rcond=None)[0]
    resid = X @ theta_hat - y
    loss_hat = 0.5 * float(resid @ resid) / n
    # Σ(θ̂) = (1/N) Σ_i r_i² x_i x_iᵀ (the mean gradient vanishes at θ̂); only its trace is used.
    trace_sigma = float(np.sum(resid[:, None] ** 2 * X**2) / n)

    def loss(th, A=X, b=y):
        r = A @ th - b
        return 0.5 * float(r @ r) / len(b)

    theta = np.zeros(dim)
    start = loss(theta)
    limit = 1e8 * (start + 1.0)
    idx_all = rng.integers(0, n, size=(steps, batch))
    rec_steps, rec_loss = [0], [start]
    status, diverged_step = "done", None
    for k in range(steps):
        idx = idx_all[k]
        xb = X[idx]
        theta -= (lr / batch) * (xb.T @ (xb @ theta - y[idx]))
        if (k + 1) % c["record_every"] == 0 or k + 1 == steps:
            cur = loss(theta)
            rec_steps.append(k + 1)
            rec_loss.append(cur)
            if not np.isfinite(cur) or cur > limit:
                status, diverged_step = "diverged", k + 1
                break
    half = np.asarray(rec_loss[len(rec_loss) // 2 :])
    out = {
        "final_loss": rec_loss[-1],
        "excess_loss": float(np.mean(half) - loss_hat) if status == "done" else float("nan"),
        "test_loss": loss(theta, Xt, yt) if status == "done" else float("nan"),
        "trace_sigma": trace_sigma,
        "lambda_max": float(np.linalg.eigvalsh(H)[-1]),
        "status": status,
        "curves": {"train_loss": {"x": rec_steps, "y": rec_loss}},
    }
    if diverged_step is not None:
        out["diverged_step"] = diverged_step
    return out


def noisy_quadratic_many(configs: list[dict]) -> list:
    """:func:`noisy_quadratic_sgd` on several grid points as one task — the simplest function
    for the batching hook (:class:`~sgdnoise.sweeps.batching.Batch`): the points run one
    after another in one worker call, so a sweep of many short points pays one dispatch per
    task instead of one per point.  One result per config, in order; a point whose config
    is refused gets its exception as its result (that point alone is ``failed``)."""
    out: list = []
    for c in configs:
        try:
            out.append(noisy_quadratic_sgd(**c))
        except Exception as e:  # noqa: BLE001 - recorded as that point's failure
            out.append(e)
    return out
