"""The service's errors, mapped to HTTP once, at the edge (``app.py``).

ServiceError                 -- anything the caller did that we refuse
 +-- InvalidInput (422)      -- a field is wrong; ``errors`` names each field (a core error,
                                ``NextofferError``, that no service maps with more context
                                becomes one, ``InvalidInput.from_core``)
 +-- NotFound (404)          -- no such thing
 +-- Conflict (409)          -- it exists already, or clashes with what exists
 +-- Unauthorized (401)      -- no API key, or an unknown one
 +-- Forbidden (403)         -- the key's role may not do this
 +-- TooManyAttempts (429)   -- too many refused keys from this address; ``retry_after`` s
 +-- Unavailable (503)       -- the service cannot answer now (the live snapshot does not load)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from ..core.errors import NextofferError
    from ..core.rules import Diagnostic

__all__ = ["Conflict", "Forbidden", "InvalidInput", "NotFound", "ServiceError",
           "TooManyAttempts", "Unauthorized", "Unavailable", "validated"]  # fmt: skip

_M = TypeVar("_M", bound=BaseModel)


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class InvalidInput(ServiceError):
    status = 422

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))

    @classmethod
    def one(cls, field: str, message: str) -> InvalidInput:
        return cls([{"field": field, "message": message}])

    @classmethod
    def from_core(cls, exc: NextofferError) -> InvalidInput:
        """A core error as the caller's mistake, at its field (``body``: the whole input)."""
        return cls.one(exc.field or "body", exc.message)

    @classmethod
    def from_validation(cls, exc: ValidationError) -> InvalidInput:
        """Every field Pydantic rejected, by its dotted location."""
        return cls([
            {"field": ".".join(str(p) for p in e["loc"]) or "body",
             "message": e["msg"].removeprefix("Value error, ")}
            for e in exc.errors(include_url=False)
        ])  # fmt: skip

    @classmethod
    def from_diagnostics(cls, diagnostics: list[Diagnostic]) -> InvalidInput:
        """Every problem a snapshot build found, at its place."""
        return cls([{"field": d.path, "message": d.message} for d in diagnostics])


def validated(model: type[_M], data: object) -> _M:
    """``data`` (JSON a caller gave: a file, a form) validated into ``model``; refused as an
    ``InvalidInput`` naming every field Pydantic rejected."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc) from None


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class TooManyAttempts(ServiceError):
    status = 429

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many refused API keys from this address; retry in {retry_after} s")


class Unavailable(ServiceError):
    status = 503
