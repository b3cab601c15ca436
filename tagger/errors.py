"""The one exception type for mistakes a user can fix (bad paths, options, input)."""


class TaggerError(Exception):
    """A user-facing error: its message names the thing at fault and what to do.

    The CLI prints it as one line and exits non-zero, without a traceback.
    """
