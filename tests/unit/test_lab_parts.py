"""The parts of `overcast lab` and of a remote host that need no root: the bus URL
the hosts get (the forwarder's address, the credentials kept), the lab's record,
the management network's choice, the driver names a remote host accepts."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from overcast.agent.remote import real_drivers
from overcast.lab import LabHost, LabState, _safe, _with_host, pick_cidr


def test_hosts_reach_the_bus_through_the_bridge_with_the_same_credentials() -> None:
    url = _with_host("amqp://guest:guest@127.0.0.1:5672/vh", "10.240.3.1", 5672)
    assert url == "amqp://guest:guest@10.240.3.1:5672/vh"
    assert _with_host("amqp://localhost/", "10.0.0.1", 5672) == "amqp://10.0.0.1:5672/"


def test_a_database_password_is_not_printed() -> None:
    assert _safe("postgresql://u:secret@db:5432/x") == "postgresql://u:***@db:5432/x"
    assert _safe("postgresql://u@db/x") == "postgresql://u@db/x"


def test_the_lab_record_round_trips(tmp_path: Path) -> None:
    state = LabState(lab_id="abc123", bridge="olabc123m", cidr="10.240.1.0/24",
                     gateway="10.240.1.1", bus_namespace="lababc123",
                     database_url="postgresql://x", created_database="overcast_lab_abc123",
                     hosts=[LabHost(name="compute1", netns="olabc123-compute1",
                                    veth="olabc123v1", ip="10.240.1.11", prefix="abch1",
                                    data_dir=str(tmp_path / "h1"), pid=42)])
    state.save(tmp_path)
    assert LabState.load(tmp_path) == state
    assert LabState.load(tmp_path / "nothing") is None


def test_the_management_network_is_free_and_stable() -> None:
    net = pick_cidr("abc123")
    assert net.prefixlen == 24 and net.subnet_of(ipaddress.ip_network("10.240.0.0/12"))
    assert pick_cidr("abc123") == net


def test_a_remote_host_takes_only_real_drivers() -> None:
    assert real_drivers("real") == ["qemu", "container"]
    assert real_drivers("container, qemu") == ["container", "qemu"]
    with pytest.raises(ValueError, match="unknown driver"):
        real_drivers("qemu,xen")
