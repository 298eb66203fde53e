"""Editing features (OGC API – Features Part 4 style): POST, PUT, PATCH, DELETE on items."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine

from geo_service.access import Principal, Role
from geo_service.api.deps import get_engine_dep, require
from geo_service.editing import service
from geo_service.errors import LoadRejectedError

router = APIRouter(tags=["editing"])
Editor = Annotated[Principal, Depends(require(Role.data_editor))]
EngineDep = Annotated[Engine, Depends(get_engine_dep)]
LayerId = Annotated[str, Path(description="layer id, e.g. eldercare_sites", max_length=64,
                                  alias="collection_id")]
FeatureId = Annotated[int, Path(ge=1, le=2**62, description="the feature's id")]
IfMatch = Annotated[str | None, Header(description="the feature's ETag, from GET or the last "
                                                    "write", max_length=500)]
FEATURE_EXAMPLE = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [105.72, 29.70]},
    "properties": {"name": "龙岗街道老年食堂", "kind": "老年食堂", "is_public": True},
}
Feature = Annotated[dict[str, Any], Body(description="a GeoJSON Feature (CGCS2000 lon/lat)",
                                         examples=[FEATURE_EXAMPLE])]
GEOJSON = "application/geo+json"


def _reply(request: Request, written: service.Written, status: int, layer: str) -> JSONResponse:
    headers = {"ETag": written.etag or "", "X-Feature-Version": str(written.version)}
    if status == 201 and written.feature:
        headers["Location"] = str(request.url_for("get_feature_versions", collection_id=layer,
                                                  feature_id=written.feature["id"])
                                  ).removesuffix("/versions")
    return JSONResponse(written.feature, status_code=status, headers=headers, media_type=GEOJSON)


def _rejected(exc: LoadRejectedError) -> HTTPException:
    return HTTPException(422, {"message": str(exc),
                               "problems": [p.as_dict() for p in exc.problems]})


@router.post("/collections/{collection_id}/items", status_code=201,
             summary="Create a feature (data_editor)")
def create_feature(request: Request, layer: LayerId, feature: Feature, who: Editor,
                   engine: EngineDep) -> JSONResponse:
    """Validated like the loader (geometry, kind, inside the district); audited."""
    try:
        with engine.begin() as conn:
            written = service.create(conn, who, layer, feature, _request_id(request))
    except LoadRejectedError as exc:
        raise _rejected(exc) from exc
    return _reply(request, written, 201, layer)


@router.put("/collections/{collection_id}/items/{feature_id}",
            summary="Replace a feature (data_editor; If-Match required)")
def replace_feature(request: Request, layer: LayerId, feature_id: FeatureId, feature: Feature,
                    who: Editor, engine: EngineDep, if_match: IfMatch = None) -> JSONResponse:
    """Replace properties and geometry; the previous version is kept."""
    return _update(request, layer, feature_id, feature, who, engine, if_match, merge=False)


@router.patch("/collections/{collection_id}/items/{feature_id}",
              summary="Change some properties or the geometry (data_editor; If-Match required)")
def patch_feature(request: Request, layer: LayerId, feature_id: FeatureId, feature: Feature,
                  who: Editor, engine: EngineDep, if_match: IfMatch = None) -> JSONResponse:
    """Merge the given properties (and geometry, if any) into the feature."""
    return _update(request, layer, feature_id, feature, who, engine, if_match, merge=True)


def _update(request: Request, layer: str, feature_id: int, feature: dict, who: Principal,
            engine: Engine, if_match: str | None, *, merge: bool) -> JSONResponse:
    try:
        with engine.begin() as conn:
            written = service.update(conn, who, layer, feature_id, feature, if_match,
                                     merge=merge, request_id=_request_id(request))
    except LoadRejectedError as exc:
        raise _rejected(exc) from exc
    return _reply(request, written, 200, layer)


@router.delete("/collections/{collection_id}/items/{feature_id}", status_code=204,
               summary="Delete a feature (data_editor; If-Match required)")
def delete_feature(request: Request, layer: LayerId, feature_id: FeatureId, who: Editor,
                   engine: EngineDep, if_match: IfMatch = None) -> Response:
    """Delete; the last version stays in feature_versions and the audit log."""
    with engine.begin() as conn:
        written = service.delete(conn, who, layer, feature_id, if_match, _request_id(request))
    return Response(status_code=204, headers={"X-Feature-Version": str(written.version)})


@router.get("/collections/{collection_id}/items/{feature_id}/versions",
            name="get_feature_versions",
            summary="Previous versions of a feature (data_editor)")
def get_feature_versions(layer: LayerId, feature_id: FeatureId, who: Editor,
                         engine: EngineDep) -> dict:
    """Every kept previous version, oldest first, with who replaced it and when."""
    with engine.connect() as conn:
        kept = service.versions(conn, layer, feature_id)
        etag = None
        with contextlib.suppress(service.NotFoundError):
            etag = service.current_etag(conn, layer, feature_id)
    if not kept and etag is None:
        raise service.NotFoundError(f"{layer} has no feature {feature_id}")
    return {"layer": layer, "id": feature_id, "current_etag": etag, "versions": kept}


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)
