"""The object store driven by real clients, unchanged: the `openstack` CLI,
openstacksdk, python-swiftclient's `swift` and rclone's swift backend; and its
crash safety against a live `overcast up` (a client that drops mid-upload, a
server killed mid-upload and restarted)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.clients.conftest import BIN, Live, _spawn, wait_ready

pytestmark = pytest.mark.clients


def _auth(live: Live) -> dict[str, Any]:
    data = yaml.safe_load((live.data_dir / "clouds.yaml").read_text())
    return dict(data["clouds"]["overcast"]["auth"])


def _swift_env(live: Live) -> dict[str, str]:
    a = _auth(live)
    return {**live.env, "OS_AUTH_URL": a["auth_url"], "OS_USERNAME": a["username"],
            "OS_PASSWORD": a["password"], "OS_PROJECT_NAME": a["project_name"],
            "OS_USER_DOMAIN_NAME": a["user_domain_name"],
            "OS_PROJECT_DOMAIN_NAME": a["project_domain_name"], "OS_IDENTITY_API_VERSION": "3",
            "OS_AUTH_VERSION": "3"}


def swift(live: Live, *args: str, cwd: Path | None = None) -> str:
    r = subprocess.run([str(BIN / "swift"), *args], capture_output=True, text=True,
                       env=_swift_env(live), cwd=cwd, timeout=300)
    assert r.returncode == 0, f"swift {' '.join(args)}:\n{r.stderr}\n{r.stdout}"
    return r.stdout


def _storage_url(live: Live) -> str:
    out = swift(live, "auth")
    for line in out.splitlines():
        if "OS_STORAGE_URL" in line:
            return line.split("=", 1)[1].strip()
    raise AssertionError(out)


def test_openstack_cli_container_and_objects(live: Live, tmp_path: Path) -> None:
    name = f"photos-{uuid.uuid4().hex[:6]}"
    created = live.osc("container", "create", name)
    assert created[0]["container"] == name
    src = tmp_path / "cat.jpg"
    src.write_bytes(os.urandom(300_000))
    obj = live.osc("object", "create", name, str(src))
    assert obj[0]["etag"] == hashlib.md5(src.read_bytes()).hexdigest()
    assert str(src) in [o["Name"] for o in live.osc("object", "list", name)]
    out = tmp_path / "saved.jpg"
    live.osc("object", "save", "--file", str(out), name, str(src), fmt=False)
    assert out.read_bytes() == src.read_bytes()
    shown = live.osc("object", "show", name, str(src))
    assert int(shown["content-length"]) == 300_000
    live.osc("object", "delete", name, str(src), fmt=False)
    live.osc("container", "delete", name, fmt=False)
    assert name not in [c["Name"] for c in live.osc("container", "list")]


def test_openstacksdk_object_store(live: Live) -> None:
    conn = live.sdk()
    name = f"sdk-{uuid.uuid4().hex[:6]}"
    conn.object_store.create_container(name=name)
    data = os.urandom(50_000)
    conn.object_store.upload_object(container=name, name="a/b.bin", data=data,
                                    metadata={"color": "blue"})
    assert conn.object_store.download_object("a/b.bin", container=name) == data
    meta = conn.object_store.get_object_metadata("a/b.bin", container=name)
    assert meta.metadata.get("color") == "blue"
    assert [o.name for o in conn.object_store.objects(name)] == ["a/b.bin"]
    conn.object_store.delete_object("a/b.bin", container=name)
    conn.object_store.delete_container(name)


def test_swift_large_upload_acl_and_tempurl(live: Live, tmp_path: Path) -> None:
    name = f"big-{uuid.uuid4().hex[:6]}"
    src = tmp_path / "backup.tar"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 12345))
    out = swift(live, "upload", "--segment-size", "1048576", name, "backup.tar", cwd=tmp_path)
    assert "backup.tar" in out
    head = httpx.head(f"{_storage_url(live)}/{name}/backup.tar",
                      headers={"X-Auth-Token": _token(live)})
    assert head.headers["X-Static-Large-Object"] == "True"  # swiftclient chose SLO (/info)
    assert int(head.headers["Content-Length"]) == src.stat().st_size
    listed = swift(live, "list", f"{name}_segments").split()
    assert len(listed) == 4
    dest = tmp_path / "down"
    dest.mkdir()
    swift(live, "download", name, "backup.tar", "-o", str(dest / "backup.tar"))
    assert (dest / "backup.tar").read_bytes() == src.read_bytes()
    # public read with listings, then an anonymous GET
    pub = f"public-{uuid.uuid4().hex[:6]}"
    (tmp_path / "index.html").write_text("<h1>hi</h1>")
    swift(live, "upload", pub, "index.html", cwd=tmp_path)
    url = _storage_url(live)
    assert httpx.get(f"{url}/{pub}/index.html").status_code == 401
    swift(live, "post", "-r", ".r:*,.rlistings", pub)
    r = httpx.get(f"{url}/{pub}/index.html")
    assert r.status_code == 200 and r.text == "<h1>hi</h1>"
    assert httpx.get(f"{url}/{pub}").text == "index.html\n"
    # a temp URL signed by `swift tempurl` with the account's key
    swift(live, "post", "-m", "Temp-URL-Key:sekrit")
    path = url.split("/object", 1)[1] + f"/{name}/backup.tar"
    signed = swift(live, "tempurl", "GET", "3600", path, "sekrit").strip()
    base = url.split("/object", 1)[0] + "/object"
    r = httpx.get(base + signed)
    assert r.status_code == 200 and r.content == src.read_bytes()
    wrong = swift(live, "tempurl", "GET", "3600", path, "wrong").strip()
    assert httpx.get(base + wrong).status_code == 401
    # the manifest and its segments go together
    swift(live, "delete", name, "backup.tar")
    assert swift(live, "list", f"{name}_segments").split() == []


@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone is not installed")
def test_rclone_sync_to_swift(live: Live, tmp_path: Path) -> None:
    a = _auth(live)
    env = {**live.env, "RCLONE_CONFIG_OC_TYPE": "swift", "RCLONE_CONFIG_OC_ENV_AUTH": "false",
           "RCLONE_CONFIG_OC_USER": a["username"], "RCLONE_CONFIG_OC_KEY": a["password"],
           "RCLONE_CONFIG_OC_AUTH": a["auth_url"], "RCLONE_CONFIG_OC_DOMAIN": "Default",
           "RCLONE_CONFIG_OC_TENANT": a["project_name"],
           "RCLONE_CONFIG_OC_TENANT_DOMAIN": "Default", "RCLONE_CONFIG_OC_AUTH_VERSION": "3"}
    site = tmp_path / "site"
    (site / "css").mkdir(parents=True)
    (site / "index.html").write_text("<p>home</p>")
    (site / "css" / "main.css").write_text("body{}")
    (site / "big.bin").write_bytes(os.urandom(2_000_000))
    bucket = f"site-{uuid.uuid4().hex[:6]}"

    def rclone(*args: str) -> str:
        r = subprocess.run(["rclone", *args], capture_output=True, text=True, env=env,
                           timeout=300)
        assert r.returncode == 0, f"rclone {' '.join(args)}:\n{r.stderr}"
        return r.stdout

    rclone("sync", str(site), f"oc:{bucket}")
    assert sorted(rclone("lsf", "-R", "--files-only", f"oc:{bucket}").split()) == [
        "big.bin", "css/main.css", "index.html"]
    (site / "index.html").unlink()
    rclone("sync", str(site), f"oc:{bucket}")
    rclone("check", str(site), f"oc:{bucket}")
    out = tmp_path / "out"
    rclone("copy", f"oc:{bucket}", str(out))
    assert (out / "big.bin").read_bytes() == (site / "big.bin").read_bytes()


def _token(live: Live) -> str:
    a = _auth(live)
    r = httpx.post(f"{live.base}/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": a["username"], "domain": {"name": "Default"}, "password": a["password"]}}},
        "scope": {"project": {"name": a["project_name"], "domain": {"name": "Default"}}}}})
    return r.headers["X-Subject-Token"]


def _partial_put(live: Live, path: str, token: str, sent: int, declared: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", live.port))
    sock.sendall((f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {token}\r\n"
                  f"Content-Length: {declared}\r\n\r\n").encode() + b"x" * sent)
    return sock


def _files(live: Live) -> set[Path]:
    return {p for p in (live.data_dir / "objects").rglob("*") if p.is_file()}


def test_dropped_client_and_killed_server_leave_no_partial_object(live: Live) -> None:
    url = _storage_url(live)
    account_path = url.split(str(live.port), 1)[1]
    token = _token(live)
    h = {"X-Auth-Token": token}
    c = f"crash-{uuid.uuid4().hex[:6]}"
    assert httpx.put(f"{url}/{c}", headers=h).status_code == 201
    assert httpx.put(f"{url}/{c}/done", headers=h, content=b"complete").status_code == 201
    before = _files(live)
    # a client that drops mid-body
    sock = _partial_put(live, f"{account_path}/{c}/dropped", token, 3_000_000, 10_000_000)
    time.sleep(0.5)
    sock.close()
    deadline = time.monotonic() + 10
    while _files(live) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _files(live) == before
    assert httpx.head(f"{url}/{c}/dropped", headers=h).status_code == 404
    # the server killed (-9) while an upload is in flight, then restarted
    sock = _partial_put(live, f"{account_path}/{c}/killed", token, 3_000_000, 10_000_000)
    time.sleep(0.5)
    os.killpg(live.proc.pid, signal.SIGKILL)
    live.proc.wait()
    sock.close()
    live.proc = _spawn(live.data_dir, live.port, live.log_path)
    wait_ready(live)
    token = _token(live)
    h = {"X-Auth-Token": token}
    r = httpx.get(f"{url}/{c}", headers=h)
    assert r.text == "done\n"
    assert httpx.get(f"{url}/{c}/done", headers=h).content == b"complete"
    assert _files(live) == before
    assert not list((live.data_dir / "objects" / "tmp").iterdir())
