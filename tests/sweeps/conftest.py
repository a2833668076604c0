"""Fixtures for the sweep tests: a small importable experiment module written at test time,
so that specs can point at "module:function" exactly as a user's own code would."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

HELPER = "sgdnoise_sweep_test_fns"

SOURCE = '''
"""Experiments for the sweep tests: real (seeded Monte-Carlo) computations."""
import os

import numpy as np


def mc_pi(x: int, seed: int = 0, n: int = 20000, fail_flag: str = "", diverge_at: int = -1):
    """Monte-Carlo estimate of pi from n points; fails for x == 3 while ``fail_flag`` exists,
    and reports ``diverged`` for x == diverge_at (as a training run would)."""
    if fail_flag and x == 3 and os.path.exists(fail_flag):
        raise RuntimeError("flag file present")
    rng = np.random.default_rng([x, seed])
    u = rng.random((n, 2))
    inside = (u ** 2).sum(axis=1) < 1.0
    est = 4.0 * inside.mean()
    out = {"pi_est": est, "x": float(x) * 10.0,
           "curves": {"running": np.cumsum(inside)[999::1000] * 4.0 / np.arange(1000, n + 1, 1000)}}
    if x == diverge_at:
        out["status"] = "diverged"
    return out


def not_a_dict(x: int):
    return [x]


def mc_pi_group(configs):
    """mc_pi on several points as one task (the sweeps' batching hook): one result per
    config, the exception itself for a point that raised.  While the file named by
    $SGDNOISE_TEST_HOLD exists, a task without x == 1 waits (a test kills its coordinator
    then); each point computed is appended to $SGDNOISE_TEST_LOG."""
    import time

    hold = os.environ.get("SGDNOISE_TEST_HOLD", "")
    while hold and os.path.exists(hold) and all(c["x"] != 1 for c in configs):
        time.sleep(0.05)
    out = []
    for c in configs:
        try:
            out.append(mc_pi(**c))
        except Exception as e:
            out.append(e)
    log = os.environ.get("SGDNOISE_TEST_LOG", "")
    if log:
        with open(log, "a") as fh:
            fh.writelines(f"{c['x']} {c.get('seed', 0)}\\n" for c in configs)
    return out


def broken_group(configs):
    raise RuntimeError("the whole task broke")


def short_group(configs):
    return [mc_pi(**c) for c in configs[1:]]
'''


@pytest.fixture(scope="session")
def helper_module(tmp_path_factory):
    """Name of an importable module with test experiments (on sys.path and PYTHONPATH)."""
    folder = tmp_path_factory.mktemp("helper")
    (folder / f"{HELPER}.py").write_text(textwrap.dedent(SOURCE))
    sys.path.insert(0, str(folder))
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(folder)] + ([old] if old else []))
    yield HELPER
    sys.path.remove(str(folder))
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old
