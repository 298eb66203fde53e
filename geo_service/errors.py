"""Exceptions the service raises on purpose; each carries the HTTP status it maps to."""

from __future__ import annotations


class GeoServiceError(Exception):
    """Base of every error meant for the user; its message says what and where."""

    status_code = 400


class DatabaseUnavailableError(GeoServiceError):
    """The database cannot be reached, started or used."""

    status_code = 503


class UnknownLayerError(GeoServiceError):
    """A layer id that the catalogue does not define."""

    status_code = 404


class NotFoundError(GeoServiceError):
    """A record that does not exist (or is not visible to the caller)."""

    status_code = 404


class InputFileError(GeoServiceError):
    """A file that cannot be read as a layer at all (format, encoding, missing columns)."""

    status_code = 400


class ConflictError(GeoServiceError):
    """The record's state or key forbids the change (signed off, key taken …)."""

    status_code = 409


class PreconditionFailedError(GeoServiceError):
    """If-Match names a version that is no longer current: someone else saved first."""

    status_code = 412


class PreconditionRequiredError(GeoServiceError):
    """A change without If-Match: the caller must say which version it edits."""

    status_code = 428


class LoadRejectedError(GeoServiceError):
    """A load with bad rows: nothing was written."""

    status_code = 422

    def __init__(self, message: str, problems: list) -> None:
        super().__init__(message)
        self.problems = problems

