"""The two kinds of failure a user can meet, each with its exit code.

Every stage raises these; only the CLI turns them into one line on stderr.
"""


class LocalV4Error(Exception):
    """A failure to report as one line, without a traceback."""

    exit_code = 1


class UsageError(LocalV4Error):
    """Bad input from the user: a wrong name, number or file. Exit code 2."""

    exit_code = 2


class RuntimeFailure(LocalV4Error):
    """Something went wrong while doing what the user asked. Exit code 1."""

    exit_code = 1
