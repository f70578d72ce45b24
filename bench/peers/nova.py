"""The real Nova beside overcast (bench/peers/run.py --nova): Nova from PyPI with
its fake driver, the real Glance for the image, the real Keystone for tokens.

What runs, all on loopback, each in its own session:

- RabbitMQ (the machine's, 127.0.0.1:5672): a vhost of this run's own, deleted at
  the end;
- PostgreSQL (the machine's, 127.0.0.1:5432): Nova's API database, cell0, cell1
  and its Placement's as `peers_nova_*` databases, dropped at the end (Nova's
  cells on SQLite are not how anyone runs several Nova processes);
- Glance under uWSGI (two processes, SQLite, file store, keystone auth);
- a Placement of Nova's own (uWSGI, noauth2, on PostgreSQL: on SQLite its two
  processes answer concurrent allocation writes "database is locked", a 500 that
  Nova turns into NoValidHost; Nova sends it the `admin` token), so a boot's
  allocation candidates are asked of a Placement that holds Nova's one compute
  node, not the thousand providers of the Placement rows;
- nova-api under uWSGI (two processes, keystone auth), nova-conductor,
  nova-scheduler and nova-compute (`compute_driver = fake.FakeDriver`);
- a stand-in for Neutron that answers every list with an empty one (the truthful
  answer for servers booted with `networks: none`: Nova's server view still asks
  Neutron for the ports' security groups).
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from run import Services

NOVA_PACKAGES = ["nova==34.0.0", "glance==33.0.0", "psycopg2-binary"]
PG = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q"]
PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432"

NEUTRON_STUB = r'''
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

LISTS = {"ports", "security-groups", "networks", "subnets", "floatingips", "extensions",
         "trunks"}


class Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        parts = [p for p in urlsplit(self.path).path.split("/") if p]
        if not parts:
            return self.answer(200, {"versions": [{"id": "v2.0", "status": "CURRENT",
                                                   "links": []}]})
        if len(parts) == 2 and parts[0] == "v2.0":
            name = parts[1].removesuffix(".json")
            if name in LISTS:
                return self.answer(200, {name.replace("-", "_"): []})
        self.answer(404, {"NeutronError": {"type": "NotFound", "message": "no such thing",
                                           "detail": ""}})

    def do_DELETE(self):
        self.answer(404, {"NeutronError": {"type": "NotFound", "message": "no such thing",
                                           "detail": ""}})

    do_PUT = do_POST = do_DELETE

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Stub).serve_forever()
'''


def _authtoken(ks: str) -> str:
    return (f"www_authenticate_uri = {ks}\nauth_url = {ks}\nauth_type = password\n"
            "username = admin\npassword = secret\nproject_name = admin\n"
            "user_domain_id = default\nproject_domain_id = default\n"
            "service_token_roles_required = false\n")


class NovaPeer:
    """Starts Nova and what it needs; `stop()` removes the vhost and databases."""

    def __init__(self, svc: Services, ks: str, ks_token: str, free_port: object) -> None:
        self.svc, self.ks, self.ks_token = svc, ks, ks_token
        self.free_port = free_port
        self.vhost = f"peers_nova_{uuid.uuid4().hex[:6]}"
        self.dbs = [f"{self.vhost}_{n}" for n in ("api", "cell0", "cell1", "placement")]
        self.made_vhost = False
        self.made_dbs: list[str] = []
        #: roots of the Nova side's processes, whose CPU the table reports
        self.roots: list[int] = []

    # ------------------------------------------------------------------ pieces
    def _port(self) -> int:
        return self.free_port()  # type: ignore[operator, no-any-return]

    def _keystone(self, method: str, path: str, body: dict[str, object]) -> dict[str, object]:
        r = httpx.request(method, f"{self.ks}{path}", json=body or None, timeout=120,
                          headers={"X-Auth-Token": self.ks_token})
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    def _catalog(self, kind: str, name: str, url: str) -> None:
        sid = self._keystone("POST", "/services", {"service": {"type": kind, "name": name}}
                             )["service"]["id"]  # type: ignore[index]
        for iface in ("public", "internal", "admin"):
            self._keystone("POST", "/endpoints", {"endpoint": {
                "service_id": sid, "interface": iface, "url": url, "region_id": "RegionOne"}})

    def _broker(self) -> str:
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", self.vhost], check=True,
                       capture_output=True)
        self.made_vhost = True
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", self.vhost, "guest",
                        ".*", ".*", ".*"], check=True, capture_output=True)
        return f"rabbit://guest:guest@127.0.0.1:5672/{self.vhost}"

    def _databases(self) -> list[str]:
        for name in self.dbs:
            subprocess.run([*PG, "-c", f'CREATE DATABASE "{name}"'], check=True,
                           capture_output=True)
            self.made_dbs.append(name)
        return [f"{PG_URL}/{name}" for name in self.dbs]

    def _glance(self, d: Path) -> str:
        for sub in ("images", "staging", "tasks"):
            (d / sub).mkdir(parents=True)
        port = self._port()
        venv = self.svc.venv
        (d / "glance-api-paste.ini").write_text(
            (venv / "etc" / "glance" / "glance-api-paste.ini").read_text())
        (d / "glance-api.conf").write_text(
            f"[DEFAULT]\nlog_file = {d}/glance.log\nuse_stderr = false\n"
            f"worker_self_reference_url = http://127.0.0.1:{port}\n"
            f"enabled_backends = fs:file\n"
            f"[database]\nconnection = sqlite:///{d}/glance.db\n"
            f"[glance_store]\ndefault_backend = fs\n"
            f"[fs]\nfilesystem_store_datadir = {d}/images\n"
            f"[os_glance_staging_store]\nfilesystem_store_datadir = {d}/staging\n"
            f"[os_glance_tasks_store]\nfilesystem_store_datadir = {d}/tasks\n"
            f"[paste_deploy]\nflavor = keystone\nconfig_file = {d}/glance-api-paste.ini\n"
            f"[keystone_authtoken]\n{_authtoken(self.ks)}")
        with (d / "setup.log").open("wb") as log:
            subprocess.run([str(venv / "bin" / "glance-manage"), "--config-file",
                            str(d / "glance-api.conf"), "db_sync"], check=True,
                           stdout=log, stderr=log)
        self.roots.append(self.svc.uwsgi(port, "glance.wsgi.api:application",
                                         {"OS_GLANCE_CONFIG_DIR": str(d)}, d / "uwsgi.log"))
        url = f"http://127.0.0.1:{port}"
        _wait(f"{url}/versions")
        return url

    def _placement(self, d: Path, db: str) -> str:
        d.mkdir()
        port = self._port()
        venv = self.svc.venv
        (d / "placement.conf").write_text(
            f"[DEFAULT]\nlog_file = {d}/placement.log\nuse_stderr = false\n"
            f"[api]\nauth_strategy = noauth2\n"
            f"[placement_database]\nconnection = {db}\n")
        env = {"OS_PLACEMENT_CONFIG_DIR": str(d)}
        with (d / "setup.log").open("wb") as log:
            subprocess.run([str(venv / "bin" / "placement-manage"), "--config-file",
                            str(d / "placement.conf"), "db", "sync"], check=True,
                           stdout=log, stderr=log, env={**_environ(), **env})
            subprocess.run([str(venv / "bin" / "python"), "-c", "import placement.wsgi.api"],
                           check=True, stdout=log, stderr=log, env={**_environ(), **env})
        self.roots.append(self.svc.uwsgi(port, "placement.wsgi.api:application", env,
                                         d / "uwsgi.log"))
        url = f"http://127.0.0.1:{port}"
        _wait(f"{url}/")
        return url

    # ------------------------------------------------------------------- start
    def start(self, work: Path) -> dict[str, str]:
        """Everything up, a flavor and an image made; returns the URLs and ids."""
        venv = self.svc.venv
        n = work / "nova"
        (n / "instances").mkdir(parents=True)
        (n / "locks").mkdir()
        transport = self._broker()
        api_db, cell0_db, cell1_db, placement_db = self._databases()
        glance = self._glance(work / "glance")
        placement = self._placement(work / "nova-placement", placement_db)
        qport = self._port()
        stub = n / "neutron_stub.py"
        stub.write_text(NEUTRON_STUB)
        self.roots.append(self.svc.spawn([str(venv / "bin" / "python"), str(stub), str(qport)],
                                         {}, n / "neutron_stub.log"))
        neutron = f"http://127.0.0.1:{qport}"
        nport = self._port()
        nova = f"http://127.0.0.1:{nport}/v2.1"
        # keystonemiddleware and Nova's clients look for the internal endpoint
        identity = self._keystone("GET", "/services?type=identity", {}
                                  )["services"][0]["id"]  # type: ignore[index]
        self._keystone("POST", "/endpoints", {"endpoint": {
            "service_id": identity, "interface": "internal", "url": self.ks,
            "region_id": "RegionOne"}})
        self._catalog("image", "glance", glance)
        self._catalog("network", "neutron", neutron)
        self._catalog("placement", "placement", placement)
        self._catalog("compute", "nova", nova)
        (n / "api-paste.ini").write_text((venv / "etc" / "nova" / "api-paste.ini").read_text())
        service_auth = ("auth_type = password\n"
                        f"auth_url = {self.ks}\nusername = admin\npassword = secret\n"
                        "project_name = admin\nuser_domain_id = default\n"
                        "project_domain_id = default\nregion_name = RegionOne\n")
        conf = n / "nova.conf"
        conf.write_text(
            f"[DEFAULT]\nuse_stderr = false\ntransport_url = {transport}\n"
            f"compute_driver = fake.FakeDriver\nhost = peer-compute-1\nstate_path = {n}\n"
            f"instances_path = {n}/instances\nmy_ip = 127.0.0.1\n"
            "heal_instance_info_cache_interval = -1\n"
            f"[api]\nauth_strategy = keystone\n"
            f"[api_database]\nconnection = {api_db}\n"
            f"[database]\nconnection = {cell1_db}\n"
            f"[keystone_authtoken]\n{_authtoken(self.ks)}"
            f"[placement]\nauth_type = admin_token\ntoken = admin\nendpoint = {placement}\n"
            f"endpoint_override = {placement}\nregion_name = RegionOne\n"
            f"[glance]\nendpoint_override = {glance}\n"
            f"[neutron]\nendpoint_override = {neutron}\n{service_auth}"
            f"[oslo_concurrency]\nlock_path = {n}/locks\n"
            "[conductor]\nworkers = 1\n[scheduler]\nworkers = 1\n"
            "discover_hosts_in_cells_interval = 2\n"
            "[filter_scheduler]\nenabled_filters = ComputeFilter\n"
            f"[wsgi]\napi_paste_config = {n}/api-paste.ini\n"
            "[oslo_messaging_notifications]\ndriver = noop\n"
            "[compute]\nresource_provider_association_refresh = 3600\n")
        manage = [str(venv / "bin" / "nova-manage"), "--config-file", str(conf)]
        with (n / "setup.log").open("wb") as log:
            for step in (["api_db", "sync"],
                         ["cell_v2", "map_cell0", "--database_connection", cell0_db],
                         ["cell_v2", "create_cell", "--name", "cell1", "--database_connection",
                          cell1_db, "--transport-url", transport],
                         ["db", "sync"]):
                subprocess.run(manage + step, check=True, stdout=log, stderr=log)
        self.roots.append(self.svc.uwsgi(nport, "nova.wsgi.osapi_compute:application",
                                         {"OS_NOVA_CONFIG_DIR": str(n)}, n / "api.log"))
        for part in ("conductor", "scheduler", "compute"):
            self.roots.append(self.svc.spawn(
                [str(venv / "bin" / f"nova-{part}"), "--config-file", str(conf),
                 "--log-file", str(n / f"{part}.log")], {}, n / f"{part}.out"))
        _wait(f"http://127.0.0.1:{nport}/")
        # the compute node reports itself to its Placement, then is mapped to cell1
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            r = httpx.get(f"{placement}/resource_providers", timeout=30,
                          headers={"X-Auth-Token": "admin"})
            if r.status_code == 200 and r.json()["resource_providers"]:
                break
            time.sleep(1)
        else:
            raise RuntimeError("nova-compute did not report to Placement: "
                               + (n / "compute.log").read_text()[-2000:])
        with (n / "setup.log").open("ab") as log:
            subprocess.run(manage + ["cell_v2", "discover_hosts"], check=True, stdout=log,
                           stderr=log)
        hd = {"X-Auth-Token": self.ks_token}
        r = httpx.post(f"{nova}/flavors", headers=hd, timeout=300, json={"flavor": {
            "name": "m1.tiny", "id": "1", "vcpus": 1, "ram": 512, "disk": 1}})
        r.raise_for_status()
        project = httpx.get(f"{self.ks}/auth/tokens", timeout=120, headers={
            **hd, "X-Subject-Token": self.ks_token}).json()["token"]["project"]["id"]
        httpx.put(f"{nova}/os-quota-sets/{project}", headers=hd, timeout=300, json={
            "quota_set": {"instances": -1, "cores": -1, "ram": -1}}).raise_for_status()
        image_id = image(glance, hd)
        return {"nova": nova, "glance": glance, "placement": placement, "image": image_id,
                "flavor": "1"}

    def stop(self) -> None:
        """After Services.stop: the vhost and the databases go."""
        if self.made_vhost:
            subprocess.run(["rabbitmqctl", "-q", "delete_vhost", self.vhost],
                           capture_output=True)
        for name in self.made_dbs:
            subprocess.run([*PG, "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
                           capture_output=True)


def image(glance_or_base: str, hd: dict[str, str], path: str = "/v2/images") -> str:
    """A 4 KiB raw image; returns its id once it is active."""
    r = httpx.post(f"{glance_or_base}{path}", headers=hd, timeout=300, json={
        "name": "bench", "disk_format": "raw", "container_format": "bare",
        "visibility": "public"})
    r.raise_for_status()
    image = str(r.json()["id"])
    httpx.put(f"{glance_or_base}{path}/{image}/file", content=b"\0" * 4096, timeout=300,
              headers={**hd, "Content-Type": "application/octet-stream"}).raise_for_status()
    return image


def _environ() -> dict[str, str]:
    import os
    return dict(os.environ)


def _wait(url: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def dump(obj: object) -> str:
    return json.dumps(obj, indent=1, default=str)
