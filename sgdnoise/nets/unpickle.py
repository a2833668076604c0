"""A restricted unpickler for the CIFAR-10 python-version batches (DESIGN.md §6).

``pickle.load`` executes whatever callable a pickle names, so an untrusted data file could
run arbitrary code.  The official CIFAR-10 batches are Python-2 pickles (protocol 2) of a
``dict`` holding lists, byte strings and one ``numpy.ndarray``; rebuilding that array needs
exactly three globals: ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray`` and
``numpy.dtype``.  Only those (and their ``numpy._core`` spellings of numpy ≥ 2) are admitted,
plus ``_codecs.encode``, through which Python 3 writes ``bytes`` into a protocol-2 pickle
(it only encodes a string).  Builtin containers (dict, list, tuple, str, int, float) need no
global at all.
Any other global makes loading fail with :class:`~sgdnoise.errors.ParameterError`.
"""

from __future__ import annotations

import _codecs
import io
import pickle

import numpy as np

from ..errors import ParameterError

#: (module, name) pairs a CIFAR batch may reference, mapped to the object they stand for.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): np.ndarray.__reduce__(np.zeros(1))[0],
    ("numpy._core.multiarray", "_reconstruct"): np.ndarray.__reduce__(np.zeros(1))[0],
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _codecs.encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose ``find_class`` admits only the globals in :data:`_ALLOWED`."""

    def __init__(self, file, *, source: str = "<bytes>", **kwargs):
        super().__init__(file, **kwargs)
        self._source = source

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise ParameterError(
                "data_dir",
                self._source,
                f"pickle references the global {module}.{name}; only numpy arrays and "
                "builtin containers are allowed in a CIFAR-10 batch (refused, nothing executed)",
            ) from None


def restricted_loads(data: bytes, *, source: str = "<bytes>") -> object:
    """Unpickle ``data`` (Python-2 pickles: strings decoded as latin-1, like the official
    loader's ``encoding="latin1"``) admitting only numpy arrays and builtin containers."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), source=source, encoding="latin1").load()
    except ParameterError:
        raise
    except Exception as e:  # truncated or garbled bytes: any unpickling failure
        raise ParameterError(
            "data_dir", source, f"is not a readable CIFAR-10 pickle ({type(e).__name__}: {e})"
        ) from None
