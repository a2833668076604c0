"""The GPU run, ready to go: on a machine with one NVIDIA GPU, in under 10 minutes,

1. the CUDA tests (``tests/nets/test_device_paths.py``: trainer, batched ensembles, Hessian
   and gradient norm against the same runs on the CPU, real data on the device);
2. one paper-scale slice of p19-width: the NTK MLP family over its full width range
   (128 … 2048), the paper's protocol (100 epochs, B = 128, depth 3) on the real-data
   subset in ``../shared/data``, three rates of the paper grid and two seeds, each width as
   one batched ensemble (:func:`sgdnoise.experiments._p19_grid.p19_points`), plus one
   member re-run alone (:func:`p19_point`) for the batched/single wall-time ratio and a
   check that both reach the same score;
3. a float32 matmul peak of the device, for the fraction of it the ensembles reach;

and writes everything to ``--json`` (default ``gpu_check.json``).  Exit 2 when there is no
CUDA device.  Usage::

    python benchmarks/gpu_check.py [--json FILE] [--data-dir ../shared/data] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sgdnoise.experiments._p19_grid import p19_point, p19_points  # noqa: E402

WIDTHS = (128, 256, 512, 1024, 2048)
RATES = (3.0, 30.0, 300.0)  # NTK rates ε from the paper grid (0.3 … 3e3), one per decade


def matmul_peak(device: str, n: int = 8192, reps: int = 20) -> float:
    """float32 GFLOP/s of an n×n matmul on ``device`` (TF32 off: the trainer's precision)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def run_tests() -> dict:
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "tests/nets/test_device_paths.py", "-rs"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
    return {"returncode": proc.returncode, "seconds": time.perf_counter() - t, "tail": tail}


def config(width: int, lr: float, seed: int, data_dir: str, epochs: int) -> dict:
    return dict(
        arch="mlp", parameterization="ntk", batch_norm=False, width=width, lr=lr, batch=128,
        seed=seed, dataset="cifar10", data_dir=data_dir, n_train=0, n_test=0, image_size=32,
        data_seed=0, epochs=epochs, depth=3, late_fraction=0.1, device="cuda", threads=4,
    )  # fmt: skip


def p19_slice(data_dir: str, epochs: int, seeds: int) -> dict:
    rows = []
    for w in WIDTHS:
        cfgs = [config(w, lr, s, data_dir, epochs) for lr in RATES for s in range(seeds)]
        torch.cuda.synchronize()
        t = time.perf_counter()
        out = p19_points(cfgs)
        torch.cuda.synchronize()
        batched = time.perf_counter() - t
        t = time.perf_counter()
        single = p19_point(**cfgs[0])
        torch.cuda.synchronize()
        alone = time.perf_counter() - t
        rows.append(
            {
                "width": w,
                "members": len(cfgs),
                "batched_s": batched,
                "single_run_s": alone,
                "speedup_over_sequential": alone * len(cfgs) / batched,
                "test_acc_late": {f"lr={c['lr']:g},seed={c['seed']}": r.get("test_acc_late")
                                  for c, r in zip(cfgs, out, strict=True)},
                "single_equals_member_score": abs(
                    single["test_acc_late"] - out[0]["test_acc_late"]
                ) if single.get("test_acc_late") == single.get("test_acc_late") else None,
            }
        )  # fmt: skip
        print(f"width {w}: {len(cfgs)} members {batched:.1f} s, one alone {alone:.1f} s")
    return {"rows": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default="gpu_check.json")
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--quick", action="store_true", help="10 epochs instead of 100")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device on this machine (torch.cuda.is_available() is False)")
        return 2
    os.environ.setdefault("SGDNOISE_DATA_DIR", args.data_dir)
    t0 = time.perf_counter()
    report = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "tests": run_tests(),
        "matmul_peak_gflops": matmul_peak("cuda"),
    }
    print("tests:", report["tests"]["tail"][-1], f"({report['tests']['seconds']:.0f} s)")
    report["p19_slice"] = p19_slice(args.data_dir, 10 if args.quick else 100, 2)
    report["total_s"] = time.perf_counter() - t0
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.json} ({report['total_s']:.0f} s)")
    return 0 if report["tests"]["returncode"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
