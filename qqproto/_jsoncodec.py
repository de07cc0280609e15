"""The JSON codec of the hot path: orjson when installed, the standard library otherwise.

Both paths produce the same bytes for the same value (compact separators, UTF-8 kept as
is), so byte-exact tests hold with or without the ``speed`` extra.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import JSONDecodeError

__all__ = ["HAVE_ORJSON", "JSONDecodeError", "dumps", "loads"]

try:
    import orjson
except ImportError:  # pragma: no cover - exercised by the stdlib-only CI leg
    orjson = None  # type: ignore[assignment]

HAVE_ORJSON = orjson is not None




def _std_dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _std_loads(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise JSONDecodeError(str(exc)) from None


if orjson is not None:
    _orjson_loads = orjson.loads
    _orjson_dumps = orjson.dumps
    _OrjsonError = orjson.JSONDecodeError

    def loads(data: bytes | str) -> Any:
        """Decode one JSON document; :class:`JSONDecodeError` on anything else."""
        try:
            return _orjson_loads(data)
        except (_OrjsonError, RecursionError) as exc:
            raise JSONDecodeError(str(exc)) from None

    def dumps(value: Any) -> bytes:
        """Encode compactly as UTF-8 bytes."""
        try:
            return _orjson_dumps(value)
        except TypeError:
            # orjson refuses ints beyond 64 bits and non-str keys; the stdlib does not.
            return _std_dumps(value)

else:  # pragma: no cover
    loads = _std_loads
    dumps = _std_dumps
