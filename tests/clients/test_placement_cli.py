"""osc-placement (the real `openstack resource provider ...` commands) against a live cloud."""

from __future__ import annotations

import uuid

import pytest

from tests.clients.conftest import Live

pytestmark = pytest.mark.clients


def test_resource_provider_workflow(live: Live) -> None:
    name = f"cli-rp-{uuid.uuid4().hex[:6]}"
    rp = live.osc("resource", "provider", "create", name)
    assert rp["name"] == name and rp["generation"] == 0
    assert rp["uuid"] in [x["uuid"] for x in live.osc("resource", "provider", "list")]
    shown = live.osc("resource", "provider", "show", rp["uuid"])
    assert shown["root_provider_uuid"] == rp["uuid"]
    inv = live.osc("resource", "provider", "inventory", "set", "--resource", "VCPU=4",
                   "--resource", "MEMORY_MB=2048", "--resource", "VCPU:allocation_ratio=2.0",
                   rp["uuid"])
    assert {i["resource_class"]: i["total"] for i in inv} == {"VCPU": 4, "MEMORY_MB": 2048}
    listed = live.osc("resource", "provider", "inventory", "list", rp["uuid"])
    vcpu = [i for i in listed if i["resource_class"] == "VCPU"][0]
    assert vcpu["allocation_ratio"] == 2.0 and vcpu["used"] == 0
    cands = live.osc("allocation", "candidate", "list", "--resource", "VCPU=1")
    assert rp["uuid"] in [c["resource provider"] for c in cands]
    consumer = str(uuid.uuid4())
    live.osc("resource", "provider", "allocation", "set", consumer, "--project-id", "p",
             "--user-id", "u", "--allocation", f"rp={rp['uuid']},VCPU=3")
    usage = {u["resource_class"]: u["usage"] for u in
             live.osc("resource", "provider", "usage", "show", rp["uuid"])}
    assert usage == {"VCPU": 3, "MEMORY_MB": 0}
    traits = [t["name"] for t in live.osc("trait", "list")]
    assert "HW_CPU_X86_AVX2" in traits
    classes = [c["name"] for c in live.osc("resource", "class", "list")]
    assert "VCPU" in classes
    live.osc("resource", "provider", "allocation", "delete", consumer, fmt=False)
    live.osc("resource", "provider", "delete", rp["uuid"], fmt=False)
    r = live.osc("resource", "provider", "show", rp["uuid"], check=False)
    assert r.returncode != 0 and "No resource provider" in r.stderr
