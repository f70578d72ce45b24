"""The config drive's documents: the control plane's when the spec has them, else
built from the spec; the user data decoded either way."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

from overcast.agent.virt.common import config_documents, hostname_of, write_documents
from overcast.bus.messages import InstanceSpec


def spec(**kw: object) -> InstanceSpec:
    return InstanceSpec(uuid=str(uuid.uuid4()), name="Web Server #1", project_id="p",
                        vcpus=1, memory_mb=64, root_gb=1, **kw)  # type: ignore[arg-type]


def test_control_plane_documents_win_and_user_data_is_decoded(tmp_path: Path) -> None:
    rendered = {"meta_data.json": {"uuid": "from-the-control-plane", "keys": []},
                "network_data.json": {"links": [], "networks": [], "services": []},
                "vendor_data.json": {}, "vendor_data2.json": {}}
    s = spec(documents=rendered, user_data=base64.b64encode(b"\x00binary\xff").decode())
    docs = config_documents(s)
    assert docs["meta_data.json"]["uuid"] == "from-the-control-plane"
    assert docs["user_data"] == b"\x00binary\xff"
    write_documents(tmp_path, docs)
    latest = tmp_path / "openstack" / "latest"
    assert (latest / "user_data").read_bytes() == b"\x00binary\xff"
    assert json.loads((latest / "meta_data.json").read_text())["uuid"] == \
        "from-the-control-plane"
    assert sorted(p.name for p in latest.iterdir()) == [
        "meta_data.json", "network_data.json", "user_data", "vendor_data.json",
        "vendor_data2.json"]


def test_documents_from_the_spec_alone() -> None:
    s = spec(key_data="ssh-ed25519 AAAA k", ports=[{"id": "p1", "mac_address": "fa:16:3e:0:0:1",
                                                    "network_id": "n1", "mtu": 1450}])
    docs = config_documents(s)
    meta = docs["meta_data.json"]
    assert meta["uuid"] == s.uuid and meta["hostname"] == "web-server-1"
    assert meta["public_keys"] == {"key": "ssh-ed25519 AAAA k"}
    assert docs["network_data.json"]["links"][0]["ethernet_mac_address"] == "fa:16:3e:0:0:1"
    assert docs["user_data"] is None
    assert hostname_of("***") == "instance"
