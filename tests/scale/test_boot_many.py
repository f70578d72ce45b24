"""Concurrency: 100 servers booted at once on 10 fake hosts."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

from tests.api.test_compute import C, add_agents, wait
from tests.conftest import build_cloud
from tests.images import IMAGE, add_image


def test_100_concurrent_boots_on_10_hosts(tmp_path: Path) -> None:
    gen = build_cloud(tmp_path)
    cloud = next(gen)
    try:
        cloud.app.state.local_agents = []
        hosts = [f"scale{i}" for i in range(10)]
        # 10 hosts x 8 vCPU x ratio 4 = 320 vCPU; 100 x m1.small (1 vCPU, 2 GiB) must fit
        # within 10 x 24 GiB RAM (ratio 1.0): at most 12 per host.
        add_agents(cloud, hosts, vcpus=8, memory_mb=24576, disk_gb=500)
        add_image(cloud.client, cloud.admin())
        u = cloud.make_project_user()
        cloud.client.put(f"{C}/os-quota-sets/{u['project_id']}", headers=cloud.admin(),
                         json={"quota_set": {"instances": -1, "cores": -1, "ram": -1}})
        ids: list[str] = []
        errors: list[str] = []
        lock = threading.Lock()

        def boot(i: int) -> None:
            r = cloud.client.post(f"{C}/servers", headers=u["headers"], json={"server": {
                "name": f"s{i}", "flavorRef": "2", "imageRef": IMAGE}})
            with lock:
                if r.status_code == 202:
                    ids.append(r.json()["server"]["id"])
                else:
                    errors.append(r.text)

        threads = [threading.Thread(target=boot, args=(i,)) for i in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and len(ids) == 100

        def statuses() -> Counter[str]:
            body = cloud.client.get(f"{C}/servers/detail", headers=cloud.admin(),
                                    params={"all_tenants": 1, "limit": 1000}).json()
            return Counter(s["status"] for s in body["servers"] if s["id"] in ids)

        wait(lambda: statuses()["ACTIVE"] == 100, timeout=120)
        placement = cloud.app.state.placement
        from overcast.compute.conductor import provider_uuid

        total_ram = 0
        per_host = Counter()
        for h in hosts:
            used = placement.usages(provider_uuid(h))
            total_ram += used.get("MEMORY_MB", 0)
            assert used.get("MEMORY_MB", 0) <= 24576
            assert used.get("VCPU", 0) <= 32
            per_host[h] = used.get("VCPU", 0)
        assert total_ram == 100 * 2048
        assert sum(per_host.values()) == 100
        assert placement.project_usages(u["project_id"]) == {
            "VCPU": 100, "MEMORY_MB": 204800, "DISK_GB": 2000}
    finally:
        gen.close()
