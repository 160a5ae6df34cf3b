"""Errors a user can act on: the CLI prints their message as one line."""


class StridewiseError(Exception):
    """Bad input or state the user can fix; never a bug."""


class NotFound(StridewiseError):
    pass


class MissingSecretKey(StridewiseError):
    def __init__(self) -> None:
        super().__init__(
            "STRIDEWISE_SECRET_KEY is not set; generate one with "
            "'stridewise secret generate' and export it"
        )
