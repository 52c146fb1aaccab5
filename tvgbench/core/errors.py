"""One exception type for bad user input: the CLI turns it into a one-line error and exit code 2."""


class Timer1Error(Exception):
    """A user-facing error whose message is a single self-explanatory line."""
