"""FastAPI writes OpenAPI 3.1; OGC clients expect 3.0: rewrite the few 3.1-only constructs."""

from __future__ import annotations

import copy
from typing import Any


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
