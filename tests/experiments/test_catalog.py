"""The claim catalog (sgdnoise/experiments/_catalog.py) is what ``sgdnoise list`` shows
without importing any claim: it must equal what the claim modules register."""

from __future__ import annotations

import json
import subprocess
import sys

from sgdnoise.experiments._catalog import DATASETS, SCALES, entries
from sgdnoise.experiments.registry import PAPERS, all_claims

HEAVY = ("numba", "sympy", "torch", "matplotlib", "scipy")


def test_catalog_equals_the_registered_claims():
    cat = entries()
    reg = all_claims()  # imports every claim module
    missing = sorted(set(reg) - set(cat))
    assert not missing, (
        f"claims {missing} are registered with @claim but have no Entry line in "
        "sgdnoise/experiments/_catalog.py: add one (id, paper, module, statement, data) so "
        "that `sgdnoise list` and `sgdnoise reproduce` know them"
    )
    stale = sorted(set(cat) - set(reg))
    assert not stale, f"catalog entries {stale} name claims no module registers"
    for cid, e in cat.items():
        c = reg[cid]
        got = (c.paper, c.statement, tuple(c.scales), c.run.__module__)
        want = (e.paper, e.statement, tuple(e.scales), e.module_path)
        assert got == want, f"claim {cid}: registered {got} but catalogued {want}"


def test_catalog_entries_are_well_formed():
    for e in entries().values():
        assert e.paper in PAPERS and e.statement and set(e.scales) <= set(SCALES), e
        assert set(e.data) <= set(e.scales), e
        assert all(set(d) <= set(DATASETS) for d in e.data.values()), e


def test_list_imports_no_heavy_module(repo_root):
    code = (
        "import sys, json; from sgdnoise.cli import main; main(['list', '--json']); "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True
    )
    *listing, heavy = proc.stdout.strip().splitlines()
    assert json.loads(heavy) == [], f"`sgdnoise list` imported {heavy}"
    assert [c["id"] for c in json.loads("\n".join(listing))] == list(entries())
