"""The ``sgdnoise sweep`` and ``sgdnoise report`` commands (wired in :mod:`sgdnoise.cli`).

``sgdnoise sweep SPEC --store FILE [--executor local|dask] [--workers N] [--scheduler ADDR]``
exits 0 when every grid point ends with a result (done or diverged), 1 when some runs
failed (re-running the same command retries them), 2 on bad input with the store
untouched (a bad spec, a changed fixed setting under a known sweep name without
``--variant``).  ``sgdnoise report FILE [--out DIR]`` writes report.md and PNGs (exit 2
for a store without runs).
"""

from __future__ import annotations

import argparse


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="sweep spec (TOML file)")
    p.add_argument("--store", required=True, help="SQLite results file (created if absent)")
    p.add_argument("--executor", default="local", help="local | dask (default local)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: cores)")
    p.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    p.add_argument(
        "--connect-timeout", type=float, default=10.0, help="seconds to wait for the scheduler"
    )
    p.add_argument(
        "--variant",
        action="store_true",
        help="when the store ran this sweep name with other fixed settings, record this run "
        "as NAME@2 (kept apart) instead of refusing",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("store", help="SQLite results file written by 'sgdnoise sweep'")
    p.add_argument("--out", default=None, help="output folder (default STORE-report/)")


def cmd_sweep(args) -> int:
    from .runner import run_sweep

    summary = run_sweep(
        args.spec,
        args.store,
        executor=args.executor,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.no_progress,
        connect_timeout=args.connect_timeout,
        on_change="variant" if args.variant else "refuse",
    )
    print(summary.line())
    return 0 if summary.complete else 1


def cmd_report(args) -> int:
    from .report import write_report

    path = write_report(args.store, args.out)
    print(f"report: {path}")
    return 0
