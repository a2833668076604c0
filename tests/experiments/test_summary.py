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
        assert rec["scale"] == "smoke" and (out / "report.md").is_file()
        assert f"[{cid}]({cid}/report.md) | smoke | agree" in index
    assert main(["report", str(smoke_all.root)]) == 0
    text = (smoke_all.root / "REPORT.md").read_text()
    for cid in claims:
        assert f"[agree]({cid}/report.md)" in text
