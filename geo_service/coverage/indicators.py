"""The five-year-plan (十四五) eldercare, burial and child-protection indicators vs 2025 targets."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo_service.coverage.data import Study

COMPREHENSIVE_KINDS = ("镇街养老服务中心",)
STATION_KINDS = ("社区养老服务站", "村级互助养老点", "镇街养老服务中心")
PUBLIC_BURIAL_KINDS = ("城市公益性公墓", "农村公益性公墓(集中安葬点)", "公益性骨灰安放设施")
MINOR_PROTECTION_KINDS = ("镇街未成年人保护工作站",)
GOVERNMENT_OPERATED = "公办"
OPERATING = "运营"


@dataclass(frozen=True)
class Indicator:
    """One plan indicator: id, Chinese title, 2025 target and how a value is compared with it."""

    id: str
    title: str
    unit: str
    target: float | None
    compare: str | None  # ">=", "<=" or None (informational)
    definition: str

    def status(self, value: float | None) -> str:
        """'met', 'not met', 'no data' or 'info' (no target)."""
        if self.target is None or self.compare is None:
            return "info"
        if value is None:
            return "no data"
        ops: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le}
        return "met" if ops[self.compare](round(value, 6), self.target) else "not met"


INDICATORS: tuple[Indicator, ...] = (
    Indicator("total_beds", "养老床位总数", "beds", 10_000, ">=",
              "beds of eldercare sites in operation (运营)"),
    Indicator("nursing_bed_share", "护理型床位占比", "share", 0.60, ">=",
              "nursing beds / beds, eldercare sites in operation"),
    Indicator("government_bed_share", "公办(政府运营)床位占比", "share", 0.40, "<=",
              "beds of sites with 运营方式 公办 / beds (公建民营 counts as not government-run)"),
    Indicator("townships_with_comprehensive_centre", "镇街综合养老服务机构覆盖率", "share", 0.90,
              ">=", "townships with a " + "/".join(COMPREHENSIVE_KINDS) + " in operation"),
    Indicator("units_with_station", "村(社区)养老服务站点覆盖率", "share", 1.0, ">=",
              "villages/communities whose polygon holds a " + "/".join(STATION_KINDS)),
    Indicator("townships_with_public_burial", "镇街公益性安葬设施覆盖率", "share", 1.0, ">=",
              "townships with a " + "/".join(PUBLIC_BURIAL_KINDS) + " in operation"),
    Indicator("townships_with_minor_protection", "镇街未成年人保护工作站覆盖率", "share", 0.50,
              ">=", "townships with a 镇街未成年人保护工作站 in operation"),
    Indicator("beds_per_100_elderly", "每百名老年人养老床位数", "beds per 100 aged 60+", None,
              None, "beds in operation × 100 / residents aged 60+"),
)
BY_ID = {i.id: i for i in INDICATORS}


def _ratio(a: float, b: float) -> float | None:
    """The exact ratio (reports round it once, when they show it)."""
    return a / b if b else None


def _operating(sites: pd.DataFrame) -> pd.DataFrame:
    return sites[sites.status.fillna(OPERATING) == OPERATING]


def _values(eld: pd.DataFrame, fun: pd.DataFrame, child: pd.DataFrame, units: pd.DataFrame,
            towns: list[str]) -> dict[str, float | None]:
    """Indicator values over the given sites, units and township codes."""
    beds = float(eld.beds.sum())

    def share_with(sites: pd.DataFrame, kinds: tuple[str, ...]) -> float | None:
        have = set(sites[sites.kind.isin(kinds)].township_code)
        return _ratio(sum(t in have for t in towns), len(towns))

    station_units = set(eld[eld.kind.isin(STATION_KINDS)].unit_code.dropna())
    return {
        "total_beds": beds,
        "nursing_bed_share": _ratio(float(eld.nursing_beds.sum()), beds),
        "government_bed_share": _ratio(
            float(eld.beds[eld.operator_type == GOVERNMENT_OPERATED].sum()), beds),
        "townships_with_comprehensive_centre": share_with(eld, COMPREHENSIVE_KINDS),
        "units_with_station": _ratio(float(units.code.isin(station_units).sum()), len(units)),
        "townships_with_public_burial": share_with(fun, PUBLIC_BURIAL_KINDS),
        "townships_with_minor_protection": share_with(child, MINOR_PROTECTION_KINDS),
        "beds_per_100_elderly": (round(beds * 100 / units.population_60plus.sum(), 3)
                                 if units.population_60plus.sum() else None),
    }


DISTRICT_ONLY = frozenset({"total_beds"})  # a district-wide target: no per-township target


def _rows(values: dict[str, float | None], township: bool = False) -> list[dict]:
    rows = []
    for i in INDICATORS:
        given = values[i.id]
        value = None if given is None else float(given)
        own = Indicator(i.id, i.title, i.unit, None, None, i.definition) if (
            township and i.id in DISTRICT_ONLY) else i
        rows.append({"id": i.id, "title": i.title, "unit": i.unit, "value": value,
                     "target": own.target, "compare": own.compare,
                     "status": own.status(value)})
    return rows


def compute_indicators(study: Study) -> dict:
    """District and per-township indicators, with status against the 2025 targets."""
    eld = _operating(study.sites["eldercare_sites"])
    fun = _operating(study.sites["funeral_sites"])
    child = _operating(study.sites["child_sites"])
    all_towns = list(study.townships.code)
    district = _values(eld, fun, child, study.units, all_towns)
    building = study.sites["eldercare_sites"]
    building = building[building.status == "在建"]
    townships = []
    for code, name in zip(study.townships.code, study.townships.name, strict=True):
        units = study.units[study.units.township_code == code]
        vals = _values(eld[eld.township_code == code], fun[fun.township_code == code],
                       child[child.township_code == code], units, [code])
        missing = units[~units.code.isin(set(eld[eld.kind.isin(STATION_KINDS)].unit_code))]
        townships.append({"code": code, "name": name, "indicators": _rows(vals, township=True),
                          "units_without_station": [
                              {"code": c, "name": n} for c, n in zip(
                                  missing.code, missing.name, strict=True)]})
    out = {"district": {"code": study.district_code, "name": study.district_name,
                        "indicators": _rows(district),
                        "beds_under_construction": int(building.beds.sum())},
           "townships": townships,
           "definitions": [{"id": i.id, "definition": i.definition} for i in INDICATORS],
           "target_year": 2025}
    if study.illustrative:
        out["illustrative"] = True
        out["note"] = "示意数据: the 大足 sample's facilities and populations are illustrative"
    return out


def status_counts(rows: list[dict]) -> dict[str, int]:
    """How many indicators are met / not met."""
    statuses = np.array([r["status"] for r in rows])
    return {s: int((statuses == s).sum()) for s in ("met", "not met", "info", "no data")}
