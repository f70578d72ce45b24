"""A server's network interfaces (Nova's `os-interface`): list and show its ports, and
attach or detach one while it is active, paused or stopped.

An attach asks the network service for the port (the user's, or one made on a
network, with a fixed address when asked: checked as a create's `networks` are),
bound to the server's host, then has the host's agent plug it (a call); when the
host cannot, the port is given back and the error is the answer. A detach unplugs
it, then gives it back (deleted when compute made it, unbound when it was the
user's). Only drivers that can plug a device into a guest declare
"interface_attach" (`capabilities`); on other hosts the API refuses, as Nova does
for a driver without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from overcast.bus.messages import AttachInterface, DetachInterface
from overcast.compute import device_tags
from overcast.compute import models as m
from overcast.compute.capabilities import host_can
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest, Conflict, NotFound

if TYPE_CHECKING:
    from overcast.compute.ports import NetworkPort
    from overcast.compute.service import ComputeService


def view(port: dict[str, Any], tags: dict[str, str] | None = None) -> dict[str, Any]:
    """Nova's interfaceAttachment; with `tags` (2.70) its device tag (or null)."""
    body = {"net_id": port["network_id"], "port_id": port["id"],
            "mac_addr": port["mac_address"], "port_state": port.get("status") or "ACTIVE",
            "fixed_ips": [{"subnet_id": f["subnet_id"], "ip_address": f["ip_address"]}
                          for f in port.get("fixed_ips") or []]}
    if tags is not None:
        body["tag"] = tags.get(port["id"])
    return body


class ServerInterfaces:
    def __init__(self, compute: ComputeService) -> None:
        self.compute = compute

    def _network(self) -> NetworkPort:
        if self.compute.network is None:
            raise BadRequest("Interfaces need the network service, which is not running.")
        return self.compute.network

    def listing(self, ctx: RequestContext, uuid: str, with_tags: bool = False
                ) -> list[dict[str, Any]]:
        inst = self.compute.instance(ctx, uuid)
        tags = device_tags.of(inst) if with_tags else None
        return [view(p, tags) for p in self._network().ports_for_instance(uuid)]

    def show(self, ctx: RequestContext, uuid: str, port_id: str, with_tags: bool = False
             ) -> dict[str, Any]:
        for item in self.listing(ctx, uuid, with_tags):
            if item["port_id"] == port_id:
                return item
        raise NotFound(f"Port {port_id} is not attached")

    def attach(self, ctx: RequestContext, uuid: str, net_id: str | None,
               port_id: str | None, fixed_ip: str | None, tag: str | None = None,
               with_tags: bool = False) -> dict[str, Any]:
        """Attach a port (`tag`, 2.49: its device tag, shown from 2.70 when
        `with_tags`)."""
        svc, network = self.compute, self._network()
        if port_id:
            wanted: Any = [{"port": port_id}]
        elif net_id:
            wanted = [{"uuid": net_id, **({"fixed_ip": fixed_ip} if fixed_ip else {})}]
        else:
            wanted = "auto"
        with svc.db.transaction() as s:
            inst = svc.get_instance(s, ctx, uuid)
            svc._check_lock(ctx, inst)
            svc._transition(s, inst, "attach_interface")
            if not host_can(s, inst.host, "interface_attach"):
                raise BadRequest(f"Attaching interfaces is not supported for instance "
                                 f"{uuid}.")
            host, project = str(inst.host), inst.project_id
            driver = s.scalar(select(m.Service.driver).where(m.Service.host == host))
        try:
            items = network.resolve_requested(ctx, wanted, 1)
            if not items:
                raise BadRequest("No network available to attach an interface to.")
            port = network.attach_port(uuid, project, items[0], host,
                                       "veth" if driver == "container" else "tap")
            answer = svc.call(f"agent.{host}", AttachInterface(uuid=uuid, port=port))
            if not answer.ok:
                network.detach_port(uuid, port["id"])
                raise Conflict(f"Failed to attach network adapter device to {uuid}: "
                               f"{answer.error}")
            with svc.db.transaction() as s:
                svc.record_action(s, ctx, uuid, "attach_interface",
                                  "compute_attach_interface")
                if tag:
                    row = s.get(m.Instance, uuid)
                    if row is not None:
                        device_tags.put(row, str(port["id"]), tag)
        finally:
            self._done(uuid)
        return view(port, {str(port["id"]): tag} if tag else {}) if with_tags else view(port)

    def detach(self, ctx: RequestContext, uuid: str, port_id: str) -> None:
        svc, network = self.compute, self._network()
        if all(p["id"] != port_id for p in network.ports_for_instance(uuid)):
            svc.instance(ctx, uuid)  # 404 for a server the caller cannot see first
            raise NotFound(f"Port {port_id} is not attached")
        with svc.db.transaction() as s:
            inst = svc.get_instance(s, ctx, uuid)
            svc._check_lock(ctx, inst)
            svc._transition(s, inst, "detach_interface")
            host = str(inst.host)
        try:
            answer = svc.call(f"agent.{host}", DetachInterface(uuid=uuid, port_id=port_id))
            if not answer.ok:
                raise Conflict(f"Failed to detach network adapter device from {uuid}: "
                               f"{answer.error}")
            network.detach_port(uuid, port_id)
            with svc.db.transaction() as s:
                svc.record_action(s, ctx, uuid, "detach_interface",
                                  "compute_detach_interface")
                row = s.get(m.Instance, uuid)
                if row is not None and port_id in device_tags.of(row):
                    device_tags.put(row, port_id, None)
        finally:
            self._done(uuid)

    def _done(self, uuid: str) -> None:
        with self.compute.db.transaction() as s:
            inst = s.get(m.Instance, uuid)
            if inst is not None and inst.task_state in ("interface_attaching",
                                                        "interface_detaching"):
                inst.task_state = None
