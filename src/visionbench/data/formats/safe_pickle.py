"""A restricted unpickler for CIFAR's python batches: data in, never code.

pickle.load runs whatever callable a file names (os.system, exec, ...). This unpickler resolves
only the few globals a numpy array needs; any other global makes it raise before anything runs.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

from ...errors import DataError

ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by python 3 store bytes; data only
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("__builtin__", "set"),
    ("__builtin__", "frozenset"),
    ("__builtin__", "bytearray"),
}


class SafeUnpickler(pickle.Unpickler):
    """Only builtin containers, str, bytes, numbers and numpy arrays."""

    def find_class(self, module: str, name: str):
        if (module, name) in ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load global '{module}.{name}'")


def load(path: Path):
    """Unpickle `path` safely (python-2 pickles read with bytes keys); DataError on anything else."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: unreadable pickle ({e.strerror})") from None
    try:
        return SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise DataError(f"{path}: unsafe or corrupt pickle, not loaded ({e})") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise DataError(f"{path}: corrupt pickle ({type(e).__name__}: {e})") from None


def text_keys(d) -> dict:
    """Batch dicts from python 2 have bytes keys; give them str keys."""
    if not isinstance(d, dict):
        raise TypeError(f"expected a dict, found {type(d).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
