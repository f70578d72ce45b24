"""Server actions (`POST /servers/{id}/action`), dispatched through a table.

Each action names its handler and what it needs beyond the server route itself:
the lowest microversion that has it and whether only admins may call it. The
dispatcher checks those, then the handler parses its argument (`schemas`) and
delegates to the service. An unknown action is a 400, as in Nova.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from fastapi import Request, Response

from overcast.compute import policy, schemas, trusted_certs, views
from overcast.compute.routes import (
    admin_password,
    create_backup,
    deferred_delete,
    evacuate,
    rescue,
    server_views,
    shelve,
)
from overcast.compute.routes.actions import Action, Call, Handler
from overcast.compute.routes.base import JSON_BODY, VERSIONS, Ctx, reply, router, service, version
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest
from overcast.kit.schema import accepts

routes = router()


def _power(action: str, label: str) -> Handler:
    def handle(c: Call) -> Response:
        service(c.request).power_action(c.ctx, c.uuid, action, label)
        return reply(c.request, None, 202)
    return handle


def _reboot(c: Call) -> Response:
    hard = schemas.reboot(c.arg)
    service(c.request).power_action(c.ctx, c.uuid, "reboot_hard" if hard else "reboot_soft",
                                    "reboot")
    return reply(c.request, None, 202)


def _rebuild(c: Call) -> Response:
    req = schemas.rebuild(c.arg)
    if req.get("trusted_certs") and \
            service(c.request).server_volumes.root_volume(c.uuid) is not None:
        raise BadRequest(trusted_certs.VOLUME_BACKED)
    inst = service(c.request).rebuild(c.ctx, c.uuid, req)
    v = version(c.request)
    body = views.server_action_reply(server_views.render(c.request, c.ctx, [inst])[0], v,
                                     key_name=v.at_least("2.54"))
    # the user data is the reply's own `user_data` (2.57), never an extended
    # attribute of it (Nova's rebuild view leaves that out, from 2.75 too)
    body.pop("OS-EXT-SRV-ATTR:user_data", None)
    body["adminPass"] = c.arg.get("adminPass") or uuidlib.uuid4().hex[:12]
    if version(c.request).at_least("2.57"):
        body["user_data"] = inst.user_data
    server_views.with_groups(c.request, c.uuid, body)
    return reply(c.request, {"server": body}, 202)


def _resize(c: Call) -> Response:
    flavor, auto_disk = schemas.resize(c.arg)
    service(c.request).resize(c.ctx, c.uuid, flavor, auto_disk_config=auto_disk)
    return reply(c.request, None, 202)


def _confirm_resize(c: Call) -> Response:
    service(c.request).confirm_resize(c.ctx, c.uuid)
    return reply(c.request, None, 204)


def _revert_resize(c: Call) -> Response:
    service(c.request).revert_resize(c.ctx, c.uuid)
    return reply(c.request, None, 202)


def _create_image(c: Call) -> Response:
    name, meta = schemas.create_image(c.arg)
    image_id = service(c.request).create_image(c.ctx, c.uuid, name, meta)
    body = {"image_id": image_id} if version(c.request).at_least("2.45") else None
    location = f"{c.request.app.state.settings.base_url}/image/v2/images/{image_id}"
    return reply(c.request, body, 202, headers={"Location": location})


def _security_group(c: Call) -> Response:
    group = schemas.security_group_name(c.arg)
    service(c.request).security_group_action(c.ctx, c.uuid, group,
                                             c.name == "addSecurityGroup")
    return reply(c.request, None, 202)


#: 2.73: `lock` may say why
LOCK_2_73 = schemas._nova({"type": ["object", "null"], "properties": {
    "locked_reason": {"type": "string", "minLength": 1, "maxLength": 255}},
    "additionalProperties": False})


def _lock(c: Call) -> Response:
    reason = None
    if c.name == "lock" and version(c.request).at_least("2.73"):
        reason = (LOCK_2_73.check(c.arg) or {}).get("locked_reason")
    service(c.request).set_lock(c.ctx, c.uuid, c.name == "lock", reason)
    return reply(c.request, None, 202)


def _console_output(c: Call) -> Response:
    length = schemas.console_length(c.arg)
    return reply(c.request, {"output": service(c.request).console_output(c.ctx, c.uuid,
                                                                         length)})


ACTIONS: dict[str, Action] = {
    "os-stop": Action(_power("stop", "stop")), "os-start": Action(_power("start", "start")),
    "pause": Action(_power("pause", "pause")), "unpause": Action(_power("unpause", "unpause")),
    "suspend": Action(_power("suspend", "suspend")),
    "resume": Action(_power("resume", "resume")),
    "reboot": Action(_reboot), "rebuild": Action(_rebuild), "resize": Action(_resize),
    "confirmResize": Action(_confirm_resize), "revertResize": Action(_revert_resize),
    "createImage": Action(_create_image),
    "addSecurityGroup": Action(_security_group),
    "removeSecurityGroup": Action(_security_group),
    "lock": Action(_lock), "unlock": Action(_lock),
    "os-getConsoleOutput": Action(_console_output),
    # the actions with modules of their own
    **create_backup.ACTIONS, **deferred_delete.ACTIONS, **shelve.ACTIONS,
    **rescue.ACTIONS, **admin_password.ACTIONS, **evacuate.ACTIONS,
}


@routes.post("/v2.1/servers/{uuid}/action")
@accepts(body=schemas.SERVER_ACTION)
def server_action(uuid: str, request: Request, body: Any = JSON_BODY,
                  ctx: RequestContext = Ctx) -> Response:
    name, arg = schemas.one_action(body)
    action = ACTIONS.get(name)
    if action is None:
        raise BadRequest(f"There is no such action: {name}")
    if action.min_version is not None:
        VERSIONS.require(request, action.min_version)
    if action.admin:
        policy.require_admin(ctx)
    return action.handler(Call(request, ctx, uuid, name, arg))
