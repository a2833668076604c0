"""A corpus of bad inputs through the command line (issue 16): each one exits 2 with ONE
line on stderr that names the parameter, no traceback, and leaves the folder it ran in
exactly as it was (no output folder, no ``runs/…partial``, no store, no store change).

Everything runs in-process through :func:`sgdnoise.cli.main` (fast: no training, no numba
compilation); data files are made small and corrupt in ``tmp_path``.  The malicious CIFAR
pickle must be refused without running its code.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import sqlite3
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from sgdnoise.cli import main
from sgdnoise.sweeps.store import Store

BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def cifar_batch(n: int = 4, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    d = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": list(range(n))}
    return pickle.dumps(d, protocol=2)


def cifar_folder(root: Path, replace: dict[str, bytes] | None = None) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i, name in enumerate(BATCHES):
        (folder / name).write_bytes((replace or {}).get(name, cifar_batch(seed=i)))
    return root


def cifar_tarball(path: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i, name in enumerate(BATCHES):
            raw = cifar_batch(seed=i)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


class Evil:
    """A pickle that would run a shell command when loaded by plain ``pickle``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def idx(ndim: int, shape: tuple, payload: bytes) -> bytes:
    return bytes([0, 0, 8, ndim]) + struct.pack(f">{ndim}I", *shape) + payload


def mnist_folder(root: Path, images: bytes | None = None) -> Path:
    root.mkdir(parents=True)
    n = 3
    files = {
        "train-images-idx3-ubyte": images or idx(3, (n, 28, 28), bytes(n * 784)),
        "train-labels-idx1-ubyte": idx(1, (n,), bytes(n)),
        "t10k-images-idx3-ubyte": idx(3, (n, 28, 28), bytes(n * 784)),
        "t10k-labels-idx1-ubyte": idx(1, (n,), bytes(n)),
    }
    for name, raw in files.items():
        (root / name).write_bytes(raw)
    return root


SPEC = """name = "c"
function = "noisy-quadratic"
[fixed]
steps = 20
dim = 2
[product]
lr = [0.01, 0.02]
batch = [2]
"""


def spec_file(tmp: Path, text: str = SPEC, **replace) -> str:
    for k, v in replace.items():
        text = text.replace(k, v)
    p = tmp / "spec.toml"
    p.write_text(text)
    return str(p)


def store_with_runs(tmp: Path) -> str:
    """A store that has run sweep "c" with steps = 20 (written through the Store API, no
    worker processes)."""
    from sgdnoise.sweeps.runner import fixed_settings
    from sgdnoise.sweeps.spec import load_spec, run_key

    spec = load_spec(spec_file(tmp))
    path = tmp / "s.db"
    with Store.create_or_open(path) as st:
        name, fixed = fixed_settings(spec)
        st.record_sweep(spec.name, name, fixed)
        st.add_runs(spec.name, name, [(run_key(spec.function, c), c) for c in spec.configs()])
    return str(path)


def user_module(tmp: Path) -> str:
    (tmp / "mods").mkdir()
    (tmp / "mods" / "h3_userfns.py").write_text(
        "def f(x: int, data_dir: str = ''):\n    return {'x': float(x)}\n"
    )
    return str(tmp / "mods")


def p19(data: str, *more: str) -> list[str]:
    return ["reproduce", "p19-width", "--data-dir", data, "--no-progress", *more]


def sgw(data: str) -> list[str]:
    return ["reproduce", "sgw23-tc", "--data-dir", data, "--no-progress"]


def _mk(tmp: Path, name: str) -> str:
    (tmp / name).mkdir()
    return str(tmp / name)


def _file(tmp: Path, name: str, text: str = "x") -> str:
    (tmp / name).write_text(text)
    return str(tmp / name)


def _truncated_tar(tmp):
    raw = cifar_tarball(tmp / "d" / "cifar-10-python.tar.gz")
    (tmp / "d" / "cifar-10-python.tar.gz").write_bytes(raw[: len(raw) // 2])
    return p19(str(tmp / "d"))


def _flipped_tar(tmp):
    raw = bytearray(cifar_tarball(tmp / "d" / "cifar-10-python-subset.tar.gz"))
    raw[len(raw) // 2] ^= 0x10
    (tmp / "d" / "cifar-10-python-subset.tar.gz").write_bytes(bytes(raw))
    return p19(str(tmp / "d"))


def _malicious(tmp):
    evil = pickle.dumps({"data": Evil(tmp / "PWNED"), "labels": []}, protocol=2)
    return p19(str(cifar_folder(tmp / "d", {"data_batch_1": evil})))


def _truncated_batch(tmp):
    return p19(str(cifar_folder(tmp / "d", {"test_batch": cifar_batch()[:100]})))


def _wrong_shape_batch(tmp):
    bad = pickle.dumps({"data": np.zeros((2, 5), np.uint8), "labels": [0, 1]}, protocol=2)
    return p19(str(cifar_folder(tmp / "d", {"data_batch_2": bad})))


def _bad_labels_batch(tmp):
    bad = pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 12]}, protocol=2)
    return p19(str(cifar_folder(tmp / "d", {"data_batch_3": bad})))


def _missing_batch(tmp):
    root = cifar_folder(tmp / "d")
    (root / "cifar-10-batches-py" / "test_batch").unlink()
    return p19(str(root))


def _not_a_pickle(tmp):
    return p19(str(cifar_folder(tmp / "d", {"data_batch_4": b"hello, not a pickle"})))


def _mnist_truncated(tmp):
    return sgw(str(mnist_folder(tmp / "m", idx(3, (3, 28, 28), bytes(100)))))


def _mnist_bad_magic(tmp):
    return sgw(str(mnist_folder(tmp / "m", b"\x01\x02\x08\x03" + bytes(12))))


def _mnist_bad_gzip(tmp):
    root = mnist_folder(tmp / "m")
    (root / "t10k-labels-idx1-ubyte").unlink()
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"abc")[:10])
    return sgw(str(root))


def _out_has_result(tmp):
    _mk(tmp, "o")
    _file(tmp / "o", "result.json", "{}")
    return ["reproduce", "bg21-stationary", "--out", str(tmp / "o")]


def _changed_fixed(tmp):
    store = store_with_runs(tmp)
    return ["sweep", spec_file(tmp, **{"steps = 20": "steps = 40"}), "--store", store]


def _unknown_schema(tmp):
    store = store_with_runs(tmp)
    with sqlite3.connect(store) as con:
        con.execute("UPDATE meta SET value='7' WHERE key='schema_version'")
    con.close()
    return ["sweep", spec_file(tmp), "--store", store]


def _user_data_dir(tmp, monkeypatch):
    monkeypatch.syspath_prepend(user_module(tmp))
    text = 'function = "h3_userfns:f"\n[fixed]\ndata_dir = "/no/such/folder"\n[product]\nx = [1]\n'
    return ["sweep", spec_file(tmp, text), "--store", str(tmp / "s.db")]


def _empty_store_report(tmp):
    Store.create_or_open(tmp / "e.db").close()
    return ["report", str(tmp / "e.db"), "--out", str(tmp / "rep")]


def sweep(tmp, **replace):
    return ["sweep", spec_file(tmp, **replace), "--store", str(tmp / "s.db")]


# (id, needle the line must contain, argv builder)
CASES = [
    # ------------------------------------------------------------ reproduce: arguments
    ("claim-unknown", "claim", lambda t: ["reproduce", "no-such-claim"]),
    ("claim-empty", "claim", lambda t: ["reproduce", ""]),
    ("scale", "scale", lambda t: ["reproduce", "bg21-stationary", "--scale", "huge"]),
    ("device", "device", lambda t: ["reproduce", "bg21-stationary", "--device", "tpu"]),
    ("seed-negative", "seed", lambda t: ["reproduce", "bg21-stationary", "--seed", "-3"]),
    ("seed-huge", "seed", lambda t: ["reproduce", "bg21-stationary", "--seed", str(2**64)]),
    ("seed-text", "--seed", lambda t: ["reproduce", "bg21-stationary", "--seed", "abc"]),
    ("all-seed", "seed", lambda t: ["reproduce", "all", "--seed", "-1"]),
    ("data-dir-missing", "data_dir", lambda t: p19(str(t / "nope"))),
    ("data-dir-file", "data_dir", lambda t: p19(_file(t, "f.txt"))),
    ("out-is-file", "out", lambda t: ["reproduce", "bg21-stationary", "--out", _file(t, "o")]),
    ("out-has-result", "out", _out_has_result),
    ("all-out-is-file", "out", lambda t: ["reproduce", "all", "--out", _file(t, "o")]),
    # ------------------------------------------------------------ reproduce: data files
    ("cifar-empty-folder", "data_dir", lambda t: p19(_mk(t, "d"))),
    ("cifar-truncated-tarball", "data_dir", _truncated_tar),
    ("cifar-bitflipped-tarball", "data_dir", _flipped_tar),
    ("cifar-malicious-pickle", "data_dir", _malicious),
    ("cifar-truncated-batch", "data_dir", _truncated_batch),
    ("cifar-wrong-shape", "data_dir", _wrong_shape_batch),
    ("cifar-bad-labels", "data_dir", _bad_labels_batch),
    ("cifar-missing-batch", "data_dir", _missing_batch),
    ("cifar-not-a-pickle", "data_dir", _not_a_pickle),
    ("mnist-empty-folder", "data_dir", lambda t: sgw(_mk(t, "m"))),
    ("mnist-truncated-idx", "data_dir", _mnist_truncated),
    ("mnist-bad-magic", "data_dir", _mnist_bad_magic),
    ("mnist-bad-gzip", "data_dir", _mnist_bad_gzip),
    # ------------------------------------------------------------ sweep: spec
    ("spec-missing", "spec", lambda t: ["sweep", str(t / "none.toml"), "--store", "s.db"]),
    ("spec-not-toml", "spec", lambda t: sweep(t, **{'name = "c"': "name = = c"})),
    ("spec-unknown-key", "spec key", lambda t: sweep(t, **{'name = "c"': 'colour = "red"'})),
    ("function-unknown", "function", lambda t: sweep(t, **{"noisy-quadratic": "nope-fn"})),
    ("function-no-module", "function", lambda t: sweep(t, **{"noisy-quadratic": "zz_no_mod:f"})),
    ("function-no-attr", "function", lambda t: sweep(t, **{"noisy-quadratic": "os:nope_fn"})),
    ("parameter-unknown", "momentum", lambda t: sweep(t, **{"dim = 2": "momentum = 0.9"})),
    ("parameter-required", "batch", lambda t: sweep(t, **{"batch = [2]": ""})),
    ("parameter-twice", "steps", lambda t: sweep(t, **{"batch = [2]": "batch = [2]\nsteps=[1]"})),
    ("axis-empty", "product.lr", lambda t: sweep(t, **{"[0.01, 0.02]": "[]"})),
    ("axis-repeated", "product.lr", lambda t: sweep(t, **{"[0.01, 0.02]": "[0.01, 0.01]"})),
    ("axis-nan", "product.lr", lambda t: sweep(t, **{"[0.01, 0.02]": "[nan]"})),
    ("axis-table", "product.lr", lambda t: sweep(t, **{"[0.01, 0.02]": "{ logspace = [1] }"})),
    (
        "geomspace-zero",
        "product.lr",
        lambda t: sweep(t, **{"[0.01, 0.02]": "{ geomspace = [0, 1, 2] }"}),
    ),
    ("range-step-zero", "product.batch", lambda t: sweep(t, **{"[2]": "{ range = [1, 4, 0] }"})),
    (
        "zip-unequal",
        "zip[0]",
        lambda t: sweep(t, **{"[product]": "[[zip]]\nseed = [0, 1]\nnoise = [0.1]\n[product]"}),
    ),
    ("name-empty", "name", lambda t: sweep(t, **{'name = "c"': 'name = ""'})),
    ("value-negative", "lr", lambda t: sweep(t, **{"[0.01, 0.02]": "[0.01, -0.02]"})),
    ("value-zero-steps", "steps", lambda t: sweep(t, **{"steps = 20": "steps = 0"})),
    ("value-list", "fixed.steps", lambda t: sweep(t, **{"steps = 20": "steps = [1, 2]"})),
    ("type-str-for-int", "fixed.steps", lambda t: sweep(t, **{"steps = 20": 'steps = "20"'})),
    ("type-float-for-int", "fixed.steps", lambda t: sweep(t, **{"steps = 20": "steps = 20.0"})),
    ("type-bool-for-float", "fixed.noise", lambda t: sweep(t, **{"dim = 2": "noise = true"})),
    ("memory-steps", "steps", lambda t: sweep(t, **{"steps = 20": "steps = 1000000000000"})),
    ("builtin-incomplete", "parameter", lambda t: sweep(t, **{"noisy-quadratic": "kcl23-run"})),
    ("data-dir-in-spec", "fixed.data_dir", None),  # needs monkeypatch: see below
    # ------------------------------------------------------------ sweep: options and stores
    ("workers-zero", "workers", lambda t: [*sweep(t), "--workers", "0"]),
    ("executor", "executor", lambda t: [*sweep(t), "--executor", "gpu"]),
    (
        "store-folder-missing",
        "store",
        lambda t: ["sweep", spec_file(t), "--store", str(t / "x" / "s.db")],
    ),
    (
        "store-not-sqlite",
        "store",
        lambda t: ["sweep", spec_file(t), "--store", _file(t, "s.db", "hi")],
    ),
    ("store-is-folder", "store", lambda t: ["sweep", spec_file(t), "--store", _mk(t, "sdir")]),
    ("store-unknown-schema", "store", _unknown_schema),
    ("store-changed-fixed", "fixed.steps", _changed_fixed),
    # ------------------------------------------------------------ report and list
    ("report-missing", "store", lambda t: ["report", str(t / "nope.db")]),
    ("report-empty-folder", "store", lambda t: ["report", _mk(t, "empty")]),
    ("report-empty-store", "store", _empty_store_report),
    ("report-not-sqlite", "store", lambda t: ["report", _file(t, "r.db", "hi")]),
    ("list-unknown-option", "--bogus", lambda t: ["list", "--bogus"]),
    ("no-command", "command", lambda t: []),
    ("unknown-command", "invalid choice", lambda t: ["frobnicate"]),
]


def _sqlite_reader_file(p: Path) -> bool:
    """The shared-memory index and an empty log that SQLite itself makes beside a WAL
    store when it is opened read-only: not data, and the store file is compared anyway."""
    return p.name.endswith("-shm") or (p.name.endswith("-wal") and p.stat().st_size == 0)


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): (
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        )
        for p in sorted(root.rglob("*"))
        if not _sqlite_reader_file(p)
    }


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, tmp_path, monkeypatch, capsys):
    name, needle, build = case
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SGDNOISE_DATA_DIR", raising=False)
    argv = _user_data_dir(tmp_path, monkeypatch) if build is None else build(tmp_path)
    before = snapshot(tmp_path)
    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's usage errors
        rc = e.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, f"{name}: exit {rc}\n{err}"
    assert len(lines) == 1 and "Traceback" not in err, f"{name}: {err}"
    assert lines[0].startswith("sgdnoise") and needle in lines[0], f"{name}: {lines[0]}"
    assert snapshot(tmp_path) == before, f"{name}: files were written or changed"
    assert not (tmp_path / "PWNED").exists()  # the malicious pickle ran nothing


def test_corpus_is_large_enough():
    assert len(CASES) >= 40
