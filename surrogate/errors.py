"""The exception types that mean "the user asked for something that cannot work" or "stopped"."""


class UserError(Exception):
    """A problem with the user's input; the CLI prints its message as one line and exits 2."""

    exit_code = 2


class Interrupted(UserError):
    """The run was interrupted; the message says how to resume. Exit code 128 + the signal:
    130 for Ctrl-C (SIGINT), 143 for SIGTERM (what batch schedulers send before SIGKILL)."""

    def __init__(self, message: str, signum: int = 2) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum
