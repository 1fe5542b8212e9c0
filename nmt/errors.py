"""The one exception type for user mistakes: bad input files, bad config keys, missing checkpoints.

Entry points catch it and print its message alone (no traceback) with a non-zero exit status.
"""


class NmtError(Exception):
    """A problem the user can fix; the message names the file, line or key at fault."""
