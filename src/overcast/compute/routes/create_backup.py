"""The `createBackup` server action: a snapshot kept as a rotated backup
(`compute.backups`). 202; from 2.45 the body names the image, before it the
Location header does (when the rotation keeps any)."""

from __future__ import annotations

from fastapi import Response

from overcast.compute import action_schemas
from overcast.compute.routes.actions import Action, Call
from overcast.compute.routes.base import reply, service, version


def _create_backup(c: Call) -> Response:
    req = action_schemas.create_backup(c.arg)
    image_id = service(c.request).create_image(c.ctx, c.uuid, req["name"], req["metadata"],
                                               backup=(req["backup_type"], req["rotation"]))
    if version(c.request).at_least("2.45"):
        return reply(c.request, {"image_id": image_id}, 202)
    headers = {}
    if req["rotation"] > 0:
        base = c.request.app.state.settings.base_url
        headers["Location"] = f"{base}/image/v2/images/{image_id}"
    return reply(c.request, None, 202, headers=headers)


ACTIONS = {"createBackup": Action(_create_backup)}
