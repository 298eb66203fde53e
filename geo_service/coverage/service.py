"""Run a coverage request on a study: select sites, apply what-ifs, assign, summarise."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from geo_service import crs
from geo_service.coverage import engine
from geo_service.coverage.data import Study, layer_kinds, locate_sites
from geo_service.coverage.distance import DistanceModel
from geo_service.coverage.radii import RadiusRule, rules_for
from geo_service.coverage.request import CoverageRequest, WhatIfSite
from geo_service.errors import GeoServiceError
from geo_service.network import coverage as net_cov
from geo_service.network.coverage import ROUTE_COLUMNS
from geo_service.network.model import NetworkDistanceModel

ILLUSTRATIVE_NOTE = ("示意数据: facility positions, village/township polygons and populations of "
                     "the 大足 sample are illustrative, not surveyed")
WHATIF_TOLERANCE_M = 200.0
RADIUS_BY_SOURCE = {
    "residents": "居民规则：半径按需求单元(村/社区)的城乡属性取值——社区(或街道内)用城镇半径，"
                 "镇的村用农村半径(GB 50180-2018 生活圈按居民步行距离定义)",
    "site": "设施规则：半径按设施所在位置的城乡属性取值(设施在社区或街道内用城镇半径，"
            "否则用农村半径)",
}


@dataclass
class CoverageResult:
    """Everything one analysis produced (arrays for reports, `to_json` for callers)."""

    request: CoverageRequest
    study: Study
    kinds: list[str]
    rules: dict[str, RadiusRule]
    sites: pd.DataFrame
    units: pd.DataFrame
    district: dict
    townships: list[dict]
    gaps: list[dict] = field(default_factory=list)
    service_area: shapely.Geometry | None = None
    model_name: str = ""
    removed: pd.DataFrame = field(default_factory=pd.DataFrame)
    network: dict | None = None  # road-network details when distance is walk/drive
    isochrones: dict | None = None  # GeoJSON isochrones along the roads (walk/drive)

    @property
    def weight(self) -> str:
        """The demand field the shares are computed on."""
        return self.request.weight_field

    def uncovered(self) -> pd.DataFrame:
        """Uncovered units, most demand first."""
        u = self.units[~self.units.covered]
        return u.sort_values([self.weight, "code"], ascending=[False, True])

    def unit_records(self) -> list[dict]:
        """Per-unit JSON rows."""
        cols = ["code", "name", "township_code", "township", "lon", "lat", "urban", "population",
                "population_60plus", "population_0_17", "nearest_id", "nearest_name",
                "nearest_kind", "nearest_distance_m", "covered", "covered_by"]
        cols += [c for c in ROUTE_COLUMNS if c in self.units]
        if "access" in self.units:
            cols.append("access")
        frame = self.units[cols].astype(object).where(self.units[cols].notna(), None)
        return frame.to_dict("records")

    def whatif_changes(self) -> dict:
        """Exactly the hypothetical changes applied: sites added and sites left out."""
        added = self.sites[self.sites.whatif]
        own = added.radius_m.to_numpy(float)
        return {"added": [{"id": i, "name": n, "kind": k, "lon": float(x), "lat": float(y),
                           "township_code": t, "radius_m": None if np.isnan(r) else float(r)}
                          for i, n, k, x, y, t, r in zip(
                              added.id, added.name, added.kind, added.lon.to_numpy(float),
                              added.lat.to_numpy(float), added.township_code, own,
                              strict=True)],
                "removed": [{"id": r.id, "name": r.name, "kind": r.kind,
                             "township_code": r.township_code}
                            for r in self.removed.itertuples()]}

    def metadata(self) -> dict:
        """What was analysed and how."""
        meta = {"layer": self.request.layer, "kinds": self.kinds, "weight": self.weight,
                "distance_model": self.model_name,
                "radii": [r.as_dict() for r in self.rules.values()],
                "sites_used": len(self.sites),
                "radius_by": self.request.radius_by,
                "radius_by_source": RADIUS_BY_SOURCE[self.request.radius_by],
                "whatif_added": int(self.sites.whatif.sum()),
                "whatif_removed": [str(i) for i in self.removed.get("id", [])],
                "whatif": self.whatif_changes(),
                "include_under_construction": self.request.include_under_construction}
        if self.network is not None:
            meta["network"] = self.network
        if self.request.access:
            meta["access"] = {**self.request.access.model_dump(),
                              "unit": f"beds per 1 000 {self.weight}"}
        if self.study.illustrative:
            meta["illustrative"] = True
            meta["note"] = ILLUSTRATIVE_NOTE
        return meta

    def to_json(self) -> dict:
        """The result as the CLI and `POST /coverage` return it."""
        ranked = self.uncovered()
        return {**self.metadata(), "district": self.district, "townships": self.townships,
                "units": self.unit_records(),
                "uncovered": [{"code": r.code, "name": r.name, "township": r.township,
                               self.weight: int(getattr(r, self.weight)),
                               "nearest_distance_m": r.nearest_distance_m}
                              for r in ranked.itertuples()],
                "gaps": self.gaps_geojson(),
                **({"isochrones": self.isochrones} if self.isochrones else {})}

    def gaps_geojson(self) -> dict:
        """Gap polygons (EPSG:4490) as a FeatureCollection."""
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": shapely.geometry.mapping(g["geometry"]),
             "properties": {"area_km2": g["area_km2"], "township_codes": g["township_codes"]}}
            for g in self.gaps]}

    def to_geojson(self) -> dict:
        """Units as Point features; district, townships, gaps and metadata as foreign members."""
        features = [{"type": "Feature", "id": rec["code"],
                     "geometry": {"type": "Point", "coordinates": [rec["lon"], rec["lat"]]},
                     "properties": rec} for rec in self.unit_records()]
        return {"type": "FeatureCollection", "features": features, **self.metadata(),
                "district": self.district, "townships": self.townships,
                "gaps": self.gaps_geojson()}


def select_sites(study: Study, req: CoverageRequest, kinds: list[str]
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sites of the kinds in operation (or also 在建), minus removals, plus what-ifs.

    Returns (the sites used, the sites removed). A removal that would change nothing (an
    unknown id, a kind not analysed, a site not in operation) is an error naming it."""
    sites = study.layer_sites(req.layer)
    keep = sites.kind.isin(kinds)
    if not req.include_under_construction:
        keep &= sites.status.fillna("运营") == "运营"
    missing = [i for i in dict.fromkeys(req.remove_sites) if i not in set(sites.id)]
    if missing:
        raise GeoServiceError(f"remove_sites: no site with id {', '.join(missing)} in {req.layer}")
    by_id = sites.set_index("id")
    for site_id in dict.fromkeys(req.remove_sites):
        row = by_id.loc[site_id]
        if row.kind not in kinds:
            raise GeoServiceError(
                f"remove_sites: {site_id} ({row['name']}) is a {row.kind}, not among the kinds "
                f"analysed ({'、'.join(kinds)}): removing it would change nothing")
        if not keep[sites.id == site_id].any():
            raise GeoServiceError(
                f"remove_sites: {site_id} ({row['name']}) has status {row.status}, so it is not "
                "counted (add include_under_construction to count sites 在建)")
    gone = sites.id.isin(req.remove_sites)
    removed = sites[keep & gone].copy()
    chosen = sites[keep & ~gone].copy()
    chosen["radius_m"] = np.nan
    if req.add_sites:
        chosen = pd.concat([chosen, whatif_frame(study, req.layer, req.add_sites, kinds)],
                           ignore_index=True)
    return chosen.reset_index(drop=True), removed.reset_index(drop=True)


def whatif_frame(study: Study, layer: str, add: list[WhatIfSite], kinds: list[str]
                 ) -> pd.DataFrame:
    """Hypothetical sites as rows like the layer's (ids whatif-1, whatif-2 …)."""
    canonical = layer_kinds(layer, [s.kind for s in add])
    for i, kind in enumerate(canonical):
        if kind not in kinds:
            raise GeoServiceError(f"add_sites[{i}]: kind {kind} is not among the kinds "
                                  f"analysed ({', '.join(kinds)})")
    lon = np.array([s.lon for s in add])
    lat = np.array([s.lat for s in add])
    district = crs.to_metric(study.district_geom)
    pts = crs.to_metric(shapely.points(lon, lat))
    far = np.flatnonzero(shapely.distance(district, pts) > WHATIF_TOLERANCE_M)
    if len(far):
        i = int(far[0])
        raise GeoServiceError(f"add_sites[{i}]: ({lon[i]}, {lat[i]}) lies outside "
                              f"{study.district_name}")
    frame = pd.DataFrame({
        "id": [f"whatif-{i + 1}" for i in range(len(add))],
        "name": [s.name or f"新增{k}({i + 1})" for i, (s, k) in enumerate(
            zip(add, canonical, strict=True))],
        "kind": canonical, "lon": lon, "lat": lat, "township_code": None,
        "beds": [s.beds for s in add], "nursing_beds": [s.nursing_beds for s in add],
        "operator_type": None, "status": "运营", "is_public": True, "whatif": True,
        "illustrative": False,
        "radius_m": [np.nan if s.radius_m is None else s.radius_m for s in add]})
    return locate_sites(study, frame)


def run_coverage(study: Study, req: CoverageRequest, model: DistanceModel | None = None
                 ) -> CoverageResult:
    """The full analysis of one request."""
    model = model if model is not None else net_cov.pick_model(study, req)
    roads = model if isinstance(model, NetworkDistanceModel) else None
    on_roads = roads is not None
    kinds = layer_kinds(req.layer, req.kinds)
    rules = rules_for(req.layer, kinds, req.radius_m, req.kind_radii)
    sites, removed = select_sites(study, req, kinds)
    units = study.units.drop(columns="geom").copy()
    unit_xy = np.column_stack(model.project(units.lon.to_numpy(), units.lat.to_numpy()))
    site_xy = np.column_stack(model.project(sites.lon.to_numpy(float),
                                            sites.lat.to_numpy(float)))
    radius_m, rural_radius_m, rule = engine.site_radii(sites, rules, req.radius_by)
    radius = net_cov.cost_radii(model, req, sites, radius_m)  # seconds along roads
    rural_radius = net_cov.cost_radii(model, req, sites, rural_radius_m)
    a = engine.assign(unit_xy, units.township_code.to_numpy(), site_xy,
                      sites.township_code.to_numpy(), radius, rule, model,
                      unit_urban=units.urban.to_numpy(bool), rural_radius=rural_radius)
    has = a.nearest >= 0
    pick = a.nearest.clip(0)
    units["township"] = units.township_code.map(
        dict(zip(study.townships.code, study.townships.name, strict=True)))
    none = np.full(len(units), None, dtype=object)  # "no site in reach"
    units["nearest_id"] = np.where(has, sites.id.to_numpy()[pick], none)
    units["nearest_name"] = np.where(has, sites.name.to_numpy()[pick], none)
    units["nearest_kind"] = np.where(has, sites.kind.to_numpy()[pick], none)
    units["nearest_distance_m"] = np.where(has, np.round(a.distance, 3), np.nan)
    if roads is not None:
        net_cov.route_columns(roads, unit_xy, site_xy, units)
        units["nearest_distance_m"] = np.round(net_cov.travelled_m(units), 1)
    units["covered"] = a.covered
    units["covered_by"] = a.covered_by
    sites = sites.assign(urban_radius_m=radius_m, rural_radius_m=rural_radius_m, rule=rule)
    if roads is not None:  # the radii actually used: travel minutes along the roads
        sites = sites.assign(urban_radius_minutes=radius / 60.0,
                             rural_radius_minutes=rural_radius / 60.0)
    if req.access:
        access, _ = engine.two_step(unit_xy, units[req.weight_field].to_numpy(float), site_xy,
                                    sites.beds.to_numpy(float), net_cov.catchment(model, req),
                                    req.access.decay, model)
        units["access"] = np.round(access, 4)
    weight = req.weight_field
    district = {"code": study.district_code, "name": study.district_name,
                **engine.summarise(units, a.covered, weight)}
    result = CoverageResult(req, study, kinds, rules, sites, units, district,
                            engine.by_township(units, study.townships, a.covered, weight),
                            model_name=model.name, removed=removed)
    if roads is not None:
        result.network = net_cov.metadata(roads, req, unit_xy, units, site_xy)
    if req.gaps:
        towns_m = pd.Series(list(crs.to_metric(study.townships.geom.to_numpy())),
                            index=study.townships.code)
        district_m = crs.to_metric(study.district_geom)
        urban_zone = shapely.union_all(crs.to_metric(
            study.units.geom[study.units.urban.to_numpy(bool)].to_numpy()))
        circles = np.full(len(sites), np.nan)  # along roads: isochrones instead of circles
        served = engine.service_area(site_xy, circles if on_roads else radius, rule,
                                     sites.township_code.to_numpy(), towns_m, district_m,
                                     circles if on_roads else rural_radius, urban_zone)
        if roads is not None and not (rule == "district").any():
            served = shapely.union_all([served, net_cov.network_area(
                roads, site_xy, radius, rule, rural_radius, urban_zone)])
        result.service_area = crs.from_metric(served)
        result.gaps = engine.gap_polygons(district_m, served, towns_m)
        if roads is not None:
            result.isochrones = net_cov.report_isochrones(roads, req, site_xy, rule)
    return result
