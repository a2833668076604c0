"""The objects a researcher uses import from ``sgdnoise.theory`` and ``sgdnoise.simulate``
directly, lazily (importing the package pulls in no numba or sympy), and no exported name
is shadowed by a submodule of the same name (``import pkg.x`` rebinds ``pkg.x``)."""

import importlib
import pkgutil
import subprocess
import sys

import pytest

PACKAGES = ["sgdnoise.theory", "sgdnoise.simulate"]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_export_resolves_to_what_its_module_defines(name):
    pkg = importlib.import_module(name)
    assert pkg.__all__, f"{name} exports nothing"
    submodules = {m.name for m in pkgutil.iter_modules(pkg.__path__)}
    for export in pkg.__all__:
        assert export not in submodules, f"{name}.{export} is also a submodule"
        target = pkg._EXPORTS[export]
        module, _, attr = target.partition(":")
        expected = getattr(importlib.import_module(module, name), attr or export)
        assert getattr(pkg, export) is expected, export
        assert export in dir(pkg)
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        pkg.not_a_name  # noqa: B018


@pytest.mark.parametrize("name", PACKAGES)
def test_import_is_lazy(name):
    code = f"import sys, {name}; print(sorted({{'numba', 'sympy', 'torch'}} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_submodule_import_does_not_shadow_an_export():
    code = (
        "import sgdnoise.simulate.sgd, sgdnoise.simulate as s; "
        "from sgdnoise.simulate import sgd_chains; print(callable(sgd_chains))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
