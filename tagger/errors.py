"""The one exception type for mistakes a user can fix (bad paths, options, input), and
SIGTERM turned into an exception the commands clean up after, as after Ctrl-C."""

from __future__ import annotations

import re
from collections.abc import Callable

# How a message names a parameter of the library function that was called: `tag_column`.
PARAMETER = re.compile(r"`(\w+)`")


class TaggerError(Exception):
    """A user-facing error: its message names the thing at fault and what to do.

    Messages name parameters in backquotes as the Python API spells them (`tag_column`);
    `param`, if given, is the parameter at fault. The CLI rewrites the names into its flags
    (--tag-column), prints the message as one line and exits non-zero, without a traceback.
    """

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param

    def render(self, spell: Callable[[str], str]) -> str:
        """The message with every `name` replaced by `spell(name)`."""
        return PARAMETER.sub(lambda m: spell(m.group(1)), str(self))


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C raises KeyboardInterrupt: the same clean-up
    runs (partial files removed, worker processes ended), then the process exits 143."""


def raise_on_sigterm() -> None:
    """From now on SIGTERM raises `Terminated` in the main thread (call it from there)."""
    import signal

    def terminate(signum: int, frame: object) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, terminate)
