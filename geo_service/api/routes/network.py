"""Road-network endpoints for planners: the graph summary and isochrones as GeoJSON."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from geo_service.access import Principal, Role
from geo_service.api.deps import require
from geo_service.network.speeds import Speeds

router = APIRouter(tags=["road network (planners)"])
Planner = Annotated[Principal, Depends(require(Role.planner))]


@router.get("/network", summary="The road graph: size, speeds, connected parts (planners)")
async def network_summary(request: Request, _: Planner) -> dict:
    """Nodes, edges, km, and per mode the connected parts (islands are never joined)."""
    from geo_service.network.store import road_graph

    engine = request.app.state.engine
    speeds = Speeds.configured(request.app.state.settings.data)
    return await run_in_threadpool(lambda: road_graph(engine).summary(speeds))


@router.get("/network/isochrones", summary="Isochrones of sites along roads, GeoJSON (planners)")
async def network_isochrones(
    request: Request, _: Planner,
    layer: Annotated[Literal["eldercare_sites", "funeral_sites", "child_sites"],
                     Query()] = "eldercare_sites",
    kind: Annotated[list[str], Query(description="kinds (default all); one set per kind")] = [],  # noqa: B006
    site: Annotated[list[str], Query(description="site ids: one set per site instead")] = [],  # noqa: B006
    minutes: Annotated[str, Query(max_length=100, description="e.g. 5,10,15")] = "5,10,15",
    mode: Annotated[Literal["walk", "drive"], Query()] = "walk",
) -> JSONResponse:
    """Nested 5/10/15-minute (or other) service areas in CGCS2000 lon/lat, for maps and QGIS."""
    from geo_service.network.service import isochrones_for, parse_minutes

    engine = request.app.state.engine
    doc = await run_in_threadpool(isochrones_for, engine, layer, kind, site,
                                  parse_minutes(minutes), mode,
                                  Speeds.configured(request.app.state.settings.data))
    return JSONResponse(doc, media_type="application/geo+json")
