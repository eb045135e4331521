"""The spec's defaults live in one place, the JSON Schema; this module reads them from there.

`with_defaults` fills every default into the objects a document has (resolve reads that, and
policies are checked against it); `default(pointer)` is one default, for a value whose parent
object is absent (an omitted `endpoint` still has an instance count).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from generator.package_data import spec_schema


def with_defaults(data: Any, schema: dict[str, Any]) -> Any:
    """`data` with the schema's defaults filled into every object that is present (and into defaults)."""
    if isinstance(data, dict):
        props = schema.get("properties", {})
        out = {}
        for key, sub in props.items():
            if key in data:
                out[key] = with_defaults(data[key], sub)
            elif "default" in sub:
                out[key] = with_defaults(sub["default"], sub)
        extra = schema.get("additionalProperties")
        for key, value in data.items():
            if key not in props:
                out[key] = with_defaults(value, extra) if isinstance(extra, dict) else value
        return out
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [with_defaults(item, schema["items"]) for item in data]
    return data


@cache
def default(pointer: str) -> Any:
    """The default of the field at a property path such as `models.endpoint.instanceCount`."""
    node: dict[str, Any] = spec_schema()
    for part in pointer.split("."):
        node = node["properties"][part]
        if (
            node.get("type") == "array"
            and isinstance(node.get("items"), dict)
            and part != pointer.rsplit(".", maxsplit=1)[-1]
        ):
            node = node["items"]
    return node["default"]
