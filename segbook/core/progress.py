"""One progress line for a long count (cases converted, files hashed): count, share, time left.

A progress sink is a callable taking one line. A sink that can redraw a line in place (the CLI's,
when stderr is a terminal) also has a `transient(text)` method: the count is then updated in
place after every item. Otherwise a line is emitted at most every ~5 % or every 10 s (and at the
end), so a log of a 20,000-case dataset holds a few dozen lines, not 20,000.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Progress = Callable[[str], None]  # a progress sink: takes one line
EVERY_SHARE = 0.05
EVERY_S = 10.0


def no_progress(message: str) -> None:
    """The sink of a caller that wants no progress lines."""


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class CountProgress:
    """`step()` after each item; `label` says what is counted (e.g. "prepare: cases converted")."""

    def __init__(self, label: str, total: int, sink: Callable[[str], None] | None,
                 clock: Callable[[], float] = time.monotonic):
        self.label, self.total, self.sink, self.clock = label, max(total, 0), sink, clock
        self.done = 0
        self.started = self.last_time = clock()
        self.last_share = 0.0
        self.transient = getattr(sink, "transient", None)

    def line(self) -> str:
        share = self.done / self.total if self.total else 1.0
        text = f"{self.label} [{self.done}/{self.total}] ({share:.0%})"
        if 0 < self.done < self.total:
            elapsed = self.clock() - self.started
            text += f", about {_duration(elapsed / self.done * (self.total - self.done))} left"
        elif self.done == self.total:
            text += f" in {_duration(self.clock() - self.started)}"
        return text

    def step(self, items: int = 1) -> None:
        self.done += items
        if self.sink is None:
            return
        finished = self.done >= self.total
        if self.transient is not None and not finished:
            self.transient(self.line())
            return
        share, now = (self.done / self.total if self.total else 1.0), self.clock()
        if finished or share - self.last_share >= EVERY_SHARE or now - self.last_time >= EVERY_S:
            self.last_share, self.last_time = share, now
            self.sink(self.line())
