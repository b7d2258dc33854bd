"""The one exception type that means "the user asked for something that cannot work"."""


class UserError(Exception):
    """A problem with the user's input; the CLI prints its message as one line and exits 2."""
