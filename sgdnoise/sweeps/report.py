"""A markdown + PNG report of a results store (``sgdnoise report FILE``).

For each sweep in the store: run counts by status, the grid (axes and fixed settings of
its latest session), a table of every metric averaged over seeds, the failed runs with
the last line of their error, and figures — a phase diagram of each metric over the two
axes with the most values (a line plot when only one axis varies) and the curves of a
few runs.  The store is only read.
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from ..validation import integer
from .store import STATUSES, Store, check_store

#: Columns of Store.to_frame that are bookkeeping, not metrics.
_BOOK = ("key", "sweep", "status", "attempts", "seconds", "cpu_seconds", "error")
MAX_METRIC_FIGURES = 6
MAX_CURVES = 12


def _utc(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fmt(v) -> str:
    if isinstance(v, float | np.floating):
        return "–" if not math.isfinite(v) else f"{v:.4g}"
    return str(v)


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(_fmt(v) for v in r) + " |" for r in rows]
    return out + [""]


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in s)


def _positive_spread(v: np.ndarray) -> bool:
    v = v.astype(float)
    return bool(np.all(v > 0) and v.max() / v.min() >= 4)


def write_report(store, out=None, *, max_rows: int = 200) -> Path:
    """Write ``report.md`` and its PNGs into ``out`` (default ``STORE-report/`` beside the
    store) and return the path of ``report.md``."""
    store = Path(store)
    if check_store(store) is None:
        raise ParameterError("store", str(store), "does not exist")
    max_rows = integer("max_rows", max_rows, minimum=1)
    out = Path(out) if out is not None else store.with_name(store.stem + "-report")
    if out.exists() and not out.is_dir():
        raise ParameterError("out", str(out), "exists and is not a folder")
    with Store(store) as st:
        meta, sessions = st.meta(), st.sessions()
        df = st.to_frame()
        if not len(df):
            raise ParameterError(
                "store", str(store), "holds no runs: there is nothing to report (run a sweep)"
            )
        settings = {n: st.sweep_settings(n) for n in st.sweep_names()}
        out.mkdir(parents=True, exist_ok=True)
        lines = [
            f"# Sweep report: `{store.name}`",
            "",
            f"Store schema {meta.get('schema_version')}, created by sgdnoise "
            f"{meta.get('created_by')} on {_utc(float(meta.get('created', 0)))}; "
            f"{len(df)} runs, {len(sessions)} sessions.",
            "",
        ]
        if sessions:
            lines += ["## Sessions", ""]
            lines += _table(
                ["id", "started", "sweep", "executor", "workers", "python", "numpy", "sgdnoise"],
                [
                    [
                        s["id"],
                        _utc(s["started"]),
                        s["spec"].get("name"),
                        s["executor"],
                        s["workers"],
                        s["versions"].get("python"),
                        s["versions"].get("numpy"),
                        s["versions"].get("sgdnoise"),
                    ]
                    for s in sessions
                ],
            )
        for sweep in sorted(df["sweep"].unique()) if len(df) else []:
            spec = next((s["spec"] for s in reversed(sessions) if s["spec"]["name"] == sweep), {})
            sub = df[df["sweep"] == sweep].dropna(axis=1, how="all")
            done = sub[sub["status"].isin(["done", "diverged"])]
            keys = done["key"].head(MAX_CURVES).tolist()
            curves_of = {k: st.curves(k) for k in keys}
            lines += _variant_note(sweep, settings)
            lines += _sweep_section(sweep, spec, sub, curves_of, out, max_rows)
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _variant_note(sweep: str, settings: dict) -> list[str]:
    """For a variant ``NAME@k`` (the same sweep name run with other fixed settings, kept
    apart): the settings in which it differs from ``NAME``."""
    base = sweep.split("@")[0]
    mine, theirs = settings.get(sweep), settings.get(base)
    if base == sweep or not mine or not theirs:
        return []
    diff = [
        f"`{k}`: {theirs['fixed'].get(k, 'not set')!r} → {mine['fixed'].get(k, 'not set')!r}"
        for k in sorted(set(mine["fixed"]) | set(theirs["fixed"]))
        if mine["fixed"].get(k, "not set") != theirs["fixed"].get(k, "not set")
    ]
    if mine["function"] != theirs["function"]:
        diff.insert(0, f"function: {theirs['function']} → {mine['function']}")
    return [
        f"> `{sweep}` is sweep `{base}` run again with other fixed settings, kept apart: "
        + "; ".join(diff),
        "",
    ]


def _sweep_section(sweep, spec, sub, curves_of, out: Path, max_rows: int) -> list[str]:
    from . import plots

    lines = [f"## Sweep `{sweep}`", ""]
    if spec.get("description"):
        lines += [spec["description"], ""]
    lines += [f"Function: `{spec.get('function', sub.get('function', '?'))}`", ""]
    counts = sub["status"].value_counts()
    lines += _table(list(STATUSES), [[int(counts.get(s, 0)) for s in STATUSES]])
    axes = [a for a in spec.get("product", {})] + [
        a for g in spec.get("zip", []) for a in g if a in sub.columns
    ]
    axes = [a for a in axes if a in sub.columns]
    if spec.get("fixed"):
        lines += ["Fixed: " + ", ".join(f"`{k}={v}`" for k, v in spec["fixed"].items()), ""]
    if axes:
        lines += [
            "Axes: " + ", ".join(f"`{a}` ({sub[a].nunique()} values)" for a in axes),
            "",
        ]
    params = set(spec.get("fixed", {})) | set(axes)
    metrics = [
        c
        for c in sub.columns
        if c not in _BOOK
        and c not in params
        and np.issubdtype(sub[c].dtype, np.number)
        and np.isfinite(sub[c].to_numpy(float)).any()
    ]
    seed = "seed" if "seed" in axes else None
    group_axes = [a for a in axes if a != seed]
    ok = sub[sub["status"].isin(["done", "diverged"])]
    if metrics and len(ok):
        if group_axes:
            agg = ok.groupby(group_axes, sort=True)[metrics].mean().reset_index()
            grouped = ok.groupby(group_axes, sort=True)["status"]
            n = grouped.size().to_numpy()
            n_div = grouped.agg(lambda s: int((s == "diverged").sum())).to_numpy()
            header = [*group_axes, *metrics, "n", "diverged"]
            rows = [
                [*r, k, dv]
                for r, k, dv in zip(agg[group_axes + metrics].to_numpy(object), n, n_div)
            ]
        else:
            header, rows = metrics, ok[metrics].to_numpy(object).tolist()
        note = f" (mean over {seed} of the finite values)" if seed else ""
        lines += [f"### Metrics{note}", ""]
        if len(rows) > max_rows:
            lines += [f"First {max_rows} of {len(rows)} rows.", ""]
        lines += _table(header, [list(r) for r in rows[:max_rows]])
    failed = sub[sub["status"] == "failed"]
    if len(failed):
        lines += [f"### Failed runs ({len(failed)})", ""]
        lines += _table(
            [*axes, "error"],
            [
                [*(r[a] for a in axes), (str(r["error"]).strip().splitlines() or ["?"])[-1][:160]]
                for _, r in failed.head(10).iterrows()
            ],
        )
    numeric = [
        a for a in group_axes if np.issubdtype(sub[a].dtype, np.number) and sub[a].nunique() > 1
    ]
    numeric.sort(key=lambda a: -sub[a].nunique())
    figs = []
    for m in metrics[:MAX_METRIC_FIGURES]:
        if len(numeric) >= 2:
            x, y = numeric[0], numeric[1]
            fig = plots.phase_diagram(
                ok,
                x,
                y,
                m,
                logx=_positive_spread(sub[x].to_numpy()),
                logy=_positive_spread(sub[y].to_numpy()),
            )
        elif len(numeric) == 1:
            fig = plots.line_plot(
                ok, numeric[0], m, logx=_positive_spread(sub[numeric[0]].to_numpy())
            )
        else:
            continue
        name = f"{_slug(sweep)}-{_slug(m)}.png"
        fig.savefig(out / name, dpi=100, bbox_inches="tight")
        figs.append(name)
    if curves_of:
        first = next((n for c in curves_of.values() for n in c), None)
        if first is not None:
            labels = {}
            by_key = sub.set_index("key")
            for k, c in curves_of.items():
                if first in c:
                    lab = ", ".join(f"{a}={_fmt(by_key.loc[k, a])}" for a in axes) or k[:8]
                    labels[lab] = c[first]
            fig = plots.curves_plot(
                labels, ylabel=first, title=f"{first} (first {len(labels)} runs)"
            )
            name = f"{_slug(sweep)}-curves-{_slug(first)}.png"
            fig.savefig(out / name, dpi=100, bbox_inches="tight")
            figs.append(name)
    if figs:
        lines += ["### Figures", ""]
        lines += [f"![{f}]({f})\n" for f in figs]
    return lines
