from __future__ import annotations

from nextoffer.core.rules import condition_json_schema
from nextoffer.core.rules.nodes import KINDS


def test_json_schema_is_a_discriminated_union_over_every_kind() -> None:
    schema = condition_json_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    mapping = schema["discriminator"]["mapping"]
    assert set(mapping) == KINDS
    assert schema["discriminator"]["propertyName"] == "kind"
    compare = schema["$defs"]["Compare"]
    assert compare["properties"]["op"]["enum"] == ["==", "!=", "<", "<=", ">", ">="]
    assert set(compare["required"]) == {"op", "left", "right"}
