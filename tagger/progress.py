"""Progress on stderr for long work: a rewritten status line on a terminal, sparse lines in logs."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, enabled: bool = True, stream: TextIO | None = None,
                 interval: float = 0.5, log_interval: float = 30.0) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        # On a terminal the line is redrawn often; in a log file a line every 30 s is plenty.
        self.interval = interval if self.tty else log_interval
        self._last = time.monotonic()  # the first status comes one interval in
        self._width = 0

    def update(self, message: str) -> None:
        """Show a transient status, rate-limited."""
        now = time.monotonic()
        if not self.enabled or now - self._last < self.interval:
            return
        self._last = now
        if self.tty:
            self.stream.write("\r" + message.ljust(self._width))
            self._width = len(message)
        else:
            self.stream.write(message + "\n")
        self.stream.flush()

    def line(self, message: str) -> None:
        """Print a permanent line (replacing any status line)."""
        if not self.enabled:
            return
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        self.stream.write(message + "\n")
        self.stream.flush()


def rate(tokens: float, seconds: float) -> str:
    return f"{tokens / seconds:,.0f} tokens/s" if seconds > 0 else "- tokens/s"


def clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
