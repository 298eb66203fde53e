"""FastAPI writes OpenAPI 3.1; OGC clients expect 3.0: rewrite the few 3.1-only constructs."""

from __future__ import annotations

import copy
from typing import Any

from geo_service.access import ANONYMOUS
from geo_service.ogc.collections import Collection
from geo_service.ogc.cql2 import FILTER_LANGS
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
    "filter-lang": ({"type": "string", "enum": list(FILTER_LANGS), "default": "cql2-text"},
                    "language of filter (cql-text is read as cql2-text; GDAL asks for it)"),
    "filter-crs": (_URI, "CRS of the geometries in filter"),
    "properties": (_NAMES, "properties to return"),
    "sortby": ({"type": "array", "items": {"type": "string", "pattern": r"^[+-]?[A-Za-z_].*$"}},
               "sort keys, '-' for descending"),
    "skipGeometry": ({"type": "boolean", "default": False}, "omit geometries"),
    "f": ({"type": "string", "enum": ["json", "geojson", "html"]}, "response format"),
}
# FastAPI's parameter names → the names Part 1 uses (GDAL looks for these paths).
PATH_NAMES = {"{collection_id}": "{collectionId}", "{feature_id}": "{featureId}"}
ITEMS_PATH = "/collections/{collectionId}/items"
FEATURE_PATH = "/collections/{collectionId}/items/{featureId}"
_OGC_PREFIXES = ("/collections", "/tiles", "/tileMatrixSets")
_ERROR = {"description": "请求参数有误:detail 说明是哪个参数、哪里错了 (a bad parameter; detail "
                         "names it)",
          "content": {"application/json": {"schema": {
              "type": "object", "properties": {"detail": {"type": "string"}}}}}}
_NOT_FOUND = {**_ERROR, "description": "没有这个集合或要素,或调用者无权查看 (not found, or not "
                                       "visible to the caller)"}


def standard_path_names(doc: dict[str, Any]) -> dict[str, Any]:
    """Rename {collection_id}/{feature_id} to {collectionId}/{featureId} in paths and parameters."""
    paths: dict[str, Any] = {}
    for path, item in doc.get("paths", {}).items():
        for old, new in PATH_NAMES.items():
            path = path.replace(old, new)
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(
                    operation, dict) else []:
                if parameter.get("in") == "path":
                    name = "{" + parameter["name"] + "}"
                    parameter["name"] = PATH_NAMES.get(name, name)[1:-1]
        paths[path] = item
    doc["paths"] = paths
    return doc


def document_errors(doc: dict[str, Any]) -> dict[str, Any]:
    """The OGC reads (GET) answer a bad parameter with 400 (never FastAPI's 422) and 404."""
    for path, item in doc.get("paths", {}).items():
        operation = item.get("get")
        if not isinstance(operation, dict) or not (
                path in ("/", "/api", "/conformance") or path.startswith(_OGC_PREFIXES)):
            continue
        if "responses" in operation:
            responses = operation["responses"]
            responses.pop("422", None)
            if operation.get("parameters"):
                responses["400"] = copy.deepcopy(_ERROR)
            if "{" in path:
                responses["404"] = copy.deepcopy(_NOT_FOUND)
    return doc


def describe_ogc_parameters(doc: dict[str, Any]) -> dict[str, Any]:
    """Give the items and feature paths the parameter definitions OGC API – Features requires."""
    for path in (ITEMS_PATH, FEATURE_PATH):
        operation = doc.get("paths", {}).get(path, {}).get("get")
        for parameter in (operation or {}).get("parameters", []):
            known = OGC_PARAMETERS.get(parameter["name"])
            if parameter.get("in") != "query" or known is None:
                continue
            schema, description = known
            parameter.update({"schema": copy.deepcopy(schema), "description": description,
                              "required": False, "style": "form", "explode": False})
    return doc


_PARAMETER_SCHEMAS = {"text": {"type": "string"}, "code": {"type": "string"},
                      "int": {"type": "integer"}, "float": {"type": "number"},
                      "bool": {"type": "boolean"}, "date": {"type": "string", "format": "date"},
                      "datetime": {"type": "string", "format": "date-time"}}
# Not listed: text[] (services=助餐 means "contains", but GDAL would push services = '助餐',
# an array compared with a string) and json; GDAL then evaluates those on the client.


def describe_queryables(doc: dict[str, Any], collections: list[Collection]) -> dict[str, Any]:
    """A path /collections/<id>/items per public collection whose parameters include its
    queryables (`?kind=老年食堂`), so desktop clients (GDAL, QGIS) filter on the server."""
    template = doc.get("paths", {}).get(ITEMS_PATH, {}).get("get")
    if template is None:
        return doc
    for collection in collections:
        operation = copy.deepcopy(template)
        operation["operationId"] = f"items_{collection.id}"
        operation["summary"] = f"{collection.title}(要素)"
        parameters = [p for p in operation.get("parameters", []) if p.get("in") != "path"]
        taken = {p["name"] for p in parameters}
        for prop in collection.properties(ANONYMOUS).values():
            schema = _PARAMETER_SCHEMAS.get(prop.type)
            if schema is None or prop.name in taken:
                continue
            parameters.append({
                "name": prop.name, "in": "query", "required": False, "style": "form",
                "explode": False, "schema": copy.deepcopy(schema),
                "description": f"{prop.title}等于此值的要素 (queryable: {prop.name}=value)"})
        operation["parameters"] = parameters
        operation["responses"].pop("404", None)
        doc["paths"][f"/collections/{collection.id}/items"] = {"get": operation}
    return doc


def ogc_openapi(document: dict[str, Any], collections: list[Collection]) -> dict[str, Any]:
    """The service's OpenAPI document as served at /api: OpenAPI 3.0 with the OGC parameter
    definitions, standard path names, the 400s actually returned, and each public
    collection's queryables as items parameters."""
    doc = document_errors(standard_path_names(downgrade(document)))
    return describe_queryables(describe_ogc_parameters(doc), collections)
