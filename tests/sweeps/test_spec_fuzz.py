"""Property-based fuzzing of the sweep spec parser (issue 16): every input — a dict, a TOML
text, a value of any type anywhere — either loads into a valid spec or raises
:class:`ParameterError`; never another exception type."""

from __future__ import annotations

import math
import string

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sgdnoise.errors import ParameterError
from sgdnoise.sweeps.spec import MAX_RUNS, SPEC_KEYS, load_spec, run_key

FUNCTIONS = st.sampled_from(
    ["noisy-quadratic", "sgdnoise.sweeps.tasks:noisy_quadratic_sgd", "kcl23-run", "nope",
     "os:path", "no_such_mod:f", "", ":", "a:b:c"]
)  # fmt: skip
PARAMS = st.sampled_from(
    ["lr", "batch", "steps", "dim", "n_train", "noise", "cond", "record_every", "seed",
     "data_dir", "momentum", ""]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-3, max_value=64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1e-4, max_value=10),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=6), inner, max_size=3),
    ),
    max_leaves=8,
)
GENERATOR = st.dictionaries(
    st.sampled_from(["range", "linspace", "geomspace", "logspace"]),
    st.lists(st.one_of(st.integers(-5, 10**7), st.floats(-10, 1e3), SCALARS), max_size=4),
    min_size=1,
    max_size=2,
)
AXIS = st.one_of(st.lists(SCALARS, max_size=4), GENERATOR, VALUES)
SPECS = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.text(max_size=6), VALUES),
        "function": st.one_of(FUNCTIONS, VALUES),
        "fixed": st.one_of(st.dictionaries(PARAMS, SCALARS, max_size=5), VALUES),
        "product": st.one_of(st.dictionaries(PARAMS, AXIS, max_size=4), VALUES),
        "zip": st.one_of(
            st.lists(st.dictionaries(PARAMS, AXIS, max_size=3), max_size=2),
            st.dictionaries(PARAMS, AXIS, max_size=3),
            VALUES,
        ),
        "description": VALUES,
        "colour": VALUES,
    },
)

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _loads_or_refuses(source):
    try:
        spec = load_spec(source)
    except ParameterError as e:
        assert e.parameter and str(e).startswith("invalid ")
        event(f"refused: {e.parameter.split('.')[0]}")
        return None
    event("loaded")
    # what loaded is a real grid: finite scalars, within the size limit, keyable
    assert 1 <= len(spec) <= MAX_RUNS
    for cfg in spec.configs()[:50]:
        for v in cfg.values():
            assert isinstance(v, bool | int | float | str)
            assert not isinstance(v, float) or math.isfinite(v)
        assert len(run_key(spec.function, cfg)) == 64
    assert set(spec.as_dict()) <= set(SPEC_KEYS)
    return spec


@FUZZ
@given(SPECS)
def test_any_dict_spec_loads_or_raises_parameter_error(source):
    _loads_or_refuses(source)


PLAUSIBLE = st.one_of(st.integers(1, 64), st.integers(1, 64), st.floats(1e-3, 2.0), SCALARS)
SETTINGS_OF_QUADRATIC = st.sampled_from(
    ["steps", "dim", "n_train", "noise", "cond", "record_every", "seed", "data_dir", "momentum"]
)


@FUZZ
@given(
    lr=st.lists(st.floats(1e-3, 1.0), min_size=1, max_size=3, unique=True),
    batch=st.lists(st.integers(1, 16), min_size=1, max_size=3, unique=True),
    fixed=st.dictionaries(SETTINGS_OF_QUADRATIC, PLAUSIBLE, max_size=4),
    extra=st.dictionaries(st.sampled_from(["seed", "noise", "dim"]), AXIS, max_size=1),
    function=st.sampled_from(["noisy-quadratic", "sgdnoise.sweeps.tasks:noisy_quadratic_sgd"]),
)
def test_specs_of_the_builtin_worker_load_or_raise_parameter_error(
    lr, batch, fixed, extra, function
):
    """Aimed deeper: a valid worker and mostly plausible values, so typing, the worker's
    own check and the memory estimate are reached (most of these load)."""
    _loads_or_refuses(
        {"function": function, "fixed": fixed, "product": {"lr": lr, "batch": batch, **extra}}
    )


TOML_ALPHABET = string.ascii_letters + string.digits + " =[]{}\"'.,-+_#\n:@\t"


@FUZZ
@given(
    st.one_of(
        st.text(alphabet=TOML_ALPHABET, max_size=120),
        st.builds(
            lambda fixed, axis: (
                'function = "noisy-quadratic"\n[fixed]\n' + fixed + "\n[product]\n" + axis
            ),
            st.text(alphabet=TOML_ALPHABET, max_size=40),
            st.text(alphabet=TOML_ALPHABET, max_size=40),
        ),
    )
)
def test_any_toml_text_loads_or_raises_parameter_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("toml") / "s.toml"
    path.write_text(text)
    _loads_or_refuses(path)


@FUZZ
@given(st.one_of(VALUES, st.binary(max_size=8), st.sampled_from([object(), 3j, b"x"])))
def test_any_source_object_loads_or_raises_parameter_error(source):
    _loads_or_refuses(source)
