"""Errors of the boundary work, each with the HTTP status it maps to."""

from __future__ import annotations

from geo_service.errors import ConflictError, GeoServiceError  # noqa: F401  (re-export)


class BoundaryInputError(GeoServiceError):
    """Well-formed but unacceptable input (names the field and the problem)."""

    status_code = 422


class NotYourSideError(GeoServiceError):
    """A sign-off by an officer who does not belong to that side of the line."""

    status_code = 403


class PayloadTooLargeError(GeoServiceError):
    """An upload above the size limit."""

    status_code = 413


class UnsupportedMediaError(GeoServiceError):
    """An upload whose content is not an accepted image type."""

    status_code = 415


class OutsideAreaError(GeoServiceError):
    """A location outside the area the record belongs to."""

    status_code = 400
