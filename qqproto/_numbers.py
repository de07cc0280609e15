"""The one strict reader of numbers the server controls.

Every count, size, code, interval and lifetime a QQ server (or a webhook client) puts in
a JSON body, a header or a frame goes through :func:`parse_int` or :func:`parse_number`
before the core uses it.  Both are total: they return ``None`` for anything that is not
a number in the range asked for, and never raise.  The caller turns ``None`` into its own
typed error (or a documented default) at the boundary where the value was read, and
clamps what it accepts with :func:`clamp` to the bounds the fact sheet documents.

Why not ``int(text)`` after ``text.isdigit()``: ``str.isdigit`` is true for ``"²"`` and
other Unicode digits that ``int`` refuses (a ``ValueError`` deep in a parser), ``int``
accepts ``"1_000"``, ``" +5"`` and Arabic-Indic digits, and ``float`` accepts ``"nan"``,
``"inf"`` and ``1e999``.  Only ASCII digits, an optional leading minus where a negative
value makes sense, and bounded lengths get through here.
"""

from __future__ import annotations

import math
import re
from typing import Final, TypeVar

__all__ = ["clamp", "parse_int", "parse_number"]

#: Decimal integers: an optional minus and up to 20 ASCII digits (enough for any int64).
_INT: Final = re.compile(rb"-?[0-9]{1,20}")
#: Decimal numbers: ASCII digits, an optional fraction and a short exponent.
_NUMBER: Final = re.compile(rb"-?[0-9]{1,20}(?:\.[0-9]{1,20})?(?:[eE][-+]?[0-9]{1,3})?")
_FLOAT_MAX: Final = 2**1000
N = TypeVar("N", int, float)

#: The only padding tolerated around a number in a string (JSON and HTTP whitespace).
_SPACE: Final = " \t\r\n"


def _ascii(text: str) -> bytes | None:
    text = text.strip(_SPACE)
    if not text.isascii():
        return None
    return text.encode("ascii")


def parse_int(value: object, *, minimum: int, maximum: int, floats: bool = False) -> int | None:
    """``value`` as an int in ``[minimum, maximum]``, or ``None``.

    Accepts a JSON integer, or a string of ASCII digits (a leading ``-`` only), padded
    with JSON whitespace at most; with ``floats=True`` also a finite float with no
    fraction (``7200.0``).  Booleans, ``"²"``, ``"--5"``, ``"1_000"``, ``"+5"``,
    NaN and anything out of range give ``None``.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not floats or not math.isfinite(value) or not value.is_integer():
            return None
        number = int(value)
    elif isinstance(value, str):
        raw = _ascii(value)
        if raw is None or _INT.fullmatch(raw) is None:
            return None
        number = int(raw)
    else:
        return None
    return number if minimum <= number <= maximum else None


def parse_number(value: object, *, minimum: float, maximum: float) -> float | None:
    """``value`` as a finite float in ``[minimum, maximum]``, or ``None``.

    Accepts a JSON number or a decimal string (``"7200"``, ``"0.5"``, ``"1e3"``) of ASCII
    characters; ``"nan"``, ``"inf"``, ``1e999``, booleans and Unicode digits give ``None``.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        # Compare before converting: float(10**400) would overflow.
        if not (minimum <= value <= maximum and -_FLOAT_MAX <= value <= _FLOAT_MAX):
            return None
        return float(value)
    if isinstance(value, float):
        number = value
    elif isinstance(value, str):
        raw = _ascii(value)
        if raw is None or _NUMBER.fullmatch(raw) is None:
            return None
        number = float(raw)
    else:
        return None
    if not math.isfinite(number) or not minimum <= number <= maximum:
        return None
    return number


def clamp(value: N, low: N, high: N) -> N:
    """``value`` moved into ``[low, high]``."""
    return low if value < low else high if value > high else value
