"""Rescue and unrescue (Nova's `rescue`, `unrescue`): boot a server from a rescue
image (its own image unless one is named) with its own disk attached as a second
disk, to repair it; unrescue boots it from its own disk again.

Only drivers that can do it for real declare "rescue" (`capabilities`): on a host
whose driver cannot, the API answers as Nova does for a driver without rescue, 400
"cannot be rescued", and changes nothing. A volume-backed server is refused the same
way, unless (2.87) the rescue image names the rescue disk's bus and device and its
host can rescue one (the fake driver can; QEMU and containers do no rescue).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from overcast.bus.messages import PowerAction
from overcast.compute.capabilities import host_can
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest

if TYPE_CHECKING:
    from overcast.compute.service import ComputeService


class Rescues:
    def __init__(self, compute: ComputeService) -> None:
        self.compute = compute

    def rescue(self, ctx: RequestContext, uuid: str, image_ref: str | None,
               allow_bfv: bool = False) -> None:
        """`allow_bfv` (2.87): a volume-backed server may be rescued when the rescue
        image says where its disk goes (`hw_rescue_bus` and `hw_rescue_device`) and
        its host can (the "rescue_bfv" capability, Nova's COMPUTE_RESCUE_BFV trait)."""
        svc = self.compute
        image: dict[str, Any] = {}
        if image_ref and svc.image is not None:
            image = svc.boot_image(ctx, image_ref)
        volume_backed = svc.server_volumes.root_volume(uuid) is not None
        if volume_backed and allow_bfv and not image_ref:
            svc.instance(ctx, uuid)  # 404 first
            image = svc.server_volumes.boot_volume_image(ctx, uuid) or {}
        allow_bfv = allow_bfv and "hw_rescue_bus" in image and "hw_rescue_device" in image
        with svc.db.transaction() as s:
            inst = svc.get_instance(s, ctx, uuid)
            svc._check_lock(ctx, inst)
            svc._transition(s, inst, "rescue")
            if volume_backed and allow_bfv:
                if not host_can(s, inst.host, "rescue_bfv"):
                    raise BadRequest(f"Instance {uuid} cannot be rescued: Host unable to "
                                     "rescue a volume-backed instance")
            elif volume_backed:
                raise BadRequest(f"Instance {uuid} cannot be rescued: Cannot rescue a "
                                 f"volume-backed instance")
            if not host_can(s, inst.host, "rescue"):
                raise BadRequest(f"Instance {uuid} cannot be rescued: the driver of its "
                                 f"host does not support rescue")
            svc.record_action(s, ctx, uuid, "rescue", "compute_rescue_instance")
            host, rescue_ref = inst.host, image_ref or inst.image_ref
        svc.cast(f"agent.{host}", PowerAction(uuid=uuid, action="rescue", image_ref=rescue_ref,
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
