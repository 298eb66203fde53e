"""The content of a joint-inspection record that a signature binds, and its hash.

Content = header (round, date, officers, summary, correction), the line version, every
finding with the marker version it inspected, measured position and GPS accuracy, notes,
photo hashes, and the markers (with versions) standing on the line. The hash is SHA-256 of
its canonical JSON (sorted keys, no spaces, UTF-8).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Connection, select

from geo_service.boundaries import photos, versions
from geo_service.boundaries.geometry import as_geojson, from_db, point_of
from geo_service.db.models import (
    boundary_markers,
    inspection_findings,
    inspection_segment_notes,
)


def canonical(content: dict[str, Any]) -> str:
    """The canonical JSON text of a content (what the hash is taken of)."""
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)


def content_hash(content: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON."""
    return hashlib.sha256(canonical(content).encode("utf-8")).hexdigest()


def _position(geom: Any) -> dict[str, float] | None:
    if geom is None:
        return None
    point = point_of(geom)
    return {"lon": round(point.x, 8), "lat": round(point.y, 8)}


def _finding(conn: Connection, f: Any, shas: list[str]) -> dict[str, Any]:
    version = f.marker_version or versions.record_marker(conn, f.marker_id)
    marker = versions.marker_at(conn, f.marker_id, version)
    return {
        "id": f.id, "marker_id": f.marker_id, "marker_version": version,
        "marker_number": marker["number"], "marker": marker,
        "registered": {"lon": float(marker["lon"]), "lat": float(marker["lat"])},
        "condition": f.condition, "measured": _position(f.measured_geom),
        "measured_accuracy_m": f.measured_accuracy_m,
        "displacement_m": None if f.displacement_m is None else round(f.displacement_m, 3),
        "note": f.note, "created_by": f.created_by, "photos": shas,
    }


def line_markers(conn: Connection, line_id: int) -> list[dict[str, Any]]:
    """The markers standing on the line now, each as its newest version."""
    ids = list(conn.execute(select(boundary_markers.c.id)
                            .where(boundary_markers.c.line_id == line_id)
                            .order_by(boundary_markers.c.number)).scalars())
    latest = versions.latest_marker_versions(conn, ids)
    out = []
    for marker_id in ids:
        version = latest.get(marker_id) or versions.record_marker(conn, marker_id)
        out.append(versions.marker_at(conn, marker_id, version))
    return out


def build(conn: Connection, row: Any) -> dict[str, Any]:
    """The record's content as it stands now (for a draft), JSON-ready."""
    line_version = row.line_version or versions.record_line(conn, row.line_id)
    attached = photos.attached(conn, inspection_id=row.id)
    by_finding: dict[int, list[str]] = {}
    for p in attached:
        if p["finding_id"] is not None:
            by_finding.setdefault(p["finding_id"], []).append(p["sha256"])
    findings = [_finding(conn, f, by_finding.get(f.id, []))
                for f in conn.execute(select(inspection_findings)
                                      .where(inspection_findings.c.inspection_id == row.id)
                                      .order_by(inspection_findings.c.id)).all()]
    findings.sort(key=lambda f: (f["marker_number"], f["id"]))
    notes = [{"id": n.id, "category": n.category, "note": n.note,
              "geom": as_geojson(from_db(n.geom)), "created_by": n.created_by,
              "created_at": n.created_at.isoformat()}
             for n in conn.execute(select(inspection_segment_notes)
                                   .where(inspection_segment_notes.c.inspection_id == row.id)
                                   .order_by(inspection_segment_notes.c.id)).all()]
    return {
        "record_id": row.id, "round": row.round, "inspected_on": row.inspected_on.isoformat(),
        "corrects_id": row.corrects_id,
        "line": versions.line_at(conn, row.line_id, line_version),
        "side_a_officers": list(row.side_a_officers), "side_b_officers": list(row.side_b_officers),
        "summary": row.summary, "findings": findings, "segment_notes": notes,
        "photos": [{k: p[k] for k in ("sha256", "finding_id", "caption", "content_type",
                                      "size_bytes", "url", "taken_at", "taken_lon",
                                      "taken_lat")} for p in attached],
        "line_markers": line_markers(conn, row.line_id),
    }
