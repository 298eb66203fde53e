"""Default service radii per facility kind, with their sources, and per-request overrides.

Three rules decide whether a site serves a demand unit:

- ``radius``: the unit's demand point lies within the site's radius (metres, on the
  CGCS2000 Gauss-Krüger plane). The radius is the ``urban`` one (a 社区, or any unit of a
  街道) or the ``rural`` one (a 村 of a 镇): by the residents' unit by default, or by where
  the site stands (``radius_by="site"``).
- ``township``: the site serves every unit of its own township (镇街-level facilities).
- ``district``: the site serves the whole district (区级 facilities).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from geo_service.errors import GeoServiceError

Rule = Literal["radius", "township", "district"]

# GB 50180-2018《城市居住区规划设计标准》§3.0.4: walking distances of the life circles.
LIFE_CIRCLE_M: dict[str, float] = {"5-min": 300.0, "10-min": 500.0, "15-min": 1000.0}
GB50180 = "GB 50180-2018 §3.0.4(15分钟生活圈 800–1000 米，取上限)"
GB50180_10 = "GB 50180-2018 §3.0.4(10分钟生活圈 500 米)"
RURAL_VILLAGE = ("规划假设：步行 4 公里/小时约 30 分钟走 2 公里；大足的村平均约 4.6 平方公里"
                 "(等面积圆半径约 1.2 公里)，自村中心附近 2 公里可达全村")
RURAL_INSTITUTION = "规划假设：大足丘陵农村约 15 分钟车程 5 公里"
TOWNSHIP = "每个镇街一处：服务本镇街全部村(社区)(按所属关系，不按距离)"
DISTRICT = "区级设施：服务全区"
OVERRIDE = "本次分析指定的半径"


@dataclass(frozen=True)
class RadiusRule:
    """How one kind of site serves demand units, and why."""

    layer: str
    kind: str
    rule: Rule
    urban_m: float | None = None
    rural_m: float | None = None
    source: str = ""

    def radius_for(self, urban: bool) -> float | None:
        """The radius in metres for a site in an urban or rural unit (None for membership)."""
        if self.rule != "radius":
            return None
        return self.urban_m if urban else self.rural_m

    def as_dict(self) -> dict:
        """JSON form, as reported with every result."""
        return {"layer": self.layer, "kind": self.kind, "rule": self.rule,
                "urban_m": self.urban_m, "rural_m": self.rural_m, "source": self.source}


def _r(layer: str, kind: str, urban: float, rural: float, source: str) -> RadiusRule:
    return RadiusRule(layer, kind, "radius", urban, rural, source)


def _t(layer: str, kind: str) -> RadiusRule:
    return RadiusRule(layer, kind, "township", source=TOWNSHIP)


def _d(layer: str, kind: str) -> RadiusRule:
    return RadiusRule(layer, kind, "district", source=DISTRICT)


E, F, C = "eldercare_sites", "funeral_sites", "child_sites"
DEFAULT_RULES: tuple[RadiusRule, ...] = (
    _r(E, "社区养老服务站", 1000, 2000, f"城镇：{GB50180}；农村：{RURAL_VILLAGE}"),
    _r(E, "村级互助养老点", 1000, 2000, f"城镇：{GB50180}；农村：{RURAL_VILLAGE}"),
    _r(E, "老年食堂", 500, 1000, f"城镇：{GB50180_10}；农村：规划假设，步行约 15 分钟 1 公里就餐"),
    _r(E, "养老机构", 1000, 5000,
       f"城镇：{GB50180}(养老院属 15 分钟生活圈设施)；农村：{RURAL_INSTITUTION}"),
    _t(E, "特困人员供养服务机构(敬老院)"),
    _t(E, "镇街养老服务中心"),
    _d(E, "失能特困人员集中照护中心"),
    _d(F, "殡仪馆"),
    _d(F, "城市公益性公墓"),
    _d(F, "经营性公墓"),
    _d(F, "烈士陵园"),
    _t(F, "农村公益性公墓(集中安葬点)"),
    _t(F, "公益性骨灰安放设施"),
    _t(F, "治丧服务点"),
    _r(C, "儿童之家", 1000, 2000, f"城镇：{GB50180}；农村：{RURAL_VILLAGE}"),
    _t(C, "镇街未成年人保护工作站"),
    _d(C, "儿童福利机构"),
    _d(C, "未成年人救助保护中心"),
    _d(C, "儿童社会工作服务中心"),
)
_BY_KEY = {(r.layer, r.kind): r for r in DEFAULT_RULES}


def _check_radius(value: float, what: str) -> float:
    value = float(value)
    if not (0 < value <= 200_000):
        raise GeoServiceError(f"{what}: a radius must be between 0 and 200000 metres, not {value}")
    return value


def rules_for(
    layer: str,
    kinds: list[str],
    radius_m: float | None = None,
    kind_radii: Mapping[str, float] | None = None,
) -> dict[str, RadiusRule]:
    """The rule per kind: defaults, then `radius_m` for all kinds, then `kind_radii` per kind."""
    kind_radii = dict(kind_radii or {})
    unknown = sorted(set(kind_radii) - set(kinds))
    if unknown:
        raise GeoServiceError(f"radius given for kind(s) not analysed: {', '.join(unknown)}")
    out: dict[str, RadiusRule] = {}
    for kind in kinds:
        rule = _BY_KEY.get((layer, kind))
        given = kind_radii.get(kind, radius_m)
        if given is not None:
            value = _check_radius(given, f"radius for {kind}")
            rule = RadiusRule(layer, kind, "radius", value, value, OVERRIDE)
        if rule is None:
            raise GeoServiceError(
                f"no default service radius for kind {kind!r} of {layer}: give --radius")
        out[kind] = rule
    return out


def override(rule: RadiusRule, radius_m: float) -> RadiusRule:
    """The same rule with one radius for urban and rural sites."""
    value = _check_radius(radius_m, f"radius for {rule.kind}")
    return replace(rule, rule="radius", urban_m=value, rural_m=value, source=OVERRIDE)
