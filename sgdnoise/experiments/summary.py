"""The combined report: every claim of DESIGN.md §4 with its verdict at each scale run.

``sgdnoise report DIR`` (DIR a folder, e.g. the output of ``sgdnoise reproduce all``) walks
DIR for ``result.json`` files and sweep stores (``*.sqlite``) and writes ``DIR/REPORT.md``:
one row per registered claim — source paper, statement, and for each scale the verdict with
its criteria counts (supported / contradicted / undecided), linked to its newest run — so
claims that were not run show up as such.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import ParameterError
from .criteria import DECISIONS
from .registry import SCALES, catalog


def collect_results(root: Path) -> list[dict]:
    """Every readable result.json below ``root``, with its folder, newest first."""
    found = []
    for path in sorted(Path(root).rglob("result.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if {"claim", "scale", "verdict"} <= set(rec):
            rec["_dir"] = path.parent
            rec["_mtime"] = path.stat().st_mtime
            found.append(rec)
    return sorted(found, key=lambda r: -r["_mtime"])


def _criteria_counts(rec: dict) -> str:
    """ " (3✓ 0✗ 1?)" from a result's criteria (empty for results written before them)."""
    crit = rec.get("criteria")
    if not crit:
        return ""
    n = {d: sum(c.get("decision") == d for c in crit) for d in DECISIONS}
    return f" ({n['supported']}✓ {n['contradicted']}✗ {n['undecided']}?)"


def write_combined_report(root, out=None) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise ParameterError("path", str(root), "must be an existing folder of claim results")
    out = Path(out) if out is not None else root / "REPORT.md"
    results = collect_results(root)
    stores = sorted(root.rglob("*.sqlite"))
    if not results and not stores:
        raise ParameterError(
            "path", str(root), "holds no result.json and no sweep store: nothing to report"
        )
    newest: dict[tuple[str, str], dict] = {}
    for r in results:
        newest.setdefault((r["claim"], r["scale"]), r)
    claims = catalog()  # papers and statements without importing any claim
    counts = {"agree": 0, "disagree": 0, "inconclusive": 0}
    lines = [
        "# sgdnoise — claims and verdicts",
        "",
        f"Results found under `{root}`: {len(results)} runs.",
        "",
        "Each cell: the verdict of the newest run at that scale, then its criteria counts "
        "(✓ supported, ✗ contradicted, ? undecided).",
        "",
        "| claim | source | " + " | ".join(f"{s} scale" for s in SCALES) + " | statement |",
        "| --- | --- | " + " | ".join("---" for _ in SCALES) + " | --- |",
    ]
    for cid, c in claims.items():
        cells = []
        for s in SCALES:
            r = newest.get((cid, s))
            if r is None:
                cells.append("not run" if s in c.scales else "—")
                continue
            counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
            rel = os.path.relpath(Path(r["_dir"]).resolve(), out.parent.resolve())
            cells.append(
                f"[{r['verdict']}]({Path(rel).as_posix()}/report.md)" + _criteria_counts(r)
            )
        lines.append(f"| `{cid}` | {c.paper} | " + " | ".join(cells) + f" | {c.statement} |")
    unknown = sorted({r["claim"] for r in results} - set(claims))
    lines += ["", "Verdicts: " + ", ".join(f"{v} {n}" for v, n in counts.items()) + "."]
    if unknown:
        lines += ["", "Results for claims no longer registered: " + ", ".join(unknown) + "."]
    details = [r for r in newest.values() if r["claim"] in claims]
    if details:
        lines += ["", "## Summaries", ""]
        for r in sorted(details, key=lambda r: (r["claim"], SCALES.index(r["scale"]))):
            lines.append(
                f"- **{r['claim']}** ({r['scale']}, {r['seconds']:.0f} s): "
                f"{r['verdict']} — {r['summary']}"
            )
    if stores:
        lines += ["", "## Sweep stores", ""]
        lines += [
            f"- `{p.relative_to(root)}` (`sgdnoise report {p}` for its tables and figures)"
            for p in stores
        ]
    out.write_text("\n".join(lines) + "\n")
    return out
