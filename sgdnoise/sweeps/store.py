"""The results store: one SQLite file per study (DESIGN.md §6).

Tables (schema version :data:`SCHEMA_VERSION`, recorded in ``meta``):

* ``meta(key, value)``: ``schema_version``, ``created_by`` (sgdnoise version), ``created``;
* ``sessions(id, started, spec, executor, workers, versions)``: one row per sweep
  invocation, with the spec it ran and the package versions of the coordinator;
* ``runs(key PRIMARY KEY, sweep, function, config, status, metrics, error, attempts,
  seconds, cpu_seconds, worker, session, created, started, finished)``: one row per grid
  point, keyed by the SHA-256 of its function and full canonical config
  (:func:`sgdnoise.sweeps.spec.run_key`); ``config``/``metrics`` are JSON; a run that two
  specs share keeps the ``sweep`` name of the first one that created it;
* ``curves(key, name, x, y)``: per-run curves, x and y as little-endian float64 blobs;
* ``sweeps(name, function, fixed, created)``: each sweep name's worker and fixed settings
  (resolved: the worker's defaults included), so that a later run of the same name with
  another setting is refused (or kept apart as a variant) instead of merged (issue 16).

Schema 1 (before run keys were by worker name and resolved parameters) is migrated in
place by the next sweep that writes to the store (:meth:`Store.migrate`): every run is
re-keyed, its curves with it, in one transaction; readers open either version.

Why this survives ``kill -9``: the file is in WAL mode and every state change is one
transaction (a run's metrics, status and curves are committed together), so a kill leaves
each run either as it was or fully updated; the primary key makes a doubled record
impossible; runs found ``running`` by the next sweep were in flight when the coordinator
died and are simply run again.  Only the coordinating process writes (workers return
outcomes to it), and an advisory lock on ``FILE.lock`` keeps a second coordinator out.

A store whose ``schema_version`` is not this one, or a file that is not a sgdnoise store,
is refused with :class:`ParameterError` before anything is written to it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from ..provenance import versions as _versions
from .spec import canonical_json

SCHEMA_VERSION = 2
#: Versions this code opens (older ones are migrated by the next writer).
READABLE_VERSIONS = (1, 2)
STATUSES = ("pending", "running", "done", "failed", "diverged")
#: Statuses that are results: a resumed sweep skips these and re-runs everything else.
FINAL = ("done", "diverged")
_VERSIONED = ("sgdnoise", "numpy", "scipy", "pandas", "dask", "distributed", "torch", "numba")

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL NOT NULL,
    spec TEXT NOT NULL,
    executor TEXT NOT NULL,
    workers INTEGER,
    versions TEXT NOT NULL
);
CREATE TABLE runs(
    key TEXT PRIMARY KEY,
    sweep TEXT NOT NULL,
    function TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL CHECK(status IN ('pending','running','done','failed','diverged')),
    metrics TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    seconds REAL,
    cpu_seconds REAL,
    worker TEXT,
    session INTEGER REFERENCES sessions(id),
    created REAL NOT NULL,
    started REAL,
    finished REAL
);
CREATE INDEX runs_status ON runs(status);
CREATE INDEX runs_sweep ON runs(sweep);
CREATE TABLE curves(
    key TEXT NOT NULL REFERENCES runs(key),
    name TEXT NOT NULL,
    x BLOB NOT NULL,
    y BLOB NOT NULL,
    PRIMARY KEY(key, name)
);
CREATE TABLE sweeps(
    name TEXT PRIMARY KEY,
    function TEXT NOT NULL,
    fixed TEXT NOT NULL,
    created REAL NOT NULL
);
"""
_SWEEPS_TABLE = _SCHEMA[_SCHEMA.index("CREATE TABLE sweeps") :]


def versions() -> dict[str, str]:
    """Python and package versions of the coordinator."""
    return _versions(_VERSIONED)


def _blob(a) -> bytes:
    return np.asarray(a, dtype="<f8").tobytes()


def _unblob(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<f8").copy()


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    else:
        con = sqlite3.connect(path, timeout=30)
    con.execute("PRAGMA foreign_keys=ON")
    return con


def check_store(path) -> int | None:
    """The schema version of an existing store (``None`` when ``path`` does not exist).

    Opens read-only, writes nothing; raises :class:`ParameterError` when the file is not a
    sgdnoise store or was written with a schema version this code cannot read.
    """
    path = Path(path)
    if not path.exists():
        return None
    if not path.is_file():
        raise ParameterError("store", str(path), "exists and is not a file")
    try:
        con = _connect(path, readonly=True)
        try:
            rows = con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            tables = {r[0] for r in rows}
            if "meta" not in tables:
                raise ParameterError("store", str(path), "is not a sgdnoise results store")
            meta = dict(con.execute("SELECT key, value FROM meta"))
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        raise ParameterError("store", str(path), f"is not a readable SQLite file ({e})") from None
    version = meta.get("schema_version")
    if version not in {str(v) for v in READABLE_VERSIONS}:
        raise ParameterError(
            "store",
            str(path),
            f"was written with store schema {version} by sgdnoise {meta.get('created_by', '?')};"
            f" this sgdnoise reads schema {SCHEMA_VERSION} (and migrates "
            f"{', '.join(str(v) for v in READABLE_VERSIONS[:-1])}): use a new store file or "
            "the sgdnoise version that wrote it",
        )
    return int(version)


class Store:
    """A study's results file.  ``Store(path)`` opens for reading; :meth:`create_or_open`
    for the coordinator that writes.  Use as a context manager or call :meth:`close`."""

    def __init__(self, path, *, _writable: bool = False):
        self.path = Path(path)
        self.schema = check_store(self.path)
        if self.schema is None:
            raise ParameterError("store", str(self.path), "does not exist")
        self.writable = _writable
        self.con = _connect(self.path, readonly=not _writable)
        if _writable:
            # NORMAL is durable against a process kill in WAL mode (only an OS crash may drop
            # the last commits), and keeps a commit per finished run cheap.
            self.con.execute("PRAGMA synchronous=NORMAL")
        self._lock_fh = None

    @classmethod
    def create_or_open(cls, path) -> Store:
        """Open ``path`` for writing, creating an empty store there when it does not exist."""
        path = Path(path)
        if check_store(path) is None:
            if not path.parent.is_dir():
                raise ParameterError("store", str(path), "its folder does not exist")
            from .. import __version__

            tmp = path.with_name(path.name + f".creating-{os.getpid()}")
            tmp.unlink(missing_ok=True)
            con = sqlite3.connect(tmp)
            con.executescript(_SCHEMA)
            con.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("created_by", __version__),
                    ("created", str(time.time())),
                ],
            )
            con.commit()
            con.execute("PRAGMA journal_mode=WAL")
            con.close()
            # The store appears complete or not at all, even if we are killed right here.
            os.replace(tmp, path)
        return cls(path, _writable=True)

    # -------------------------------------------------------------- locking (one writer)

    def lock(self) -> None:
        """Take the advisory writer lock (released by the OS if this process dies)."""
        import fcntl

        fh = open(self.path.with_name(self.path.name + ".lock"), "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise ParameterError(
                "store", str(self.path), "is being written by another sweep right now"
            ) from None
        self._lock_fh = fh

    def close(self) -> None:
        self.con.close()
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -------------------------------------------------------------- coordinator writes

    def begin_session(self, spec: Mapping, executor: str, workers: int | None) -> int:
        with self.con:
            cur = self.con.execute(
                "INSERT INTO sessions(started, spec, executor, workers, versions) "
                "VALUES (?, ?, ?, ?, ?)",
                (time.time(), canonical_json(spec), executor, workers, json.dumps(versions())),
            )
        return int(cur.lastrowid)

    def add_runs(self, sweep: str, function: str, keyed_configs: Iterable[tuple[str, dict]]):
        """Insert the grid's runs as ``pending``; existing keys are left untouched."""
        now = time.time()
        with self.con:
            self.con.executemany(
                "INSERT OR IGNORE INTO runs(key, sweep, function, config, status, created) "
                "VALUES (?, ?, ?, ?, 'pending', ?)",
                [(k, sweep, function, canonical_json(c), now) for k, c in keyed_configs],
            )

    def statuses(self, keys: Iterable[str] | None = None) -> dict[str, str]:
        rows = self.con.execute("SELECT key, status FROM runs").fetchall()
        out = dict(rows)
        if keys is not None:
            out = {k: out[k] for k in keys if k in out}
        return out

    def mark_running(self, keys: list[str], session: int) -> None:
        now = time.time()
        with self.con:
            self.con.executemany(
                "UPDATE runs SET status='running', attempts=attempts+1, started=?, session=? "
                "WHERE key=?",
                [(now, session, k) for k in keys],
            )

    def record(self, outcome: Mapping, session: int) -> None:
        """Commit one outcome: status, metrics and curves in a single transaction."""
        key = outcome["key"]
        with self.con:
            self.con.execute(
                "UPDATE runs SET status=?, metrics=?, error=?, seconds=?, cpu_seconds=?, "
                "worker=?, session=?, finished=? WHERE key=?",
                (
                    outcome["status"],
                    json.dumps(outcome["metrics"]),
                    outcome.get("error"),
                    outcome.get("seconds"),
                    outcome.get("cpu_seconds"),
                    outcome.get("worker"),
                    session,
                    time.time(),
                    key,
                ),
            )
            self.con.execute("DELETE FROM curves WHERE key=?", (key,))
            self.con.executemany(
                "INSERT INTO curves(key, name, x, y) VALUES (?, ?, ?, ?)",
                [(key, n, _blob(x), _blob(y)) for n, (x, y) in outcome["curves"].items()],
            )

    def migrate(self, rekey) -> int:
        """Bring a schema-1 store to the current schema: ``rekey(function, config) ->
        (name, key)`` gives each run its new key (see :func:`sgdnoise.sweeps.spec.run_key`);
        runs and their curves move together in one transaction.  Two old runs that are one
        run now (a default spelled out in one) keep the one with a result.  Returns the
        number of runs re-keyed (0 for a current store).  The ``sweeps`` table starts
        empty: each name's settings are recorded by its next run."""
        if self.schema == SCHEMA_VERSION:
            return 0
        rows = self.con.execute(
            "SELECT key, function, config, status FROM runs ORDER BY rowid"
        ).fetchall()
        kept: dict[str, tuple[str, str]] = {}  # new key -> (old key, status)
        moves, drops = [], []
        for old, function, config, status in rows:
            name, new = rekey(function, json.loads(config))
            if new in kept:
                other, other_status = kept[new]
                if other_status not in FINAL and status in FINAL:
                    drops.append(other)
                    moves = [m for m in moves if m[2] != other]
                else:
                    drops.append(old)
                    continue
            kept[new] = (old, status)
            moves.append((new, name, old))
        with self.con:
            self.con.execute("PRAGMA defer_foreign_keys=ON")
            for k in drops:
                self.con.execute("DELETE FROM curves WHERE key=?", (k,))
                self.con.execute("DELETE FROM runs WHERE key=?", (k,))
            # via temporary keys, so that a new key equal to another run's old key is safe
            for new, _, old in moves:
                self.con.execute("UPDATE runs SET key=? WHERE key=?", ("~" + new, old))
                self.con.execute("UPDATE curves SET key=? WHERE key=?", ("~" + new, old))
            for new, name, _ in moves:
                self.con.execute(
                    "UPDATE runs SET key=?, function=? WHERE key=?", (new, name, "~" + new)
                )
                self.con.execute("UPDATE curves SET key=? WHERE key=?", (new, "~" + new))
            self.con.execute(_SWEEPS_TABLE.strip().rstrip(";"))
            self.con.execute(
                "UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),)
            )
        self.schema = SCHEMA_VERSION
        return len(moves)

    def sweep_settings(self, name: str) -> dict | None:
        """``{"function", "fixed"}`` recorded for sweep ``name`` (None when unknown)."""
        if self.schema < 2:
            return None
        row = self.con.execute("SELECT function, fixed FROM sweeps WHERE name=?", (name,))
        row = row.fetchone()
        return None if row is None else {"function": row[0], "fixed": json.loads(row[1])}

    def sweep_names(self) -> list[str]:
        """Every sweep name recorded in the store."""
        if self.schema < 2:
            return sorted({r[0] for r in self.con.execute("SELECT DISTINCT sweep FROM runs")})
        return [r[0] for r in self.con.execute("SELECT name FROM sweeps ORDER BY created")]

    def record_sweep(self, name: str, function: str, fixed: Mapping) -> None:
        """Remember sweep ``name``'s worker and fixed settings (first run of the name)."""
        with self.con:
            self.con.execute(
                "INSERT OR IGNORE INTO sweeps VALUES (?, ?, ?, ?)",
                (name, function, canonical_json(dict(fixed)), time.time()),
            )

    # -------------------------------------------------------------- reading

    def meta(self) -> dict[str, str]:
        return dict(self.con.execute("SELECT key, value FROM meta"))

    def sessions(self) -> list[dict]:
        rows = self.con.execute(
            "SELECT id, started, spec, executor, workers, versions FROM sessions ORDER BY id"
        ).fetchall()
        return [
            {
                "id": r[0],
                "started": r[1],
                "spec": json.loads(r[2]),
                "executor": r[3],
                "workers": r[4],
                "versions": json.loads(r[5]),
            }
            for r in rows
        ]

    def counts(self, sweep: str | None = None) -> dict[str, int]:
        """Number of runs per status (every status present, zeros included)."""
        q = "SELECT status, COUNT(*) FROM runs"
        args: tuple = ()
        if sweep is not None:
            q, args = q + " WHERE sweep=?", (sweep,)
        got = dict(self.con.execute(q + " GROUP BY status", args).fetchall())
        return {s: int(got.get(s, 0)) for s in STATUSES}

    def runs(self, *, sweep: str | None = None, status: str | Iterable[str] | None = None):
        """Run records as dicts with ``config`` and ``metrics`` decoded."""
        q = (
            "SELECT key, sweep, function, config, status, metrics, error, attempts, seconds, "
            "cpu_seconds, worker, session, created, started, finished FROM runs"
        )
        where, args = [], []
        if sweep is not None:
            where.append("sweep=?")
            args.append(sweep)
        if status is not None:
            sts = [status] if isinstance(status, str) else list(status)
            bad = [s for s in sts if s not in STATUSES]
            if bad:
                raise ParameterError("status", bad[0], f"must be one of {STATUSES}")
            where.append(f"status IN ({','.join('?' * len(sts))})")
            args += sts
        if where:
            q += " WHERE " + " AND ".join(where)
        cols = (
            "key sweep function config status metrics error attempts seconds cpu_seconds "
            "worker session created started finished"
        ).split()
        out = []
        for row in self.con.execute(q + " ORDER BY rowid", args):
            r = dict(zip(cols, row))
            r["config"] = json.loads(r["config"])
            r["metrics"] = json.loads(r["metrics"]) if r["metrics"] else {}
            out.append(r)
        return out

    def curves(self, key: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        rows = self.con.execute("SELECT name, x, y FROM curves WHERE key=? ORDER BY name", (key,))
        return {n: (_unblob(x), _unblob(y)) for n, x, y in rows}

    def to_frame(self, *, sweep: str | None = None, status=None):
        """A pandas DataFrame: one row per run; config values and metrics as columns.

        Columns: ``key, sweep, status``, then each config parameter, then each metric (a
        metric whose name is also a parameter gets the prefix ``metric_``), then
        ``attempts, seconds, cpu_seconds, error``.
        """
        import pandas as pd

        recs = self.runs(sweep=sweep, status=status)
        params: dict[str, None] = {}
        metrics: dict[str, None] = {}
        for r in recs:
            params.update(dict.fromkeys(r["config"]))
            metrics.update(dict.fromkeys(r["metrics"]))
        mcol = {m: (f"metric_{m}" if m in params or m in _FIXED_COLS else m) for m in metrics}
        rows = []
        for r in recs:
            row = {"key": r["key"], "sweep": r["sweep"], "status": r["status"]}
            row.update({p: r["config"].get(p) for p in params})
            row.update({mcol[m]: r["metrics"].get(m, np.nan) for m in metrics})
            row.update({c: r[c] for c in ("attempts", "seconds", "cpu_seconds", "error")})
            rows.append(row)
        cols = ["key", "sweep", "status", *params, *mcol.values(), *_TAIL_COLS]
        return pd.DataFrame(rows, columns=cols)

    def curves_frame(self, *, sweep: str | None = None):
        """Long-format DataFrame of every curve: ``key, name, x, y`` plus config columns."""
        import pandas as pd

        recs = {r["key"]: r for r in self.runs(sweep=sweep)}
        frames = []
        for key, name, xb, yb in self.con.execute("SELECT key, name, x, y FROM curves"):
            if key not in recs:
                continue
            x, y = _unblob(xb), _unblob(yb)
            f = pd.DataFrame({"key": key, "name": name, "x": x, "y": y})
            for p, v in recs[key]["config"].items():
                f[p] = v
            frames.append(f)
        if not frames:
            return pd.DataFrame(columns=["key", "name", "x", "y"])
        return pd.concat(frames, ignore_index=True)

    def integrity_check(self) -> str:
        return self.con.execute("PRAGMA integrity_check").fetchone()[0]


_TAIL_COLS = ("attempts", "seconds", "cpu_seconds", "error")
_FIXED_COLS = {"key", "sweep", "status", *_TAIL_COLS}
