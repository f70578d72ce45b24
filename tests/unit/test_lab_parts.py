"""The parts of `overcast lab` and of a remote host that need no root: the bus URL
the hosts get (the forwarder's address, the credentials kept), the lab's record,
the management network's choice, the driver names a remote host accepts."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from overcast.agent.remote import real_drivers
from overcast.lab import Lab, LabError, LabHost, LabOptions, LabState, _safe, _with_host, pick_cidr


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


def _lab(tmp_path: Path, control: dict[str, float], hosts: dict[str, float | None],
         interval: float | None = None) -> Lab:
    import yaml

    from overcast.config import load_settings

    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "overcast.yaml").write_text(yaml.safe_dump(control))
    lab = Lab(load_settings(tmp_path, environ={}),
              LabOptions(hosts=len(hosts), port=1, heartbeat_interval=interval),
              lambda _m: None)
    lab.state = LabState(lab_id="abc123", bridge="b", cidr="10.240.1.0/24",
                         gateway="10.240.1.1", bus_namespace="n", database_url="x")
    for i, (name, every) in enumerate(hosts.items()):
        d = tmp_path / "hosts" / name
        d.mkdir(parents=True)
        if every is not None:
            (d / "overcast.yaml").write_text(yaml.safe_dump({"report_interval": every}))
        lab.state.hosts.append(LabHost(name=name, netns=name, veth=name, ip=f"10.0.0.{i}",
                                       prefix=name, data_dir=str(d)))
    return lab


def test_each_host_reports_at_its_own_interval_unless_the_lab_sets_one(
        tmp_path: Path) -> None:
    lab = _lab(tmp_path, {"service_down_time": 8}, {"compute1": 1, "compute2": None})
    one, two = lab.state.hosts  # type: ignore[union-attr]
    assert lab.report_interval(one) == 1.0
    with pytest.raises(LabError, match=r"compute2 would report every 10 s .* after 8 s"):
        lab.check_intervals()  # the default 10 s: compute2 would flap down
    forced = _lab(tmp_path / "f", {"service_down_time": 8}, {"c1": 30, "c2": None},
                  interval=2)
    forced.check_intervals()
    assert [forced.report_interval(h) for h in forced.state.hosts] == [2, 2]  # type: ignore[union-attr]
    _lab(tmp_path / "d", {}, {"c1": None}).check_intervals()  # 10 s under Nova's 60
