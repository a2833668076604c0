"""benchmarks/sgd.py runs (--quick) and writes its figures; its numpy baselines simulate the
same SGD as the kernel (so the ratios compare equal work)."""

import importlib.util
import json
import subprocess
import sys

import numpy as np


def test_benchmark_quick_writes_json(tmp_path, repo_root):
    out = tmp_path / "sgd.json"
    proc = subprocess.run(
        [sys.executable, str(repo_root / "benchmarks" / "sgd.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rec = json.loads(out.read_text())
    for key in ("numba_2_threads", "numba_1_thread", "numpy_per_sample", "numpy_coeff_sum"):
        assert rec["rates"][key] > 0
    assert set(rec["ratios"]) == set(rec["baselines"])
    assert rec["settings"]["N"] == 1000 and rec["settings"]["B"] == 10
    assert "per-sample gradients/s" in proc.stdout


def test_baselines_simulate_the_same_sgd(repo_root):
    spec = importlib.util.spec_from_file_location("bench_sgd", repo_root / "benchmarks" / "sgd.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    from sgdnoise.simulate.sgd import sgd_chains
    from sgdnoise.theory import finite_sample as fs
    from sgdnoise.theory.potentials import two_minima_1d

    base = two_minima_1d(k_narrow=4.0, depth_narrow=-0.1, barrier=0.1)
    p = fs.make_problem(base, bench.N, shift_sd=0.1, tilt_sd=3.0, seed=0)
    a = bench.numpy_per_sample(p, 2000, 100)[:, 0]
    b = bench.numpy_coeff_sum(p, 2000, 100)
    c = sgd_chains(p, lr=bench.LR, batch_size=bench.B, n_chains=2000, n_steps=100, x0=-1.0)
    np.testing.assert_allclose(a, b, rtol=1e-10)  # same random indices, same algebra
    # kernel vs numpy: independent streams; means within 5 SE of each other
    se = np.hypot(a.std(), c.positions.std()) / np.sqrt(2000)
    assert abs(a.mean() - c.positions[:, 0].mean()) < 5 * se
