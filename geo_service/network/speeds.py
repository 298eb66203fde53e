"""Travel speeds: walking (older people) and driving per road class, with their sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from geo_service.settings import DataSettings

Mode = Literal["walk", "drive"]
MODES: tuple[Mode, ...] = ("walk", "drive")

WALK_KMH = 3.6
WALK_SOURCE = ("3.6 km/h = 1.0 m/s, a planning walking speed for older pedestrians: "
               "Studenski et al., 'Gait speed and survival in older adults', JAMA 2011;305(1) "
               "(mean usual gait speed 0.92 m/s in 34 485 people aged 65+), rounded up for "
               "people who still walk to a service; younger adults walk ≈ 1.3 m/s (4.8 km/h)")

# Driving speeds per 道路等级 (km/h): planning assumptions below the design speeds of
# JTG B01-2014《公路工程技术标准》(highways by grade) and CJJ 37-2012《城市道路工程设计规范》
# (urban roads), lowered for 大足's hills, bends and village traffic. A road's own 限速
# (speed_kmh) wins over its class default.
DRIVE_KMH: dict[str, float] = {
    "高速公路": 90.0, "国道": 60.0, "省道": 50.0, "县道": 40.0, "乡道": 30.0, "村道": 20.0,
    "城市快速路": 60.0, "城市主干路": 40.0, "城市次干路": 30.0, "城市支路": 20.0,
    "其他道路": 15.0,
}
DRIVE_SOURCE = ("planning assumption per road class, below the design speeds of JTG B01-2014 "
                "and CJJ 37-2012; a road's own 限速 wins")
NOT_WALKABLE = frozenset({"高速公路", "城市快速路"})  # no pedestrians on expressways
NOT_DRIVABLE = frozenset({"步行道"})


@dataclass(frozen=True)
class Speeds:
    """Walking speed and driving speeds per class (km/h) used to turn metres into seconds."""

    walk_kmh: float = WALK_KMH
    drive_kmh: dict[str, float] = field(default_factory=lambda: dict(DRIVE_KMH))

    @property
    def walk_mps(self) -> float:
        """Walking speed in metres per second."""
        return self.walk_kmh / 3.6

    @classmethod
    def configured(cls, data: DataSettings) -> Speeds:
        """The speeds of these settings (walking speed GEO_SERVICE_WALK_KMH, class defaults)."""
        return cls(walk_kmh=data.walk_kmh)

    def as_dict(self) -> dict:
        """JSON form, reported with every network result."""
        return {"walk_kmh": self.walk_kmh, "walk_source": WALK_SOURCE,
                "drive_kmh": self.drive_kmh, "drive_source": DRIVE_SOURCE,
                "not_walkable": sorted(NOT_WALKABLE), "not_drivable": sorted(NOT_DRIVABLE),
                "snap": "the straight walk between a point and its nearest road is counted "
                        "at walking speed"}
