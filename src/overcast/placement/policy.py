"""Who may call Placement: admins only, as in OpenStack's default policy.

Every route but the version document is admin-only (`placement:*`). A route
module declares it once on its router (`APIRouter(dependencies=[ADMIN, ...])`),
so no handler checks by hand; the 403 body keeps Placement's wording and code.
The router puts ADMIN before the version, so a caller who may not use
Placement learns that (403) before anything about microversions (406).
"""

from __future__ import annotations

from fastapi import Request

from overcast.kit.policy import admin_only
from overcast.placement.errors import UNDEFINED

ADMIN = admin_only("Policy does not allow placement:* to be performed.", code=UNDEFINED)

# kit.policy.admin_only's check annotates `request: Request` with Request imported
# inside the function; under postponed annotations FastAPI cannot resolve that name
# and takes `request` for a required query parameter (400 on every route). Until the
# kit imports Request at module level, give the annotation its class here.
if isinstance(ADMIN.dependency.__annotations__.get("request"), str):
    ADMIN.dependency.__annotations__["request"] = Request
