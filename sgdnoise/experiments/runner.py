"""Running a claim: validation, the output folder, result.json and report.md (DESIGN.md §9).

A run writes into a fresh folder:

* ``result.json``: ``{"claim", "scale", "verdict", "summary", "criteria", "metrics",
  "figures", "seconds", "versions", "seed", "device"}`` (``criteria``: one object per
  judged criterion, :meth:`~sgdnoise.experiments.criteria.Judgement.as_dict`);
* ``report.md``: the same in words — the criteria table, the figures embedded;
* the PNG figures.

Nothing already stored is overwritten: an explicit ``out`` that already holds a
``result.json`` is refused, and the default folder gets a numeric suffix instead.
All input is validated before anything is created on disk.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ParameterError
from ..provenance import versions as _versions
from ..validation import choice, integer
from .criteria import counts, criteria_table
from .registry import SCALES, Claim, ClaimResult, catalog, get_claim

DEVICES = ("auto", "cpu", "cuda")
_VERSIONED = ("sgdnoise", "numpy", "scipy", "sympy", "numba", "torch", "matplotlib")


def versions() -> dict[str, str]:
    """Versions of python and the packages a claim result depends on."""
    return _versions(_VERSIONED)


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without one is an error.
    (``cpu`` is answered without importing torch, which the theory claims never need.)"""
    choice("device", device, DEVICES)
    if device == "cpu":
        return "cpu"
    from ..nets.device import resolve_device as torch_device

    return torch_device(device).type


@dataclass
class RunContext:
    """What a claim's ``run`` receives: scale, seed, device, data location, output folder."""

    claim: str
    scale: str
    out_dir: Path
    seed: int = 0
    device: str = "cpu"
    data_dir: Path | None = None
    progress: bool = True
    figures: list[str] = field(default_factory=list)

    def savefig(self, fig, name: str) -> str:
        """Write a matplotlib Figure as ``name``.png into the run folder and register it."""
        fname = name if name.endswith(".png") else f"{name}.png"
        fig.savefig(self.out_dir / fname, dpi=110, bbox_inches="tight")
        if fname not in self.figures:
            self.figures.append(fname)
        return fname

    def tqdm(self, iterable=None, **kwargs):
        """A progress bar that respects ``progress=False``."""
        from tqdm.auto import tqdm

        kwargs.setdefault("desc", self.claim)
        kwargs.setdefault("leave", False)
        return tqdm(iterable, disable=not self.progress, **kwargs)


def _default_out(claim_id: str, scale: str, seed: int) -> Path:
    base = Path("runs") / f"{claim_id}-{scale}-seed{seed}"
    path, k = base, 1
    while (path / "result.json").exists():
        path = base.with_name(f"{base.name}-{k}")
        k += 1
    return path


def _check_out(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise ParameterError("out", str(out), "exists and is not a folder")
    if (out / "result.json").exists():
        raise ParameterError(
            "out",
            str(out),
            "already holds a result.json; results are never overwritten, choose a new folder",
        )
    return out


def check_claim_data(claim_ids, scale: str, data_dir) -> dict[str, dict]:
    """Read every data set the claims read at ``scale`` (per :mod:`._catalog`) in full —
    present, right checksum, right format — before anything is created; a bad data folder
    is then one :class:`ParameterError` line, not a failed worker (issue 16)."""
    entries = catalog()
    names = sorted({d for c in claim_ids for d in entries[c].data.get(scale, ())})
    if not names:
        return {}
    from ..nets.datasets import check_data

    return {n: check_data(n, data_dir) for n in names}


def _json_number(v):
    v = float(v)
    return v if math.isfinite(v) else str(v)


def _write_report(claim: Claim, ctx: RunContext, res: ClaimResult, record: dict) -> None:
    lines = [
        f"# {claim.id} — {res.verdict.upper()}",
        "",
        f"**Claim** ({claim.paper}): {claim.statement}",
        "",
        f"**Scale**: `{ctx.scale}` · **seed** {ctx.seed} · **device** {ctx.device} · "
        f"**wall time** {record['seconds']:.1f} s",
        "",
        f"**Verdict**: {res.verdict}. {res.summary}",
        "",
        "**Criteria** (verdict rule: any contradicted → disagree; all supported → agree; "
        "else inconclusive; "
        + ", ".join(f"{n} {d}" for d, n in counts(res.criteria).items())
        + "):",
        "",
        criteria_table(res.criteria),
        "",
    ]
    if ctx.scale == "smoke":
        lines += [
            "> Smoke scale checks that the machinery agrees with theory on a small case; "
            "it is not the paper's result.",
            "",
        ]
    if res.metrics:
        lines += ["| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {v:.6g} |" for k, v in res.metrics.items()]
        lines.append("")
    if res.details:
        lines += [res.details.strip(), ""]
    for f in ctx.figures:
        lines += [f"![{f}]({f})", ""]
    lines += [
        f"Reproduce: `sgdnoise reproduce {claim.id} --scale {ctx.scale} --seed {ctx.seed}`",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in record["versions"].items()),
        "",
    ]
    (ctx.out_dir / "report.md").write_text("\n".join(lines))


def _run_one(claim: Claim, scale: str, out: Path, seed: int, device: str, data_dir, progress):
    tmp = out.with_name(out.name + ".partial")
    fresh = not tmp.exists()
    # folders this call creates (``runs/`` included) go again if the run is refused
    created = [p for p in (tmp, *tmp.parents) if not p.exists()]
    if tmp.exists():
        # A killed run's sweep stores (SQLite + WAL) survive so that its grid resumes where
        # it stopped (DESIGN.md §6); everything else it left is removed.
        for p in tmp.iterdir():
            if p.name.endswith((".sqlite", ".sqlite-wal", ".sqlite-shm")):
                continue
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    tmp.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(claim.id, scale, tmp, seed, device, data_dir, progress)
    t0 = time.perf_counter()
    try:
        res = claim.run(ctx)
    except ParameterError:
        # bad input found inside the run (a data file, a worker's check): the user gets the
        # one line, and a folder this call created is removed — a resumed run's store stays
        if fresh:
            shutil.rmtree(tmp, ignore_errors=True)
            for p in created[1:]:  # deepest first; stops at the first that is not empty
                try:
                    p.rmdir()
                except OSError:
                    break
        raise
    if not isinstance(res, ClaimResult):
        raise TypeError(f"claim {claim.id} returned {type(res).__name__}, not ClaimResult")
    record = {
        "claim": claim.id,
        "scale": scale,
        "verdict": res.verdict,
        "summary": res.summary,
        "criteria": [j.as_dict() for j in res.criteria],
        "metrics": {k: _json_number(v) for k, v in res.metrics.items()},
        "figures": list(ctx.figures),
        "seconds": time.perf_counter() - t0,
        "versions": versions(),
        "seed": seed,
        "device": device,
    }
    _write_report(claim, ctx, res, record)
    (tmp / "result.json").write_text(json.dumps(record, indent=2) + "\n")
    ctx.out_dir = out
    # The finished folder appears atomically; an existing empty/partial out folder is merged.
    out.mkdir(parents=True, exist_ok=True)
    for p in tmp.iterdir():
        os.replace(p, out / p.name)
    tmp.rmdir()
    return record


def reproduce(
    claim_id: str,
    *,
    scale: str = "smoke",
    out: str | os.PathLike | None = None,
    seed: int = 0,
    device: str = "auto",
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> list[dict]:
    """Run one claim (or ``"all"`` at the scale) and return the result records.

    Validates everything before writing; raises :class:`ParameterError` on bad input.
    With ``"all"`` each claim writes into ``out/<claim-id>/`` and ``out/index.md`` lists
    the verdicts.
    """
    choice("scale", scale, SCALES)
    seed = integer("seed", seed, minimum=0, maximum=2**63 - 1)
    if data_dir is not None:
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise ParameterError("data_dir", str(data_dir), "must be an existing folder")
    entries = catalog()
    if claim_id == "all":
        ids = [c for c, e in entries.items() if scale in e.scales]
        root = Path(out) if out is not None else _default_out("all", scale, seed)
        if root.exists() and not root.is_dir():
            raise ParameterError("out", str(root), "exists and is not a folder")
        for c in ids:
            _check_out(root / c)
    else:
        if claim_id not in entries:
            raise ParameterError("claim", claim_id, "must be 'all' or one of " + ", ".join(entries))
        e = entries[claim_id]
        if scale not in e.scales:
            raise ParameterError("scale", scale, f"claim {e.id} runs at {e.scales}")
        ids = [claim_id]
        root = _check_out(Path(out)) if out is not None else _default_out(e.id, scale, seed)
    device = resolve_device(device)
    check_claim_data(ids, scale, data_dir)
    claims = [get_claim(c) for c in ids]

    records = []
    for c in claims:
        target = root / c.id if claim_id == "all" else root
        records.append(_run_one(c, scale, target, seed, device, data_dir, progress))
    if claim_id == "all":
        rows = [
            "| claim | scale | verdict | seconds | summary |",
            "| --- | --- | --- | --- | --- |",
        ]
        rows += [
            f"| [{r['claim']}]({r['claim']}/report.md) | {r['scale']} | {r['verdict']} | "
            f"{r['seconds']:.1f} | {r['summary']} |"
            for r in records
        ]
        (root / "index.md").write_text(
            f"# sgdnoise reproduce all ({scale})\n\n" + "\n".join(rows) + "\n"
        )
    for r in records:
        r["out"] = str(root / r["claim"] if claim_id == "all" else root)
    sys.stdout.flush()
    return records
