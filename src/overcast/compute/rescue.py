"""Rescue and unrescue (Nova's `rescue`, `unrescue`): boot a server from a rescue
image (its own image unless one is named) with its own disk attached as a second
disk, to repair it; unrescue boots it from its own disk again.

Only drivers that can do it for real declare "rescue" (`capabilities`): on a host
whose driver cannot, the API answers as Nova does for a driver without rescue, 400
"cannot be rescued", and changes nothing. A volume-backed server is refused the same
way (Nova's stable device rescue, 2.87, is past this API's range).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from overcast.bus.messages import PowerAction
from overcast.compute.capabilities import host_can
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest

if TYPE_CHECKING:
    from overcast.compute.service import ComputeService


class Rescues:
    def __init__(self, compute: ComputeService) -> None:
        self.compute = compute

    def rescue(self, ctx: RequestContext, uuid: str, image_ref: str | None) -> None:
        svc = self.compute
        if image_ref and svc.image is not None:
            svc.boot_image(ctx, image_ref)
        volume_backed = svc.server_volumes.root_volume(uuid) is not None
        with svc.db.transaction() as s:
            inst = svc.get_instance(s, ctx, uuid)
            svc._check_lock(ctx, inst)
            svc._transition(s, inst, "rescue")
            if volume_backed:
                raise BadRequest(f"Instance {uuid} cannot be rescued: Cannot rescue a "
                                 f"volume-backed instance")
            if not host_can(s, inst.host, "rescue"):
                raise BadRequest(f"Instance {uuid} cannot be rescued: the driver of its "
                                 f"host does not support rescue")
            svc.record_action(s, ctx, uuid, "rescue", "compute_rescue_instance")
            host, image = inst.host, image_ref or inst.image_ref
        svc.cast(f"agent.{host}", PowerAction(uuid=uuid, action="rescue", image_ref=image,
                                              request_id=ctx.request_id))

    def unrescue(self, ctx: RequestContext, uuid: str) -> None:
        svc = self.compute
        with svc.db.transaction() as s:
            inst = svc.get_instance(s, ctx, uuid)
            svc._check_lock(ctx, inst)
            svc._transition(s, inst, "unrescue")
            svc.record_action(s, ctx, uuid, "unrescue", "compute_unrescue_instance")
            host = inst.host
        svc.cast(f"agent.{host}", PowerAction(uuid=uuid, action="unrescue",
                                              request_id=ctx.request_id))
