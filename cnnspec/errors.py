"""The one error type users see: a single line naming file, line and field."""
from __future__ import annotations


class CnnspecError(Exception):
    """A user-facing error, printed as one line by the CLI (never a traceback).

    ``exit_code`` follows the CLI contract: 2 for invalid input (bad spec, bad data,
    bad file), 1 for a check that ran but disagreed with expectations.
    """

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.field = field

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = str(self.file) + (f":{self.line}" if self.line else "") + ": "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"


class SpecError(CnnspecError):
    """The spec file is malformed or describes an impossible network."""


class DataError(CnnspecError):
    """A dataset is missing, corrupt or of the wrong shape."""


class ModelFileError(CnnspecError):
    """A model file (.keras, .onnx) is missing, corrupt or of the wrong kind."""
