"""Planners' coverage endpoints: POST /coverage, GET /indicators, POST /coverage/suggest."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response

from geo_service.access import Principal, Role
from geo_service.api.deps import require
from geo_service.coverage.data import Study, load_study
from geo_service.coverage.indicators import compute_indicators
from geo_service.coverage.request import CoverageRequest, SuggestRequest
from geo_service.coverage.service import run_coverage
from geo_service.coverage.suggest import suggest, suggestion_result
from geo_service.network.speeds import Speeds
from geo_service.ops.middleware import REPORT_CSP

router = APIRouter(tags=["coverage (planners)"])
Planner = Annotated[Principal, Depends(require(Role.planner))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REPORT_HEADERS = {"Content-Security-Policy": REPORT_CSP}  # self-contained: sandboxed


def _study(request: Request) -> Study:
    data = request.app.state.settings.data
    return load_study(request.app.state.engine, data.district_code, Speeds.configured(data))


def _coverage(request: Request, body: CoverageRequest, fmt: str) -> Response:
    study = _study(request)
    result = run_coverage(study, body)
    if fmt == "geojson" or (fmt == "json" and "geo+json" in request.headers.get("accept", "")):
        return JSONResponse(result.to_geojson(), media_type="application/geo+json")
    if fmt == "html":
        from geo_service.coverage.report_html import render_report

        return HTMLResponse(render_report(result, compute_indicators(study)),
                            headers=REPORT_HEADERS)
    if fmt == "xlsx":
        from geo_service.coverage.report_xlsx import write_workbook

        with tempfile.TemporaryDirectory() as tmp:
            path = write_workbook(result, Path(tmp) / "coverage.xlsx", compute_indicators(study))
            data = path.read_bytes()
        return Response(data, media_type=XLSX, headers={
            "Content-Disposition": 'attachment; filename="coverage.xlsx"'})
    return JSONResponse(result.to_json())


@router.post("/coverage", summary="Coverage of demand units by sites, with what-ifs (planners)")
async def coverage(
    request: Request, body: CoverageRequest, _: Planner,
    format: Annotated[Literal["json", "geojson", "html", "xlsx"], Query(
        description="json (default), geojson (units as points), html report or xlsx")] = "json",
) -> Response:
    """Per unit, township and district coverage; uncovered ranked; gaps; optional 2SFCA.

    `add_sites` / `remove_sites` are hypothetical: nothing is written."""
    return await run_in_threadpool(_coverage, request, body, format)


@router.get("/indicators", summary="Plan indicators vs 2025 targets (planners)")
async def indicators(request: Request, _: Planner) -> dict:
    """District and per-township indicators with target and status."""
    return await run_in_threadpool(lambda: compute_indicators(_study(request)))


def _suggest(request: Request, body: SuggestRequest, fmt: str) -> Response:
    study = _study(request)
    result = suggest(study, body)
    if fmt == "html":
        from geo_service.coverage.report_html import render_report

        return HTMLResponse(render_report(suggestion_result(study, body, result),
                                          suggestion=result), headers=REPORT_HEADERS)
    return JSONResponse(result)


@router.post("/coverage/suggest", summary="Where new sites cover the most (MCLP) (planners)")
async def coverage_suggest(
    request: Request, body: SuggestRequest, _: Planner,
    format: Annotated[Literal["json", "html"], Query(description="json or html report")] = "json",
) -> Response:
    """Maximal covering (exact ILP or greedy with LP gap) and set covering; nothing is written."""
    return await run_in_threadpool(_suggest, request, body, format)
