"""Who may call Placement: admins only, as in OpenStack's default policy.

Every route but the version document is admin-only (`placement:*`). A route
module declares it once on its router (`APIRouter(dependencies=[ADMIN, ...])`),
so no handler checks by hand; the 403 body keeps Placement's wording and code.
The router puts ADMIN before the version, so a caller who may not use
Placement learns that (403) before anything about microversions (406).
"""

from __future__ import annotations

from overcast.kit.policy import admin_only
from overcast.placement.errors import UNDEFINED

ADMIN = admin_only("Policy does not allow placement:* to be performed.", code=UNDEFINED)
