"""Command line: ``sgdnoise`` ≡ ``python -m sgdnoise`` (DESIGN.md §9).

Bad input prints one line naming the parameter, the value and what is allowed, and exits
with status 2 having written nothing.
"""

from __future__ import annotations

import argparse
import json
import sys

from .errors import ParameterError


def _cmd_list(args) -> int:
    # the catalog alone: no claim module (numba, sympy, torch, matplotlib) is imported
    from .experiments._catalog import entries

    claims = [c.as_dict() for c in entries().values()]
    if args.json:
        print(json.dumps(claims, indent=2))
    else:
        w = max((len(c["id"]) for c in claims), default=5)
        for c in claims:
            print(f"{c['id']:<{w}}  {c['paper']:<6} {','.join(c['scales']):<16} {c['statement']}")
    return 0


def _cmd_reproduce(args) -> int:
    from .experiments import reproduce

    records = reproduce(
        args.claim,
        scale=args.scale,
        out=args.out,
        seed=args.seed,
        device=args.device,
        data_dir=args.data_dir,
        progress=not args.no_progress,
    )
    for r in records:
        print(f"{r['claim']} [{r['scale']}] {r['verdict']}: {r['summary']}")
        print(f"  report: {r['out']}/report.md")
    return 0


def _cmd_report(args) -> int:
    from pathlib import Path

    if Path(args.store).is_dir():
        from .experiments.summary import write_combined_report

        print(f"report: {write_combined_report(args.store, args.out)}")
        return 0
    from .sweeps import cli as sweeps_cli

    return sweeps_cli.cmd_report(args)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line too (``--help`` shows the usage)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sgdnoise", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    pl = sub.add_parser("list", help="every claim with its paper, scales and statement")
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    pl.set_defaults(func=_cmd_list)

    pr = sub.add_parser("reproduce", help="run a claim (or 'all') and write its report")
    pr.add_argument("claim", help="claim id from 'sgdnoise list', or 'all'")
    pr.add_argument("--scale", default="smoke", help="smoke | cpu | paper (default smoke)")
    pr.add_argument("--out", default=None, help="output folder (default runs/CLAIM-SCALE-seedN)")
    pr.add_argument("--seed", type=int, default=0)
    pr.add_argument("--device", default="auto", help="auto | cpu | cuda")
    pr.add_argument("--data-dir", default=None, help="folder with CIFAR-10 / MNIST files")
    pr.add_argument("--no-progress", action="store_true", help="no progress bars")
    pr.set_defaults(func=_cmd_reproduce)

    from .sweeps import cli as sweeps_cli  # argparse wiring only; the work is imported lazily

    ps = sub.add_parser("sweep", help="run or resume a grid sweep into a SQLite store")
    sweeps_cli.add_sweep_arguments(ps)
    ps.set_defaults(func=sweeps_cli.cmd_sweep)

    pt = sub.add_parser(
        "report",
        help="a sweep store's report (STORE file), or every claim's verdict (a results folder)",
    )
    sweeps_cli.add_report_arguments(pt)
    pt.set_defaults(func=_cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ParameterError as e:
        print(f"sgdnoise: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
