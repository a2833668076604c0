"""The combined report lists every registered claim, marks what was not run, links results."""

import json

import pytest

from sgdnoise.cli import main
from sgdnoise.experiments import all_claims


def _fake(dirpath, claim, scale, verdict):
    dirpath.mkdir(parents=True)
    rec = {
        "claim": claim,
        "scale": scale,
        "verdict": verdict,
        "summary": f"{claim} says so",
        "metrics": {},
        "figures": [],
        "seconds": 1.0,
        "versions": {},
    }
    (dirpath / "result.json").write_text(json.dumps(rec))


def test_combined_report(tmp_path, capsys):
    claims = list(all_claims())
    _fake(tmp_path / "a" / claims[0], claims[0], "smoke", "agree")
    _fake(tmp_path / "b", claims[1], "cpu", "disagree")
    _fake(tmp_path / "c", "retired-claim", "smoke", "agree")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "result.json").write_text("{not json")
    assert main(["report", str(tmp_path)]) == 0
    text = (tmp_path / "REPORT.md").read_text()
    for cid in claims:
        assert f"`{cid}`" in text
    assert f"[agree](a/{claims[0]}/report.md)" in text
    assert "[disagree](b/report.md)" in text
    assert "not run" in text and "retired-claim" in text
    assert "report:" in capsys.readouterr().out


def test_report_of_missing_path_exits_2(tmp_path):
    assert main(["report", str(tmp_path / "nope.sqlite")]) == 2


@pytest.mark.slow
def test_reproduce_all_smoke_agrees_and_reports_every_claim(smoke_all, capsys):
    """`sgdnoise reproduce all --scale smoke` (run once by the fixture): every registered
    claim agrees, index.md lists each, and `sgdnoise report` over the folder gives the
    combined report with every claim's smoke verdict linked to its own report."""
    claims = list(all_claims())
    index = (smoke_all.root / "index.md").read_text()
    for cid in claims:
        rec, out = smoke_all[cid]
        assert rec["verdict"] == "agree", (cid, rec["summary"])
        # the verdict comes from a non-empty list of judged criteria, all supported
        assert rec["criteria"], cid
        assert {c["decision"] for c in rec["criteria"]} == {"supported"}, cid
        # the verdict is printed beside the summary: a summary repeating it read
        # "agree — agree: …" in REPORT.md
        assert not rec["summary"].lower().startswith(("agree", "disagree", "inconclusive")), cid
        assert rec["scale"] == "smoke" and (out / "report.md").is_file()
        assert f"[{cid}]({cid}/report.md) | smoke | agree" in index
    assert main(["report", str(smoke_all.root)]) == 0
    text = (smoke_all.root / "REPORT.md").read_text()
    for cid in claims:
        assert f"[agree]({cid}/report.md)" in text


def _catalogue_fake(monkeypatch):
    """The fake claim's catalog line (``reproduce`` and ``report`` read the catalog)."""
    from sgdnoise.experiments import _catalog

    entry = _catalog.Entry("fake-claim", "BG21", "no_module", "a statement", ("smoke",))
    monkeypatch.setattr(_catalog, "CLAIMS", (*_catalog.CLAIMS, entry))


def _judged_claim(monkeypatch, decisions):
    """Register, for this test only, a claim whose criteria end in ``decisions``."""
    import numpy as np

    from sgdnoise.experiments import registry
    from sgdnoise.experiments.criteria import Criterion, judge
    from sgdnoise.experiments.registry import Claim, ClaimResult

    data = {"supported": 0.5, "contradicted": 2.0}

    def run(ctx):
        js = []
        for i, d in enumerate(decisions):
            if d == "undecided":
                c = Criterion(f"c{i}", "larger T lowers it", "direction", effect=1.0, sign=-1)
                js.append(judge(c, np.array([1.0, -1.0])))
            else:
                c = Criterion(f"c{i}", "the check passes", "machinery", low=0, high=1)
                js.append(judge(c, data[d]))
        return ClaimResult(summary="judged", criteria=js, metrics={"x": 1.0})

    fake = Claim("fake-claim", "BG21", "a statement", run, ("smoke",))
    monkeypatch.setattr(registry, "_REGISTRY", {**registry._REGISTRY, "fake-claim": fake})
    monkeypatch.setattr(registry, "_discover", lambda: None)
    _catalogue_fake(monkeypatch)


def test_result_json_carries_criteria_and_the_rule_decides(tmp_path, monkeypatch):
    """result.json's verdict follows from its criteria by the one rule; each criterion has
    the keys DESIGN.md §9 lists; report.md shows the criteria table; REPORT.md names the
    source-paper column apart from the scale columns and counts each run's criteria."""
    from sgdnoise.experiments.runner import reproduce

    _judged_claim(monkeypatch, ["supported", "undecided"])
    (rec,) = reproduce("fake-claim", scale="smoke", out=tmp_path / "a", progress=False)
    saved = json.loads((tmp_path / "a" / "result.json").read_text())
    assert saved["verdict"] == rec["verdict"] == "inconclusive"
    keys = {"name", "paper_says", "kind", "estimate", "ci_low", "ci_high", "decision", "power"}
    assert all(keys <= set(c) for c in saved["criteria"])
    assert [c["decision"] for c in saved["criteria"]] == ["supported", "undecided"]
    report = (tmp_path / "a" / "report.md").read_text()
    assert "| criterion | the paper says | kind |" in report and "1 supported" in report
    assert "agree: agree" not in report

    _judged_claim(monkeypatch, ["supported", "contradicted"])
    (rec,) = reproduce("fake-claim", scale="smoke", out=tmp_path / "b", progress=False)
    assert rec["verdict"] == "disagree"
    assert main(["report", str(tmp_path)]) == 0
    text = (tmp_path / "REPORT.md").read_text()
    assert "| claim | source | smoke scale | cpu scale | paper scale |" in text
    assert "(1✓ 1✗ 0?)" in text


def test_a_claim_result_needs_judged_criteria():
    from sgdnoise.errors import ParameterError
    from sgdnoise.experiments.registry import ClaimResult

    with pytest.raises(ParameterError, match="criteria"):
        ClaimResult(summary="no criteria", criteria=[])


def test_report_of_an_empty_folder_exits_2_and_writes_nothing(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "nothing to report" in capsys.readouterr().err
    assert not (tmp_path / "REPORT.md").exists()


def test_bad_input_inside_a_claim_leaves_no_folder(tmp_path, monkeypatch, capsys):
    """A ParameterError raised inside a claim's run (here: its data) reaches the user as the
    one line, exit 2, and the folder that run had started is gone."""
    from sgdnoise.errors import ParameterError
    from sgdnoise.experiments import registry
    from sgdnoise.experiments.registry import Claim

    def run(ctx):
        (ctx.out_dir / "half-written.txt").write_text("x")
        raise ParameterError("data_dir", "/nowhere", "must hold the CIFAR-10 files")

    fake = Claim("fake-claim", "BG21", "a statement", run, ("smoke",))
    monkeypatch.setattr(registry, "_REGISTRY", {**registry._REGISTRY, "fake-claim": fake})
    monkeypatch.setattr(registry, "_discover", lambda: None)
    _catalogue_fake(monkeypatch)
    out = tmp_path / "run"
    assert main(["reproduce", "fake-claim", "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data_dir" in err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_a_workers_bad_input_is_raised_as_the_same_line():
    """run_grid turns a failed run whose traceback ends in a ParameterError into that
    ParameterError (the user reads one line, not the worker's traceback)."""
    import traceback

    import pandas as pd

    from sgdnoise.errors import ParameterError
    from sgdnoise.experiments._grid import _reraise_bad_input

    try:
        raise ParameterError("data_dir", "/x y", "must be an existing folder")
    except ParameterError:
        text = traceback.format_exc()
    with pytest.raises(ParameterError) as e:
        _reraise_bad_input(pd.Series([None, "RuntimeError: other", text]))
    assert str(e.value) == "invalid data_dir='/x y': must be an existing folder"
    _reraise_bad_input(pd.Series(["Traceback …\nZeroDivisionError: division by zero"]))


def test_run_grid_refuses_an_unknown_failed_run_policy(tmp_path):
    """The failed-run policy is checked before any store is opened or written."""
    from types import SimpleNamespace

    from sgdnoise.errors import ParameterError
    from sgdnoise.experiments._grid import run_grid

    ctx = SimpleNamespace(out_dir=tmp_path, progress=False)
    with pytest.raises(ParameterError, match="failed"):
        run_grid(ctx, [], workers=1, failed="ignore")
    assert not list(tmp_path.iterdir())
