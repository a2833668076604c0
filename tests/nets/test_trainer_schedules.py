"""Integration: the nets trainer consumes the one shared schedule definition
(sgdnoise.theory.schedules) step for step — per-step η_t and b_t, epochs of ceil(N/b_e)."""

import numpy as np
import torch

from sgdnoise.nets import make_model, train
from sgdnoise.nets.datasets import Dataset
from sgdnoise.theory.schedules import scheduler_ii, scheduler_iv


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 4, 4, generator=g)
    y = (x.sum(dim=(1, 2, 3)) > 0).long()
    return Dataset("toy", "binary", x, y, x[:16], y[:16], 2)


def test_trainer_follows_schedule_step_for_step():
    data = _data()
    for sched in (
        scheduler_ii("cosine", 0.2, 8, 2.0, 1),
        scheduler_iv(0.05, 1.5, 2, "cosine", 8, 2.0, 1),
    ):
        plan = sched.expand(data.n_train, 4)
        seen = []
        net = make_model("mlp", input_shape=(1, 4, 4), num_outputs=2, width=8, seed=0, device="cpu")
        res = train(
            net,
            data,
            schedule=sched,
            epochs=4,
            eval_every=1,
            eval_test=False,
            seed=0,
            callback=lambda m, rec, seen=seen: seen.append((rec["lr"], rec["batch_size"])),
        )
        assert res.steps == len(plan.lr)
        lrs, bs = np.array([s[0] for s in seen]), np.array([s[1] for s in seen])
        np.testing.assert_allclose(lrs[-len(plan.lr) :], plan.lr, rtol=1e-12)
        np.testing.assert_array_equal(bs[-len(plan.batch_size) :], plan.batch_size)
        # epochs hold ceil(N / b_e) steps each
        for e in range(4):
            b = plan.batch_size[plan.epoch == e]
            assert len(b) == int(np.ceil(data.n_train / b[0]))
