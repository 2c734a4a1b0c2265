"""The one exception type users see.

Every check of user input raises :class:`NeuroreconError` with a message that names the
problem; the command line prints that message and exits with code 2 (no traceback).
"""


class NeuroreconError(ValueError):
    """Bad input, an unsupported file, or a missing optional backend."""
