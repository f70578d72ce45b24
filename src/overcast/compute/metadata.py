"""The metadata service's answers: what an instance reads at 169.254.169.254 (and on
its config drive), in the OpenStack format (`/openstack/<version>/meta_data.json`,
`user_data`, `network_data.json`, `vendor_data.json`, `vendor_data2.json`) and the
EC2 format (`/<version>/meta-data/...`, `/<version>/user-data`).

The instance is found from where the request came from (network and source address,
resolved by the network service), so an instance only ever reads its own data.
"""

from __future__ import annotations

import base64
import ipaddress
import json
from collections.abc import Callable
from typing import Any

from overcast.compute import models as m
from overcast.compute import personality
from overcast.db import Database

#: OpenStack metadata versions served (Nova's list; `latest` is the newest).
OPENSTACK_VERSIONS = ["2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30",
                      "2016-10-06", "2017-02-22", "2018-08-27", "2020-10-14"]
EC2_VERSIONS = ["1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10",
                "2007-12-15", "2008-02-01", "2008-09-01", "2009-04-04"]

Answer = tuple[int, str, bytes]


def _text(body: str | bytes, status: int = 200, ctype: str = "text/plain") -> Answer:
    return status, ctype, body.encode() if isinstance(body, str) else body


def _json(doc: Any) -> Answer:
    return 200, "application/json", json.dumps(doc).encode()


NOT_FOUND: Answer = (404, "text/plain", b"404 Not Found\n")


def user_data_bytes(user_data: str | None) -> bytes | None:
    if not user_data:
        return None
    try:
        return base64.b64decode(user_data)
    except ValueError:
        return user_data.encode()


def meta_data(inst: m.Instance) -> dict[str, Any]:
    """Nova's meta_data.json for an instance."""
    doc: dict[str, Any] = {
        "uuid": inst.uuid, "name": inst.name, "hostname": inst.hostname or inst.name,
        "launch_index": inst.launch_index,
        "availability_zone": inst.availability_zone or "nova",
        "project_id": inst.project_id, "meta": dict(inst.metadata_ or {}),
        "devices": [], "dedicated_cpus": []}
    files = personality.meta_data_files(inst)
    if files:
        doc["files"] = files
    if inst.key_data:
        doc["public_keys"] = {inst.key_name or "key": inst.key_data}
        doc["keys"] = [{"name": inst.key_name or "key", "type": "ssh",
                        "data": inst.key_data}]
    return doc


def network_data(ports: list[dict[str, Any]]) -> dict[str, Any]:
    """network_data.json as Nova writes it: a link per port and a network per fixed
    address, typed by how the guest configures it: `ipv4_dhcp`; `ipv6_slaac`,
    `ipv6_dhcpv6-stateless` or `ipv6_dhcpv6-stateful` (the router advertises, DHCPv6
    answers); or `ipv4`/`ipv6` with the address, netmask, routes and DNS servers for
    a subnet without DHCP, which the guest sets up itself."""
    links: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    services: list[dict[str, str]] = []
    for p in ports:
        link = f"tap{p['id'][:11]}"
        links.append({"id": link, "vif_id": p["id"], "type": "bridge",
                      "ethernet_mac_address": p["mac_address"], "mtu": p.get("mtu")})
        subnets = p.get("subnets") or {}
        for ip in p.get("fixed_ips", []):
            sub = subnets.get(ip.get("subnet_id"))
            version = 6 if ":" in ip["ip_address"] else 4
            entry: dict[str, Any] = {"id": f"network{len(networks)}", "link": link,
                                     "network_id": p["network_id"]}
            mode = (sub or {}).get("ipv6_address_mode")
            if sub is None or (version == 4 and sub.get("enable_dhcp")):
                entry["type"] = f"ipv{version}_dhcp"
            elif version == 6 and mode:
                entry["type"] = f"ipv6_{mode}"
            else:
                net = ipaddress.ip_network(sub["cidr"])
                entry.update(type=f"ipv{version}", ip_address=ip["ip_address"],
                             netmask=str(net.netmask), routes=[])
                any_net = "0.0.0.0" if version == 4 else "::"
                for r in sub.get("host_routes") or []:
                    dest = ipaddress.ip_network(r["destination"])
                    entry["routes"].append({"network": str(dest.network_address),
                                            "netmask": str(dest.netmask),
                                            "gateway": r["nexthop"]})
                if sub.get("gateway_ip"):
                    entry["routes"].append({"network": any_net, "netmask": any_net,
                                            "gateway": sub["gateway_ip"]})
                dns = [{"type": "dns", "address": a} for a in sub.get("dns_nameservers") or []]
                entry["services"] = dns
                services += [d for d in dns if d not in services]
            networks.append(entry)
    return {"links": links, "networks": networks, "services": services}


def documents(inst: m.Instance, ports: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything on a config drive (openstack/latest/...; and the personality files'
    contents, "../content/NNNN", base64: specs travel as JSON)."""
    docs: dict[str, Any] = {
        "meta_data.json": meta_data(inst), "network_data.json": network_data(ports),
        "vendor_data.json": {}, "vendor_data2.json": {},
        "user_data": user_data_bytes(inst.user_data)}
    for path, data in personality.contents(inst).items():
        docs[f"../{path}"] = {"base64": base64.b64encode(data).decode()}
    return docs


class MetadataService:
    def __init__(self, db: Database, owner: Callable[[str, str], str | None],
                 ports: Callable[[str], list[dict[str, Any]]],
                 floating: Callable[[str], str | None] | None = None) -> None:
        #: (network id, address) -> the instance uuid whose port holds the address
        self.owner = owner
        self.ports = ports
        self.floating = floating
        self.db = db

    def answer(self, network_id: str, address: str, path: str) -> Answer:
        uuid = self.owner(network_id, address)
        if uuid is None:
            return 404, "text/plain", b"No instance has this address on this network.\n"
        with self.db.session() as s:
            inst = s.get(m.Instance, uuid)
            if inst is None or inst.deleted:
                return NOT_FOUND
            s.expunge(inst)
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        if not parts:
            return _text("\n".join([*EC2_VERSIONS, "latest"]) + "\n")
        if parts[0] == "openstack" and len(parts) == 3 and parts[1] == "content":
            data = personality.contents(inst).get(f"content/{parts[2]}")
            return NOT_FOUND if data is None else _text(data, ctype="text/plain")
        if parts[0] == "openstack":
            return self._openstack(inst, parts[1:])
        return self._ec2(inst, address, parts)

    # ------------------------------------------------------------ openstack
    def _openstack(self, inst: m.Instance, parts: list[str]) -> Answer:
        if not parts:
            return _text("\n".join([*OPENSTACK_VERSIONS, "latest"]) + "\n")
        if parts[0] not in (*OPENSTACK_VERSIONS, "latest"):
            return NOT_FOUND
        user_data = user_data_bytes(inst.user_data)
        files = ["meta_data.json", "network_data.json", "vendor_data.json",
                 "vendor_data2.json", *(["user_data"] if user_data else [])]
        if len(parts) == 1:
            return _text("\n".join(files) + "\n")
        if len(parts) != 2 or parts[1] not in files:
            return NOT_FOUND
        name = parts[1]
        if name == "meta_data.json":
            return _json(meta_data(inst))
        if name == "network_data.json":
            return _json(network_data(self.ports(inst.uuid)))
        if name in ("vendor_data.json", "vendor_data2.json"):
            return _json({})
        assert user_data is not None
        return _text(user_data, ctype="application/octet-stream")

    # ------------------------------------------------------------ ec2
    def _ec2(self, inst: m.Instance, address: str, parts: list[str]) -> Answer:
        if parts[0] not in (*EC2_VERSIONS, "latest"):
            return NOT_FOUND
        if len(parts) == 1:
            user_data = user_data_bytes(inst.user_data)
            return _text("dynamic\nmeta-data\n" + ("user-data\n" if user_data else ""))
        if parts[1] == "user-data" and len(parts) == 2:
            data = user_data_bytes(inst.user_data)
            return _text(data, ctype="application/octet-stream") if data else NOT_FOUND
        if parts[1] != "meta-data":
            return NOT_FOUND
        tree = self._ec2_tree(inst, address)
        node: Any = tree
        for p in parts[2:]:
            if not isinstance(node, dict) or p not in node:
                return NOT_FOUND
            node = node[p]
        if parts[2:] == ["public-keys"] and inst.key_data:
            return _text(f"0={inst.key_name or 'key'}")
        if isinstance(node, dict):
            return _text("\n".join(k + "/" if isinstance(v, dict) else k
                                   for k, v in node.items()))
        return _text(str(node))

    def _ec2_tree(self, inst: m.Instance, address: str) -> dict[str, Any]:
        hostname = inst.hostname or inst.name
        ec2_id = f"i-{int(inst.uuid.replace('-', '')[:8], 16):08x}"
        # "FIXME" is what Nova's EC2 metadata answers for ami-manifest-path, verbatim
        tree: dict[str, Any] = {
            "ami-id": inst.image_ref, "ami-launch-index": str(inst.launch_index),
            "ami-manifest-path": "FIXME", "hostname": hostname,
            "instance-action": "none", "instance-id": ec2_id,
            "instance-type": str((inst.flavor or {}).get("original_name") or
                                 (inst.flavor or {}).get("name") or ""),
            "local-hostname": hostname, "local-ipv4": address,
            "placement": {"availability-zone": inst.availability_zone or "nova"},
            "public-hostname": hostname, "reservation-id": inst.reservation_id,
            "security-groups": "default"}
        public = self.floating(address) if self.floating else None
        if public:
            tree["public-ipv4"] = public
        if inst.key_data:
            tree["public-keys"] = {"0": {"openssh-key": inst.key_data}}
        return tree
