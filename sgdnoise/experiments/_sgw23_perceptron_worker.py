"""The worker of claim ``sgw23-perceptron``: one run of the exact event-driven simulator
:func:`sgdnoise.simulate.perceptron.simulate` (SGW23 §5; DESIGN.md §4.2) as a sweepable
function, so the claim's grid runs through the sweeps store and resumes after a kill.  The
simulator is imported inside the function: importing this module compiles nothing.
"""

from __future__ import annotations

from ..validation import in_range, integer, positive

FUNCTION = "sgdnoise.experiments._sgw23_perceptron_worker:perceptron_run"
#: simulator statuses of a run stopped before every point was fitted
CAPPED_STATUSES = ("max_steps", "max_updates")


def _check(*, chi, P, d, aT, alpha, batch, seed, max_updates):
    """Bounds of :func:`perceptron_run`, checked on every grid point before a run."""
    in_range("chi", chi, -1.0, None, low_open=True)
    P = integer("P", P, minimum=1)
    integer("d", d, minimum=2)
    positive("aT", aT)
    positive("alpha", alpha)
    integer("batch", batch, minimum=1, maximum=P)
    integer("seed", seed, minimum=0, maximum=2**32 - 1)
    integer("max_updates", max_updates, minimum=1)


def perceptron_run(
    *,
    chi: float,
    P: int,
    d: int,
    aT: float,
    alpha: float,
    batch: int,
    seed: int,
    max_updates: int,
) -> dict:
    """One run at T = aT/α.  Metrics: ``dw1`` (Δw₁, the signal), ``dw_perp`` (‖Δw_⊥‖, the
    noise), ``t_star`` (η × steps; only a lower bound when the run was capped),
    ``steps``, ``updates``, ``capped`` (1 when the update cap stopped the run before every
    point was fitted: such a run has no t* and no end-of-training weights),
    ``relative_change`` (‖Δw‖/‖w₀‖ with ‖w₀‖ = √d) and ``test_error`` (the exact
    E[Φ̄(Δw₁|x₁|/‖Δw_⊥‖)]).  A non-finite run returns status ``diverged``."""
    from ..simulate.perceptron import simulate

    r = simulate(
        P, d, chi, aT / alpha, alpha=alpha, batch_size=batch, seed=seed, n_test=0,
        max_updates=max_updates,
    )  # fmt: skip
    if r.status == "diverged":
        return {"status": "diverged", "steps": float(r.steps), "updates": float(r.n_updates)}
    return {
        "dw1": r.dw1,
        "dw_perp": r.dw_perp,
        "t_star": r.t_star,
        "steps": float(r.steps),
        "updates": float(r.n_updates),
        "capped": float(r.status in CAPPED_STATUSES),
        "relative_change": r.relative_change,
        "test_error": r.test_error_exact,
    }


perceptron_run.validate_config = _check
