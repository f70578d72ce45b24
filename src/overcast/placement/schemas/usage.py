"""Schema of the query string of GET /usages (1.9), after Placement's
`schemas/usage.py`: a project_id (required) and user_id of 1 to 255 characters,
and from 1.38 a consumer_type (a type name, `all` or `unknown`)."""

from __future__ import annotations

from typing import Any

from overcast.placement.schemas import common
from overcast.placement.schemas.common import CONSUMER_TYPE_GET_PATTERN, extend, text

_QUERY_1_9: dict[str, Any] = {
    "type": "object",
    "properties": {"project_id": text(255, 1), "user_id": text(255, 1)},
    "required": ["project_id"],
    "additionalProperties": False,
}
_QUERY_1_38 = extend(_QUERY_1_9, {"consumer_type": {
    "type": "string", "pattern": CONSUMER_TYPE_GET_PATTERN, "minLength": 1,
    "maxLength": 255}})

QUERY = common.query(_QUERY_1_38)
QUERIES = common.versioned({"1.9": common.query(_QUERY_1_9), "1.38": QUERY})
