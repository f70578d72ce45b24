"""The `evacuate` server action (admin; `compute.evacuate`): rebuild a server whose
host is down on another host. Its body along the microversions, as Nova's:

- 2.1-2.13: `onSharedStorage` required, `host` and `adminPass` optional; the reply
  is `{"adminPass": ...}` (null when on shared storage without one).
- 2.14-2.28: no `onSharedStorage`; an empty reply.
- 2.29-2.67: `force` (with a `host` only): the host is taken without the scheduler's
  filters. Before 2.29 a `host` is always taken so.
- 2.68 on: no `force`. From 2.95 the server ends stopped on its new host.

200 in every version (Nova's, kept for compatibility though the work is async).

`adminPass` is checked and (2.1-2.13) answered, but, as at create and rebuild, set
in no guest: Nova hands it to the driver, which writes it only on the config
drive (meta_data.json's `admin_pass`, read by guest agents such as cloudbase-init;
file injection is off by default); overcast's drivers get no password (a gap
shared with create and rebuild, not an evacuation's own), and its test guest has
no password to set.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

from fastapi import Response

from overcast.compute import evacuate
from overcast.compute.routes.actions import Action, Call
from overcast.compute.routes.base import reply, service, version
from overcast.compute.schemas import ADMIN_PASSWORD, BOOLEAN, TRUE_STRINGS, _nova, _obj
from overcast.compute.versions import VERSIONS
from overcast.kit.errors import BadRequest
from overcast.kit.microversion import APIVersion
from overcast.kit.schema import Versioned

#: Nova's `fqdn` parameter type
FQDN: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 255,
                        "pattern": "^[a-zA-Z0-9-._]*$"}

_V21 = _obj({"host": FQDN, "onSharedStorage": BOOLEAN, "adminPass": ADMIN_PASSWORD},
            ["onSharedStorage"])
_V214 = copy.deepcopy(_V21)
del _V214["properties"]["onSharedStorage"]
del _V214["required"]
_V229 = copy.deepcopy(_V214)
_V229["properties"]["force"] = BOOLEAN

EVACUATE = Versioned(VERSIONS, {"2.1": _nova(_V21), "2.14": _nova(_V214),
                                "2.29": _nova(_V229), "2.68": _nova(_V214)})

#: from this version an evacuated server ends stopped (Nova's 2.95)
STOPPED_FROM = APIVersion(2, 95)


def _flag(value: Any) -> bool:
    return value in (True, *TRUE_STRINGS)


def _evacuate(c: Call) -> Response:
    v = version(c.request)
    body = EVACUATE.for_request(c.request).check(c.arg)
    host = body.get("host")
    password = body.get("adminPass")
    legacy = not v.at_least("2.14")
    force = True  # before 2.29 a host given is taken as it is
    if v.at_least("2.29"):
        force = _flag(body.get("force", False))
        if force and not host:
            raise BadRequest("Can't force to a non-provided destination")
    if legacy and _flag(body["onSharedStorage"]):
        if password is not None:
            raise BadRequest("admin password can't be changed on existing disk")
    elif password is None:
        password = secrets.token_urlsafe(9)
    evacuate.start(service(c.request), c.ctx, c.uuid, host, force, v >= STOPPED_FROM)
    return reply(c.request, {"adminPass": password} if legacy else None, 200)


ACTIONS = {"evacuate": Action(_evacuate, admin=True)}
