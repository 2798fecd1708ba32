"""One progress count over a whole video: clips × sampler steps, fed by per-clip sampler callbacks."""

from __future__ import annotations

from typing import Any, Callable, Optional

Callback = Callable[[int, int, dict], None]


class ClipProgress:
    """Turns each clip's ``callback(step, steps, info)`` into ``callback(done, clips·steps, info)``.

    ``clips`` may be None when the number of clips is not known up front (a stream of unknown length).
    """

    def __init__(self, callback: Optional[Callback], clips: Optional[int]) -> None:
        self.callback = callback
        self.clips = clips
        self.clip = 0
        self._offset = 0

    def for_clip(self) -> Optional[Callback]:
        """The callback to hand the sampler for the next clip."""
        if self.callback is None:
            return None
        clip, offset = self.clip, self._offset
        self.clip += 1

        def step(done: int, total: int, info: dict[str, Any]) -> None:
            grand_total = self.clips * total if self.clips is not None else None
            self._offset = offset + done
            self.callback(offset + done, grand_total, {"clip": clip + 1, **info})

        return step
