"""The one exception type for problems the user can fix.

The CLI prints ``VgenError`` as a single line on stderr and exits with code 2; a traceback is shown
only with ``--debug``. Library code raises it for bad input (missing files, wrong formats, invalid
options) and never for internal bugs.
"""


class VgenError(Exception):
    """A user-facing error: the message names the problem and how to fix it, in one line."""
