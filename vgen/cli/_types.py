"""Option value types shared by every command: floats that must be finite numbers.

Python's ``float()`` accepts ``nan``, ``inf`` and ``1e400`` (infinite); none of them is a meaningful
step size, weight, rate or frame rate, and each passed silently into sampling or training before.
Every float option of every command parses through ``FiniteFloat``, so such values are refused at
parse time with one line (exit 2) before anything is loaded or written.
"""

from __future__ import annotations

import math
from typing import Optional, Union

import typer


class FiniteFloat:
    """A command-line float parser that refuses NaN and ±inf, and optionally values below ``minimum``.

    Pass an instance as ``typer.Option(..., parser=FiniteFloat())``; ``minimum`` replaces Typer's
    ``min=``, which a custom parser bypasses.
    """

    def __init__(self, minimum: Optional[float] = None) -> None:
        self.minimum = minimum

    def __call__(self, value: Union[str, float]) -> float:
        """The float ``value`` names; ``typer.BadParameter`` (a one-line usage error) if it is not
        a finite number at least ``minimum``."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise typer.BadParameter(f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise typer.BadParameter(f"{value!r} is not a finite number (NaN and infinity are refused)")
        if self.minimum is not None and number < self.minimum:
            raise typer.BadParameter(f"{value!r} is below the minimum {self.minimum:g}")
        return number


finite_float = FiniteFloat()
