"""The console's server-drawn pictures: quota donuts and the topology."""

from __future__ import annotations

from overcast.dashboard.charts import MAX_PER_NETWORK, donut, topology
from overcast.dashboard.client import error_message


def test_donut_shows_usage_and_escapes_labels() -> None:
    svg = donut("<RAM>", 3, 4, unit=" GiB")
    assert "&lt;RAM&gt;: 3 GiB used, of 4 GiB" in svg and "<RAM>" not in svg
    assert 'stroke="#b36b00"' in svg  # 75%: the warning colour
    assert "no limit" in donut("Instances", 5, -1)


def test_topology_links_routers_networks_and_instances() -> None:
    nets = [{"id": "e", "name": "public", "router:external": True, "_cidrs": ["172.24.4.0/24"]},
            {"id": "n", "name": "private", "_cidrs": ["10.0.0.0/24"]}]
    routers = [{"id": "r", "name": "router1", "external_gateway_info": {"network_id": "e"}}]
    n = MAX_PER_NETWORK + 5
    servers = [{"id": f"s{i}", "name": f"vm{i}"} for i in range(n)]
    ports = [{"device_owner": "compute:nova", "device_id": f"s{i}", "network_id": "n",
              "fixed_ips": [{"ip_address": f"10.0.0.{i + 10}"}]} for i in range(n)]
    ports.append({"device_owner": "network:router_interface", "device_id": "r",
                  "network_id": "n", "fixed_ips": []})
    svg = topology(nets, routers, ports, servers)
    assert 'data-name="public"' in svg and 'data-name="private"' in svg
    assert 'data-name="router1"' in svg
    assert svg.count('<g class="instance"') == MAX_PER_NETWORK + 1  # and one "+5 more"
    assert "+5 more" in svg
    assert svg.count("<line") == 2 + MAX_PER_NETWORK  # gateway, interface, instances


def test_error_message_reads_every_service_envelope() -> None:
    assert error_message(400, b'{"badRequest": {"message": "bad flavor", "code": 400}}') == \
        "bad flavor"
    assert error_message(409, b'{"NeutronError": {"message": "in use", "type": "X"}}') == \
        "in use"
    assert error_message(404, b'{"error": {"message": "no such", "code": 404}}') == "no such"
    assert error_message(400, b'{"errors": [{"detail": "placement says"}]}') == \
        "placement says"
    assert error_message(502, b"<html>oops</html>") == "<html>oops</html>"
