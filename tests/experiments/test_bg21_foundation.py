"""bg21-stationary and bg21-selection at smoke scale: verdict "agree", the §9 files, and the
runner's no-overwrite rule."""

import json

import pytest

from sgdnoise.cli import main
from sgdnoise.errors import ParameterError
from sgdnoise.experiments import reproduce


@pytest.mark.slow
@pytest.mark.parametrize("claim", ["bg21-stationary", "bg21-selection"])
def test_smoke_claim_agrees_and_writes_its_report(smoke_all, claim):
    rec, out = smoke_all[claim]
    assert rec["verdict"] == "agree", rec["summary"]
    data = json.loads((out / "result.json").read_text())
    assert set(data) >= {
        "claim",
        "scale",
        "verdict",
        "summary",
        "metrics",
        "figures",
        "seconds",
        "versions",
    }
    assert data["claim"] == claim and data["scale"] == "smoke"
    assert data["figures"] and all((out / f).is_file() for f in data["figures"])
    report = (out / "report.md").read_text()
    assert "agree" in report and all(f"]({f})" in report for f in data["figures"])
    # nothing stored is ever lost: the same folder is refused, through the CLI too
    with pytest.raises(ParameterError) as e:
        reproduce(claim, scale="smoke", out=out, progress=False)
    assert e.value.parameter == "out"
    assert main(["reproduce", claim, "--out", str(out)]) == 2
    assert json.loads((out / "result.json").read_text()) == data


def test_claims_are_listed():
    from sgdnoise.experiments import all_claims

    claims = all_claims()
    for cid in ("bg21-stationary", "bg21-selection"):
        assert cid in claims and claims[cid].paper == "BG21"
