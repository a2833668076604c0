"""The one error type raised for bad input anywhere in sgdnoise (DESIGN.md §7).

Every public function, config reader and CLI command validates at its boundary and
raises :class:`ParameterError`, whose message names the parameter, the value it got
and what is allowed.  The CLI prints that single line and exits with status 2.
"""

from __future__ import annotations


class ParameterError(ValueError):
    """Bad input: ``parameter`` got ``value``; ``allowed`` says what would be accepted."""

    def __init__(self, parameter: str, value: object, allowed: str):
        self.parameter = parameter
        self.value = value
        self.allowed = allowed
        super().__init__(f"invalid {parameter}={value!r}: {allowed}")
