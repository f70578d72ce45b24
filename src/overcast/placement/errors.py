"""Placement's error codes: the `code` of each error body, as fixed strings.

Placement clients branch on these (osc-placement retries on
`placement.concurrent_update`; nova's report client recognises
`placement.inventory.inuse`), so they are constants that tests assert, not
words typed inline. `concurrent()` is the one 409 of a lost generation race.
"""

from __future__ import annotations

from overcast.kit.errors import Conflict

#: Anything without a more precise code (Placement's own default).
UNDEFINED = "placement.undefined_code"
#: A provider's or consumer's generation moved since the caller read it.
CONCURRENT = "placement.concurrent_update"
DUPLICATE_UUID = "placement.duplicate_uuid"
DUPLICATE_NAME = "placement.duplicate_name"
INVENTORY_INUSE = "placement.inventory.inuse"
PROVIDER_INUSE = "placement.resource_provider.inuse"
CANNOT_DELETE_PARENT = "placement.resource_provider.cannot_delete_parent"
QUERY_BAD_VALUE = "placement.query.bad_value"
QUERY_MISSING_VALUE = "placement.query.missing_value"


def concurrent(what: str) -> Conflict:
    return Conflict(f"{what}: the resource provider or consumer was changed by another "
                    f"request (generation mismatch). Re-read it and retry.", code=CONCURRENT)
