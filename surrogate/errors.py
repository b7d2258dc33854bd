"""The exception types that mean "the user asked for something that cannot work" or "stopped"."""


class UserError(Exception):
    """A problem with the user's input; the CLI prints its message as one line and exits 2."""

    exit_code = 2


class Interrupted(UserError):
    """The run was interrupted (Ctrl-C, SIGINT); the message says how to resume. Exit code 130."""

    exit_code = 130
