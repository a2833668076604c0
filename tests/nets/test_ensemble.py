"""The vmap ensemble follows exactly the trajectories of separate trainer runs."""

from __future__ import annotations

import pytest
import torch

from sgdnoise.errors import ParameterError
from sgdnoise.nets import make_model, synthetic_dataset, train, train_ensemble


def test_ensemble_equals_sequential_runs():
    """64 points in batches of 10: every epoch ends with a short batch of 4."""
    d = synthetic_dataset(
        n_train=64,
        n_test=8,
        input_shape=(1, 4, 4),
        num_classes=3,
        device="cpu",
        dtype=torch.float64,
    )
    build = lambda s: make_model(
        "mlp",
        input_shape=(1, 4, 4),
        num_outputs=3,
        width=16,
        seed=s,
        device="cpu",
        dtype=torch.float64,
    )
    seeds, lrs = [0, 1, 2, 3], [0.05, 0.1, 0.2, 0.4]
    models = train_ensemble(build, d, lrs=lrs, seeds=seeds, batch_size=10, steps=20)
    for s, lr, m in zip(seeds, lrs, models):
        ref = build(s)
        train(ref, d, lr=lr, batch_size=10, max_steps=20, seed=s, eval_test=False)
        for p, q in zip(m.parameters(), ref.parameters()):
            # same batches, same arithmetic up to vmap's batched-matmul reduction order
            torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)
    # the rates really differ per model
    assert not torch.allclose(models[0].net[1].weight, build(0).net[1].weight)


def test_ensemble_bad_input():
    d = synthetic_dataset(n_train=8, n_test=2, input_shape=(3,), device="cpu")
    build = lambda s: make_model(
        "mlp", input_shape=(3,), num_outputs=2, seed=s, device="cpu", batch_norm=True
    )
    with pytest.raises(ParameterError) as e:
        train_ensemble(build, d, lrs=[0.1], seeds=[0, 1], batch_size=2, steps=1)
    assert e.value.parameter == "lrs"
    with pytest.raises(ParameterError) as e:
        train_ensemble(build, d, lrs=[0.1], seeds=[0], batch_size=2, steps=1)
    assert e.value.parameter == "build"
