"""Sweep specs: grid expansion, canonical run keys, and every kind of bad spec."""

from __future__ import annotations

import pytest

from sgdnoise.errors import ParameterError
from sgdnoise.sweeps.spec import load_spec, run_key


def base(**over):
    spec = {
        "name": "t",
        "function": "noisy-quadratic",
        "fixed": {"steps": 10},
        "product": {"seed": [0, 1], "lr": [0.01, 0.1, 1.0]},
        "zip": [{"batch": [2, 4], "dim": [3, 5]}],
    }
    spec.update(over)
    return spec


def test_grid_is_product_times_zipped_groups():
    s = load_spec(base())
    cfgs = s.configs()
    assert len(s) == len(cfgs) == 2 * 3 * 2
    # zipped names move together; the product covers every combination exactly once
    assert {(c["batch"], c["dim"]) for c in cfgs} == {(2, 3), (4, 5)}
    assert len({(c["seed"], c["lr"], c["batch"]) for c in cfgs}) == 12
    assert all(c["steps"] == 10 for c in cfgs)
    assert s.axes == ["seed", "lr", "batch", "dim"]


def test_toml_with_generators(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(
        'function = "noisy-quadratic"\n'
        "[product]\n"
        "lr = { geomspace = [0.001, 0.1, 3] }\n"
        "batch = { range = [1, 4] }\n"
        "noise = { linspace = [0, 1, 2] }\n"
    )
    s = load_spec(p)
    assert s.name == "s"  # defaults to the file's stem
    assert s.product["lr"] == [0.001, 0.01, 0.1]
    assert s.product["batch"] == [1, 2, 3]
    assert s.product["noise"] == [0.0, 1.0]


def test_run_key_is_canonical():
    a = run_key("f", {"lr": 0.1, "batch": 4})
    assert a == run_key("f", {"batch": 4, "lr": 0.1})  # key order does not matter
    assert a != run_key("f", {"lr": 0.1, "batch": 5})
    assert a != run_key("g", {"lr": 0.1, "batch": 4})  # the function is part of the key
    assert len(a) == 64


def test_module_function_reference(helper_module):
    s = load_spec({"function": f"{helper_module}:mc_pi", "product": {"x": [1, 2]}})
    assert len(s) == 2


@pytest.mark.parametrize(
    "over,parameter",
    [
        ({"product": {"seed": [0], "lrr": [0.1]}, "fixed": {"batch": 2}}, "parameter"),
        ({"fixed": {"steps": 10, "momentum": 0.9}}, "parameter"),
        ({"product": {"seed": [0]}, "zip": []}, "parameter"),  # lr, batch missing
        ({"product": {"seed": [], "lr": [0.1]}}, "product.seed"),
        ({"zip": [{"batch": [2, 4], "dim": [3]}]}, "zip[0]"),
        ({"zip": [{}]}, "zip[0]"),
        ({"fixed": {"steps": 10, "lr": 0.1}}, "parameter"),  # given twice
        ({"product": {"seed": [0, 0], "lr": [0.1]}}, "product.seed"),
        ({"function": "no-such-experiment"}, "function"),
        ({"function": "no_such_module_xyz:f"}, "function"),
        ({"function": "sgdnoise.sweeps.tasks:nothing_here"}, "function"),
        ({"colour": "red"}, "spec key"),
        ({"fixed": {"steps": [1, 2]}}, "fixed.steps"),
        ({"fixed": {"steps": float("nan")}}, "fixed.steps"),
        ({"product": {"seed": [0], "lr": {"geomspace": [0, 1, 3]}}}, "product.lr"),
        ({"product": {"seed": [0], "lr": {"logspace": [1, 2, 3]}}}, "product.lr"),
        ({"name": ""}, "name"),
        # the experiment's own validation runs on every grid point at spec time
        ({"product": {"seed": [0], "lr": [0.1, -0.1]}}, "lr"),
        ({"fixed": {"steps": 0}}, "steps"),
    ],
)
def test_bad_specs_name_the_parameter(over, parameter):
    with pytest.raises(ParameterError) as e:
        load_spec(base(**over))
    assert e.value.parameter == parameter


def test_bad_spec_sources(tmp_path):
    with pytest.raises(ParameterError) as e:
        load_spec(tmp_path / "missing.toml")
    assert e.value.parameter == "spec"
    bad = tmp_path / "bad.toml"
    bad.write_text("function = \n")
    with pytest.raises(ParameterError) as e:
        load_spec(bad)
    assert e.value.parameter == "spec"
    with pytest.raises(ParameterError) as e:
        load_spec(42)
    assert e.value.parameter == "spec"
    with pytest.raises(ParameterError) as e:
        load_spec({"product": {"x": [1]}})
    assert e.value.parameter == "function"


def test_the_documented_example_is_a_valid_spec(repo_root, tmp_path):
    """The TOML example of docs/sweeps.md loads and means what the text says."""
    text = (repo_root / "docs" / "sweeps.md").read_text()
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "doc.toml").write_text(block)
    s = load_spec(tmp_path / "doc.toml")
    assert len(s) == 4 * 3 * 3
    assert {c["lr"] / c["batch"] for c in s.configs()} == {0.005}


def test_zipped_list_may_repeat_a_value_but_not_a_point():
    """(lr, batch) = (0.02, 4), (0.04, 4): batch repeats, the points do not."""
    s = load_spec(base(zip=[{"lr": [0.02, 0.04], "batch": [4, 4]}], product={"seed": [0]}))
    assert [(c["lr"], c["batch"]) for c in s.configs()] == [(0.02, 4), (0.04, 4)]
    with pytest.raises(ParameterError) as e:
        load_spec(base(zip=[{"lr": [0.02, 0.02], "batch": [4, 4]}], product={"seed": [0]}))
    assert e.value.parameter == "zip[0]"
