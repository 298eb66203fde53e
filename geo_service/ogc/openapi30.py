"""FastAPI writes OpenAPI 3.1; OGC clients expect 3.0: rewrite the few 3.1-only constructs."""

from __future__ import annotations

import copy
from typing import Any

from geo_service.ogc.features import DEFAULT_LIMIT, MAX_LIMIT


def _schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _schema(v) for k, v in node.items()}
    for key in ("anyOf", "oneOf"):
        options = out.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            out.pop(key)
            if len(rest) == 1 and isinstance(rest[0], dict):
                merged = {**rest[0], **out}
                if "$ref" in merged:
                    merged = {"allOf": [{"$ref": merged.pop("$ref")}], **merged}
                out = merged
            else:
                out[key] = rest
            out["nullable"] = True
    if isinstance(out.get("type"), list):
        types = [t for t in out["type"] if t != "null"]
        if len(types) < len(out["type"]):
            out["nullable"] = True
        out["type"] = types[0] if len(types) == 1 else "string"
    if "examples" in out and isinstance(out["examples"], list) and "properties" not in out:
        examples = out.pop("examples")
        if examples:
            out["example"] = examples[0]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), int | float) and not isinstance(out[bound], bool):
            out[plain] = out.pop(bound)
            out[bound] = True
    if out.pop("contentMediaType", None) is not None and out.get("type") == "string":
        out["format"] = "binary"
    out.pop("contentEncoding", None)
    out.pop("const", None) if "enum" in out else None
    if "const" in out:
        out["enum"] = [out.pop("const")]
    return out


def downgrade(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of an OpenAPI 3.1 document expressed as OpenAPI 3.0.3."""
    doc = copy.deepcopy(document)
    doc["openapi"] = "3.0.3"
    doc.pop("webhooks", None)
    doc.pop("jsonSchemaDialect", None)
    for path in doc.get("paths", {}).values():
        for operation in path.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if "schema" in parameter:
                    parameter["schema"] = _schema(parameter["schema"])
            for response in operation.get("responses", {}).values():
                for media in response.get("content", {}).values():
                    if "schema" in media:
                        media["schema"] = _schema(media["schema"])
            body = operation.get("requestBody", {})
            for media in body.get("content", {}).values():
                if "schema" in media:
                    media["schema"] = _schema(media["schema"])
    schemas = doc.get("components", {}).get("schemas", {})
    for name in list(schemas):
        schemas[name] = _schema(schemas[name])
    return doc


_URI = {"type": "string", "format": "uri"}
_NAMES = {"type": "array", "items": {"type": "string"}}
# The OGC API – Features parameters as Parts 1–3 define them (the routes take them as text
# and check them themselves, so that a bad value is a 400 naming the parameter).
OGC_PARAMETERS: dict[str, tuple[dict[str, Any], str]] = {
    "limit": ({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
              f"features per page (larger values are clamped to {MAX_LIMIT})"),
    "offset": ({"type": "integer", "minimum": 0, "default": 0}, "features to skip (paging)"),
    "bbox": ({"type": "array", "oneOf": [{"minItems": 4, "maxItems": 4},
                                         {"minItems": 6, "maxItems": 6}],
              "items": {"type": "number"}},
             "bounding box in bbox-crs (CRS84 lon,lat by default), in that CRS's axis order"),
    "bbox-crs": (_URI, "CRS of bbox (OGC API – Features Part 2)"),
    "datetime": ({"type": "string"}, "instant or interval (start/end, '..' open) on updated_at"),
    "crs": (_URI, "output CRS (OGC API – Features Part 2)"),
    "filter": ({"type": "string"}, "CQL2 filter (OGC API – Features Part 3)"),
    "filter-lang": ({"type": "string", "enum": ["cql2-text", "cql2-json"],
                     "default": "cql2-text"}, "language of filter"),
    "filter-crs": (_URI, "CRS of the geometries in filter"),
    "properties": (_NAMES, "properties to return"),
    "sortby": ({"type": "array", "items": {"type": "string", "pattern": r"^[+-]?[A-Za-z_].*$"}},
               "sort keys, '-' for descending"),
    "skipGeometry": ({"type": "boolean", "default": False}, "omit geometries"),
    "f": ({"type": "string", "enum": ["json", "geojson", "html"]}, "response format"),
}
_ITEMS_PATHS = ("/collections/{collection_id}/items",
                "/collections/{collection_id}/items/{feature_id}")


def describe_ogc_parameters(doc: dict[str, Any]) -> dict[str, Any]:
    """Give the items and feature paths the parameter definitions OGC API – Features requires."""
    for path in _ITEMS_PATHS:
        operation = doc.get("paths", {}).get(path, {}).get("get")
        for parameter in (operation or {}).get("parameters", []):
            known = OGC_PARAMETERS.get(parameter["name"])
            if parameter.get("in") != "query" or known is None:
                continue
            schema, description = known
            parameter.update({"schema": copy.deepcopy(schema), "description": description,
                              "required": False, "style": "form", "explode": False})
    return doc


def ogc_openapi(document: dict[str, Any]) -> dict[str, Any]:
    """The service's OpenAPI document as served at /api: OpenAPI 3.0 with OGC parameters."""
    return describe_ogc_parameters(downgrade(document))
