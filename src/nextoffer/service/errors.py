"""The service's errors, mapped to HTTP once, at the edge (``app.py``).

ServiceError                 -- anything the caller did that we refuse
 +-- InvalidInput (422)      -- a field is wrong; ``errors`` names each field
 +-- NotFound (404)          -- no such thing
 +-- Conflict (409)          -- it exists already, or clashes with what exists
 +-- Unauthorized (401)      -- no API key, or an unknown one
 +-- Forbidden (403)         -- the key's role may not do this
"""

from __future__ import annotations

__all__ = ["Conflict", "Forbidden", "InvalidInput", "NotFound", "ServiceError", "Unauthorized"]


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


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403
