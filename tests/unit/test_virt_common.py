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


def test_instance_records_keep_the_instance_json_format() -> None:
    """The typed records read what the untyped ones wrote (an instance made before the
    upgrade is adopted as it is) and write the same keys back; a key they do not
    know is kept, a missing or null one takes its default."""
    from overcast.agent.virt.container import ContainerRecord
    from overcast.agent.virt.qemu import InstanceRecord

    old = {"uuid": "u1", "name": "vm", "hostname": "vm", "image_id": "i1",
           "base": "/s/images/i1.disk/disk.qcow2", "kernel": None, "ramdisk": None,
           "virtual_size": 1 << 30, "cmdline": None, "boot": "disk", "machine": "pc",
           "vcpus": 1, "memory_mb": 128, "root_gb": 1,
           "ports": [{"id": "p1", "network_id": "n1", "mac_address": "fa:16:3e:00:00:01"}],
           "config_drive": True, "built": True, "suspended": False, "created_at": 1.5,
           "pid": 4242, "pid_start": "99", "from_a_newer_agent": {"x": 1}}
    rec = InstanceRecord.from_json(old)
    assert rec.built and rec.pid == 4242 and rec.ports[0]["id"] == "p1"
    # the same keys back, and this version's new ones with their defaults
    assert rec.to_json() == {**old, "volumes": [], "root_volume": None}
    assert rec.volumes == [] and rec.root_volume is None
    half = InstanceRecord.from_json({"uuid": "u2", "built": False, "ports": None})
    assert not half.built and half.ports == [] and half.pid is None
    box = {"uuid": "c1", "name": "ct", "hostname": "ct", "runtime": "crun",
           "image_id": "i2", "process": {"args": ["/init"]}, "netns": "ovct-c1",
           "vcpus": 1, "memory_mb": 64, "ports": [], "suspended": True, "created_at": 2.0}
    assert ContainerRecord.from_json(box).to_json() == {**box, "volumes": []}
    assert ContainerRecord.from_json({"uuid": "c2"}).process is None
