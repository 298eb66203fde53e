"""Request bodies of the boundary API (pydantic: a bad field is a 422 naming it)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MarkerType = Literal["单面", "双面", "三面", "单立", "双立同号", "双立异号", "三立同号", "三立异号"]
MarkerStatus = Literal["在用", "损毁待修", "已重建", "已废止"]
Condition = Literal["完好", "损坏", "丢失", "移位"]
NoteCategory = Literal["新建道路", "建筑", "耕作", "河道变迁", "其他"]
Nature = Literal["土地", "山林", "水资源", "矿产", "其他"]
DisputeStatus = Literal["reported", "mediating", "resolved"]


class Body(BaseModel):
    """Unknown fields are refused, so a typo never goes unnoticed."""

    model_config = ConfigDict(extra="forbid")


class ReferenceIn(Body):
    """A reference object (方位物) with bearing and distance from the marker."""

    name: str = Field(min_length=1, max_length=200)
    bearing_deg: float = Field(ge=0, lt=360)
    distance_m: float = Field(gt=0, le=10_000)
    note: str | None = None


class MarkerIn(Body):
    """A boundary marker (界桩)."""

    number: str = Field(min_length=1, max_length=100, description="opaque marker number")
    marker_type: MarkerType
    material: str | None = Field(default=None, max_length=100)
    lon: float
    lat: float
    elevation_m: float | None = Field(default=None, ge=-500, le=9000)
    installed_on: date | None = None
    line_id: int
    note: str | None = None
    status: MarkerStatus = "在用"
    references: list[ReferenceIn] = Field(min_length=3)


class MarkerPatch(Body):
    """Fields of a marker to change (others stay)."""

    number: str | None = Field(default=None, min_length=1, max_length=100)
    marker_type: MarkerType | None = None
    material: str | None = None
    lon: float | None = None
    lat: float | None = None
    elevation_m: float | None = Field(default=None, ge=-500, le=9000)
    installed_on: date | None = None
    note: str | None = None
    status: MarkerStatus | None = None
    references: list[ReferenceIn] | None = Field(default=None, min_length=3)

    @model_validator(mode="after")
    def _both_coordinates(self) -> MarkerPatch:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("give both lon and lat, or neither")
        return self


class InspectionIn(Body):
    """A joint inspection of one line (or a correction of a signed-off one)."""

    line_id: int
    round: str = Field(min_length=1, max_length=50, description="e.g. 2026 or 2026-汛后")
    inspected_on: date
    side_a_officers: list[str] = Field(default_factory=list)
    side_b_officers: list[str] = Field(default_factory=list)
    summary: str | None = None
    corrects_id: int | None = Field(default=None, description="the signed-off record corrected")


class InspectionPatch(Body):
    """Fields of a draft inspection to change."""

    round: str | None = Field(default=None, min_length=1, max_length=50)
    inspected_on: date | None = None
    side_a_officers: list[str] | None = None
    side_b_officers: list[str] | None = None
    summary: str | None = None


class FindingIn(Body):
    """The finding on one marker: condition, measured position, note, photos."""

    marker_id: int
    condition: Condition
    measured_lon: float | None = None
    measured_lat: float | None = None
    measured_accuracy_m: float | None = Field(
        default=None, gt=0, le=10_000, description="the phone's GPS accuracy (m, 68 %)")
    note: str | None = None
    photos: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _both_coordinates(self) -> FindingIn:
        if (self.measured_lon is None) != (self.measured_lat is None):
            raise ValueError("give both measured_lon and measured_lat, or neither")
        return self


class FindingPatch(Body):
    """Fields of a finding to change."""

    condition: Condition | None = None
    measured_lon: float | None = None
    measured_lat: float | None = None
    measured_accuracy_m: float | None = Field(default=None, gt=0, le=10_000)
    note: str | None = None


class NoteIn(Body):
    """A note on a stretch of the line (new road, building, cultivation, river shift)."""

    category: NoteCategory
    note: str = Field(min_length=1)
    geometry: dict[str, Any] | None = Field(default=None, description="GeoJSON, EPSG:4490")
    photos: list[str] = Field(default_factory=list)


class SignIn(Body):
    """Sign-off of one side."""

    side: Literal["a", "b"]
    content_hash: str = Field(pattern="^[0-9a-f]{64}$",
                              description="content_hash of the record you were shown")


class ReturnIn(Body):
    """Withdraw a signature, or send a signed record back to be changed."""

    reason: str = Field(min_length=2, max_length=1000)


class DisputeIn(Body):
    """A boundary dispute (边界争议)."""

    title: str = Field(min_length=1, max_length=200)
    nature: Nature
    geometry: dict[str, Any] = Field(description="GeoJSON Point or (Multi)Polygon, EPSG:4490")
    parties: list[str] = Field(min_length=2)
    line_id: int | None = None
    description: str | None = None
    inspection_ids: list[int] = Field(default_factory=list)


class DisputePatch(Body):
    """Fields of a dispute to change."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    nature: Nature | None = None
    geometry: dict[str, Any] | None = None
    parties: list[str] | None = Field(default=None, min_length=2)
    description: str | None = None


class DisputeStatusIn(Body):
    """A step in the dispute's timeline."""

    status: DisputeStatus
    note: str | None = None
    reopen: bool = Field(default=False, description="reopen a resolved dispute (note = why)")
    decision_document: str | None = Field(
        default=None, min_length=2, max_length=300,
        description="admin: the deciding authority's document that resolves it")


class EventIn(Body):
    """A mediation event."""

    note: str = Field(min_length=1, max_length=2000)


class LinkIn(Body):
    """Link an inspection to a dispute."""

    inspection_id: int
