"""The parameters of a coverage analysis (shared by the CLI, the API and the notebook)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Weight = Literal["population_60plus", "population_0_17", "population"]
DEFAULT_WEIGHT: dict[str, Weight] = {"eldercare_sites": "population_60plus",
                                     "child_sites": "population_0_17",
                                     "funeral_sites": "population"}


class WhatIfSite(BaseModel):
    """A hypothetical site added for this request only (nothing is written)."""

    model_config = ConfigDict(extra="forbid")

    lon: float = Field(ge=-180, le=180, description="longitude, CGCS2000 (EPSG:4490)")
    lat: float = Field(ge=-90, le=90, description="latitude, CGCS2000 (EPSG:4490)")
    kind: str = Field(description="kind of the site, e.g. 村级互助养老点")
    name: str | None = None
    radius_m: float | None = Field(default=None, gt=0, le=200_000,
                                   description="its own service radius (default: its kind's)")
    beds: int = Field(default=0, ge=0)
    nursing_beds: int = Field(default=0, ge=0)


class AccessOptions(BaseModel):
    """Two-step floating catchment (2SFCA) of site capacity (beds) per 1 000 of the weight."""

    model_config = ConfigDict(extra="forbid")

    catchment_m: float = Field(default=10_000, gt=0, le=200_000)
    catchment_minutes: float | None = Field(
        default=None, gt=0, le=600, description="catchment in travel minutes (walk/drive)")
    decay: Literal["none", "linear", "gaussian"] = "none"


class CoverageRequest(BaseModel):
    """Which sites serve which demand: layer, kinds, radii, what-if sites, extras."""

    model_config = ConfigDict(extra="forbid")

    layer: Literal["eldercare_sites", "funeral_sites", "child_sites"] = "eldercare_sites"
    kinds: list[str] = Field(default_factory=list, description="kinds to include (default all)")
    radius_m: float | None = Field(default=None, gt=0, le=200_000,
                                   description="one radius for every kind (overrides defaults)")
    kind_radii: dict[str, float] = Field(
        default_factory=dict, description="radius per kind, e.g. {'村级互助养老点': 1500}")
    weight: Weight | None = Field(default=None, description="demand field (default by layer)")
    include_under_construction: bool = Field(
        default=False, description="count sites with status 在建 (default: only 运营)")
    add_sites: list[WhatIfSite] = Field(default_factory=list)
    remove_sites: list[str] = Field(default_factory=list, description="site ids to leave out")
    radius_by: Literal["residents", "site"] = Field(
        default="residents", description="which radius applies: by the residents' unit "
        "(urban community vs rural village, default) or by where the site stands")
    access: AccessOptions | None = Field(default=None, description="also compute 2SFCA")
    gaps: bool = Field(default=True, description="compute gap polygons")
    distance: Literal["straight", "walk", "drive"] = Field(
        default="straight", description="straight line, or walking/driving along the roads layer")
    minutes: float | None = Field(default=None, gt=0, le=600, description="one travel-time "
                                  "radius in minutes for every radius kind (walk/drive)")

    @property
    def weight_field(self) -> Weight:
        """The demand field: the request's, else the layer's default."""
        return self.weight or DEFAULT_WEIGHT[self.layer]


class SuggestRequest(CoverageRequest):
    """Where N new sites of a kind would cover the most uncovered demand."""

    new_kind: str | None = Field(default=None, description="kind of the new sites "
                                 "(default: the first radius-rule kind analysed; with no "
                                 "kinds given, the layer's first radius-rule kind)")
    new_radius_m: float | None = Field(default=None, gt=0, le=200_000,
                                       description="radius of the new sites (default: kind's)")
    count: int = Field(default=3, ge=1, le=1000, description="how many new sites (MCLP)")
    candidates: Literal["units", "grid"] = "units"
    grid_spacing_m: float = Field(default=1000, ge=100, le=50_000)
    method: Literal["auto", "exact", "greedy"] = "auto"
    set_cover: bool = Field(default=True, description="also the minimum sites for full coverage")
    time_limit_s: float = Field(default=60, gt=0, le=3600, description="wall-time budget "
                                "(seconds) for the whole suggestion, model building included")
    solver: Literal["highs", "cbc"] = Field(
        default="highs", description="MIP solver (HiGHS: faster here, bench/bench_solvers.py)")
