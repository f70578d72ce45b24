"""Nova response shaping, one function per resource, each taking the microversion.

At 2.1 a server or flavor has exactly the 2.1 fields (tempest validates strict
schemas per microversion); later fields appear only from their microversion.
Only microversions up to the advertised maximum (`versions.VERSIONS`) are shaped
here: fields of later ones come back with the maximum (tests/unit/test_version_gates.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from overcast.compute import models as m
from overcast.compute import states, trusted_certs
from overcast.compute.diagnostics import Diagnostics
from overcast.kit.microversion import APIVersion


def nova_time(t: dt.datetime | None) -> str | None:
    # isoformat is several times cheaper than strftime, and lists format thousands
    return None if t is None else t.isoformat(timespec="seconds") + "Z"


def usage_time(t: dt.datetime | None) -> str | None:
    return None if t is None else t.isoformat(timespec="microseconds")


def links(base: str, kind: str, ident: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": f"{base}/v2.1/{kind}/{ident}"},
            {"rel": "bookmark", "href": f"{base}/{kind}/{ident}"}]


def flavor(base: str, f: m.Flavor, v: APIVersion, extra_specs: dict[str, str],
           detail: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"id": f.id, "name": f.name, "links": links(base, "flavors", f.id)}
    if v.at_least("2.55"):
        body["description"] = f.description
    if not detail:
        return body
    body.update({"ram": f.ram, "disk": f.disk, "vcpus": f.vcpus,
                 # 2.75: 0 for no swap (before it, Nova's empty string)
                 "swap": f.swap if v.at_least("2.75") else (f.swap or ""),
                 "OS-FLV-EXT-DATA:ephemeral": f.ephemeral,
                 "OS-FLV-DISABLED:disabled": f.disabled,
                 "os-flavor-access:is_public": f.is_public, "rxtx_factor": f.rxtx_factor})
    if v.at_least("2.61"):  # Nova's extra-specs index policy: any project reader
        body["extra_specs"] = dict(extra_specs)
    return body


def host_id(project_id: str, host: str | None) -> str:
    if not host:
        return ""
    return hashlib.sha224((project_id + host).encode()).hexdigest()


def server_brief(base: str, inst: m.Instance) -> dict[str, Any]:
    return {"id": inst.uuid, "name": inst.name, "links": links(base, "servers", inst.uuid)}


def server(base: str, inst: m.Instance, v: APIVersion, *, admin: bool,
           addresses: dict[str, Any], host_status: str | None = None,
           image_base: str = "") -> dict[str, Any]:
    status = states.status(inst.vm_state, inst.task_state)
    body: dict[str, Any] = {
        "id": inst.uuid, "name": inst.name, "status": status,
        "tenant_id": inst.project_id, "user_id": inst.user_id,
        "metadata": dict(inst.metadata_ or {}), "hostId": host_id(inst.project_id, inst.host),
        "image": {"id": inst.image_ref, "links": [
            {"rel": "bookmark", "href": f"{base}/images/{inst.image_ref}"}]}
        if inst.image_ref else "",
        "created": nova_time(inst.created_at), "updated": nova_time(inst.updated_at),
        "addresses": addresses, "accessIPv4": inst.access_ip_v4 or "",
        "accessIPv6": inst.access_ip_v6 or "", "links": links(base, "servers", inst.uuid),
        "OS-DCF:diskConfig": disk_config(inst.auto_disk_config),
        "OS-EXT-AZ:availability_zone": inst.availability_zone or "",
        "config_drive": "True" if inst.config_drive else "",
        "key_name": inst.key_name,
        "OS-SRV-USG:launched_at": usage_time(inst.launched_at),
        "OS-SRV-USG:terminated_at": usage_time(inst.terminated_at),
        "OS-EXT-STS:task_state": inst.task_state, "OS-EXT-STS:vm_state": inst.vm_state,
        "OS-EXT-STS:power_state": inst.power_state,
        "os-extended-volumes:volumes_attached": [],
    }
    if status in ("BUILD", "ACTIVE"):
        body["progress"] = 0 if status == "BUILD" else 100
    if v.at_least("2.47"):
        f = inst.flavor
        body["flavor"] = {"vcpus": f["vcpus"], "ram": f["ram"], "disk": f["disk"],
                          "ephemeral": f.get("ephemeral", 0), "swap": f.get("swap", 0),
                          "original_name": f["name"],
                          "extra_specs": dict(f.get("extra_specs") or {})}
    else:
        body["flavor"] = {"id": inst.flavor_id, "links": [
            {"rel": "bookmark", "href": f"{base}/flavors/{inst.flavor_id}"}]}
    if admin:
        body["OS-EXT-SRV-ATTR:host"] = inst.host
        body["OS-EXT-SRV-ATTR:hypervisor_hostname"] = inst.host
        body["OS-EXT-SRV-ATTR:instance_name"] = f"instance-{inst.uuid[:8]}"
        if v.at_least("2.3"):
            body.update({"OS-EXT-SRV-ATTR:reservation_id": inst.reservation_id,
                         "OS-EXT-SRV-ATTR:launch_index": inst.launch_index,
                         "OS-EXT-SRV-ATTR:hostname": inst.hostname,
                         "OS-EXT-SRV-ATTR:kernel_id": "", "OS-EXT-SRV-ATTR:ramdisk_id": "",
                         "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                         "OS-EXT-SRV-ATTR:user_data": inst.user_data})
    if v.at_least("2.3"):
        body["os-extended-volumes:volumes_attached"] = []
    if inst.fault and status in ("ERROR", "DELETED"):
        fault = dict(inst.fault)
        if not admin:
            fault.pop("details", None)
        body["fault"] = fault
    if v.at_least("2.9"):
        body["locked"] = inst.locked
    if v.at_least("2.16") and host_status is not None:
        body["host_status"] = host_status
    if v.at_least("2.19"):
        body["description"] = inst.description
    if v.at_least("2.26"):
        body["tags"] = list(inst.tags or [])
    if v.at_least("2.63"):
        body["trusted_image_certificates"] = trusted_certs.of(inst)
    if v.at_least("2.73"):
        body["locked_reason"] = (getattr(inst, "system_metadata", None) or {}).get(
            "locked_reason")
    if v.at_least("2.90") and not admin:  # 2.90: everyone sees the hostname
        body["OS-EXT-SRV-ATTR:hostname"] = inst.hostname
    return body


#: What a server's update (PUT) and rebuild replies leave out before 2.75: Nova
#: shapes those replies without the extended attributes a GET shows.
ACTION_REPLY_OMITS = ("OS-EXT-AZ:availability_zone", "config_drive", "key_name",
                      "OS-SRV-USG:launched_at", "OS-SRV-USG:terminated_at",
                      "security_groups", "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state",
                      "OS-EXT-STS:power_state", "os-extended-volumes:volumes_attached",
                      "host_status")


def server_action_reply(full: dict[str, Any], v: APIVersion,
                        key_name: bool = False) -> dict[str, Any]:
    """The server as an update or rebuild reply shows it. From 2.75 that is `full`
    (a GET's view) as it is; before it, without the extended attributes
    (OS-EXT-SRV-ATTR:*, the ACTION_REPLY_OMITS) and with basic addresses. `key_name`:
    keep the key pair's name (a rebuild's reply from 2.54, which can change it)."""
    if v.at_least("2.75"):
        return full
    omit = [k for k in ACTION_REPLY_OMITS if not (key_name and k == "key_name")]
    body = {k: val for k, val in full.items()
            if k not in omit and not k.startswith("OS-EXT-SRV-ATTR:")}
    body["addresses"] = basic_addresses(full.get("addresses") or {})
    return body


def basic_addresses(addresses: dict[str, list[dict[str, Any]]]
                    ) -> dict[str, list[dict[str, Any]]]:
    """Addresses without Nova's extended fields (type, MAC): as /ips and the update and
    rebuild replies show them."""
    return {net: [{"version": a["version"], "addr": a["addr"]} for a in items]
            for net, items in addresses.items()}


def disk_config(auto: bool | None) -> str:
    """OS-DCF:diskConfig as Nova shows it."""
    return "AUTO" if auto else "MANUAL"


def keypair_brief(kp: m.KeyPair, v: APIVersion) -> dict[str, Any]:
    body = {"name": kp.name, "public_key": kp.public_key, "fingerprint": kp.fingerprint}
    if v.at_least("2.2"):
        body["type"] = kp.type
    return body


def keypair_full(kp: m.KeyPair, v: APIVersion) -> dict[str, Any]:
    body = keypair_brief(kp, v)
    body.update({"user_id": kp.user_id, "id": kp.id, "created_at": usage_time(kp.created_at),
                 "deleted": False, "deleted_at": None, "updated_at": None})
    return body


def service(svc: m.Service, v: APIVersion, up: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": svc.uuid if v.at_least("2.53") else svc.id, "binary": svc.binary,
        "host": svc.host, "zone": svc.zone,
        "status": "disabled" if svc.disabled else "enabled", "state": "up" if up else "down",
        "updated_at": usage_time(svc.last_seen_at), "disabled_reason": svc.disabled_reason}
    if v.at_least("2.11"):
        body["forced_down"] = svc.forced_down
    return body


#: What 2.88 drops from a hypervisor's detail (Placement says it better).
HYPERVISOR_FIELDS_GONE_2_88 = (
    "current_workload", "cpu_info", "vcpus", "vcpus_used", "free_disk_gb", "local_gb",
    "local_gb_used", "disk_available_least", "free_ram_mb", "memory_mb", "memory_mb_used",
    "running_vms")


def hypervisor(svc: m.Service, v: APIVersion, up: bool, used: dict[str, int],
               running: int, detail: bool,
               servers: list[dict[str, str]] | None = None,
               uptime: str | None = None) -> dict[str, Any]:
    """A hypervisor (its compute service). From 2.53 its and its service's ids are
    the service's UUID, and `servers` (asked for with `with_servers`; None when not
    asked) lists the servers on it when there are any (from 2.75, even when empty).
    From 2.88 the detail drops the resource counts and carries the host's `uptime`."""
    ident: Any = svc.uuid if v.at_least("2.53") else svc.id
    body: dict[str, Any] = {"id": ident, "hypervisor_hostname": svc.host,
                            "state": "up" if up else "down",
                            "status": "disabled" if svc.disabled else "enabled"}
    if servers or (servers is not None and v.at_least("2.75")):
        body["servers"] = servers
    if not detail:
        return body
    res = svc.resources or {}
    body.update({
        "hypervisor_type": res.get("hypervisor_type", svc.driver), "hypervisor_version": 1,
        "host_ip": res.get("host_ip") or "127.0.0.1",
        "service": {"id": ident, "host": svc.host,
                    "disabled_reason": svc.disabled_reason},
        "vcpus": int(res.get("VCPU", 0)), "memory_mb": int(res.get("MEMORY_MB", 0)),
        "local_gb": int(res.get("DISK_GB", 0)), "vcpus_used": used.get("VCPU", 0),
        "memory_mb_used": used.get("MEMORY_MB", 0),
        "local_gb_used": used.get("DISK_GB", 0),
        "free_ram_mb": int(res.get("MEMORY_MB", 0)) - used.get("MEMORY_MB", 0),
        "free_disk_gb": int(res.get("DISK_GB", 0)) - used.get("DISK_GB", 0),
        "current_workload": 0, "running_vms": running, "disk_available_least": 0,
        "cpu_info": res.get("cpu_info", "") if not v.at_least("2.28") else {}})
    if v.at_least("2.88"):
        for key in HYPERVISOR_FIELDS_GONE_2_88:
            del body[key]
        body["uptime"] = uptime
    return body


def server_group(g: m.ServerGroup, members: list[str], v: APIVersion) -> dict[str, Any]:
    body: dict[str, Any] = {"id": g.uuid, "name": g.name, "members": members}
    if v.at_least("2.64"):  # one policy and its rules; no more (empty) metadata
        body.update(policy=g.policy, rules=dict(g.rules or {}))
    else:
        body.update(metadata={}, policies=[g.policy])
    if v.at_least("2.13"):
        body["project_id"] = g.project_id
        body["user_id"] = g.user_id
    return body


def action(a: m.InstanceAction, v: APIVersion) -> dict[str, Any]:
    body = {"action": a.action, "instance_uuid": a.instance_uuid, "request_id": a.request_id,
            "user_id": a.user_id, "project_id": a.project_id,
            "start_time": usage_time(a.start_time), "message": a.message}
    if v.at_least("2.58"):
        body["updated_at"] = usage_time(a.updated_at)
    return body


def event(e: m.InstanceActionEvent, v: APIVersion, admin: bool,
          project_id: str = "") -> dict[str, Any]:
    """An action's event; from 2.62 with the host it ran on (admins) and that host's
    id as the server's project sees it (`hostId`, everyone); from 2.84 a failed
    event's `details` (admins)."""
    body: dict[str, Any] = {"event": e.event, "start_time": usage_time(e.start_time),
                            "finish_time": usage_time(e.finish_time), "result": e.result}
    if admin:
        body["traceback"] = e.traceback
    if v.at_least("2.62"):
        if admin:
            body["host"] = e.host or ""
        body["hostId"] = host_id(project_id, e.host)
    if v.at_least("2.84") and admin:  # Nova's events:details policy: admins
        # why a failed event failed, in words (overcast's events keep the failure's
        # message, never a Python traceback); null for the others
        body["details"] = e.traceback if e.result == "Error" else None
    return body


def diagnostics(d: Diagnostics, v: APIVersion) -> dict[str, Any]:
    """A server's diagnostics. Before 2.48 Nova returns the driver's own blob (here,
    what is known, named as 2.48 names it, with the host driver's own name); from
    2.48 its standard format, with None for what no record holds, and `driver` one
    of Nova's driver families: overcast drives QEMU (and containers) on the host as
    libvirt does."""
    if not v.at_least("2.48"):
        return {"state": d.state, "driver": d.driver, "uptime": d.uptime or 0,
                "num_cpus": d.num_cpus, "memory_details": {"maximum": d.memory_mb}}
    nic = dict.fromkeys(("rx_octets", "rx_errors", "rx_drop", "rx_packets", "rx_rate",
                         "tx_octets", "tx_errors", "tx_drop", "tx_packets", "tx_rate"))
    disk = dict.fromkeys(("read_bytes", "read_requests", "write_bytes", "write_requests",
                          "errors_count"))
    return {"state": d.state, "driver": "libvirt", "hypervisor": d.hypervisor,
            "hypervisor_os": "linux", "uptime": d.uptime, "config_drive": d.config_drive,
            "num_cpus": d.num_cpus, "num_nics": len(d.macs), "num_disks": d.num_disks,
            "memory_details": {"maximum": d.memory_mb, "used": None},
            "cpu_details": [{"id": i, "time": None, "utilisation": None}
                            for i in range(d.num_cpus)],
            "nic_details": [{"mac_address": mac, **nic} for mac in d.macs],
            "disk_details": [dict(disk) for _ in range(d.num_disks)]}
