"""Clients that hang up never stop the cloud.

A load generator closed its connections while `overcast up` was writing replies, and
the whole all-in-one died with status 141: `cli.main()` had given it SIGPIPE's default
action, so the first write to a socket whose peer was gone killed the process (API,
conductor, agents). These tests hang up on the live server in every way a client can:
mid-reply, mid-download, mid-upload, with a reset, half-way through the headers, and by
closing the server's own console pipe; then the cloud must still answer, and the image
whose upload was cut must not be left in `saving`.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.clients.conftest import Live, free_port

pytestmark = pytest.mark.clients
BIN = Path(sys.executable).parent
IMAGE_BYTES = 32 << 20


def _token(live: Live) -> str:
    auth = yaml.safe_load((live.data_dir / "clouds.yaml").read_text())["clouds"][
        "overcast"]["auth"]
    r = httpx.post(f"{live.base}/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "domain": {"name": "Default"},
            "password": auth["password"]}}},
        "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}}}})
    assert r.status_code == 201, r.text
    return str(r.headers["X-Subject-Token"])


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s


def _reset(s: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0): the server's next write meets EPIPE."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def _request(method: str, path: str, token: str, extra: str = "") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
            f"{extra}\r\n").encode()


def _make_image(live: Live, token: str, name: str) -> str:
    h = {"X-Auth-Token": token}
    r = httpx.post(f"{live.base}/image/v2/images", headers=h, json={
        "name": name, "disk_format": "raw", "container_format": "bare"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _alive(live: Live, token: str) -> None:
    assert live.proc.poll() is None, (
        f"overcast up exited with {live.proc.returncode}:\n{live.log_path.read_text()[-3000:]}")
    r = httpx.get(f"{live.base}/compute/v2.1/servers", headers={"X-Auth-Token": token},
                  timeout=30)
    assert r.status_code == 200, r.text


def test_server_survives_clients_that_hang_up_mid_reply_download_and_upload(
        live: Live) -> None:
    token = _token(live)
    image_id = _make_image(live, token, "hangup-download")
    r = httpx.put(f"{live.base}/image/v2/images/{image_id}/file", content=os.urandom(1 << 20)
                  * (IMAGE_BYTES >> 20), headers={"X-Auth-Token": token,
                                                  "Content-Type": "application/octet-stream"},
                  timeout=120)
    assert r.status_code == 204, r.text

    def mid_download() -> None:
        s = _connect(live.port)
        s.sendall(_request("GET", f"/image/v2/images/{image_id}/file", token))
        s.recv(65536)  # the reply has started; 32 MiB are still to come
        _reset(s)

    def gone_before_reply() -> None:
        # A plain close (FIN) before the reply: the server's first write draws a reset
        # from the client's kernel, and the next one meets EPIPE (SIGPIPE, by default).
        s = _connect(live.port)
        s.sendall(_request("GET", f"/image/v2/images/{image_id}/file", token))
        s.close()

    def load_then_gone() -> None:
        # What wrk does at the end of a run: a keep-alive connection busy with
        # requests, then a few more pipelined and the socket closed without reading.
        s = _connect(live.port)
        stop = time.monotonic() + 1.0
        while time.monotonic() < stop:
            s.sendall(_request("GET", "/identity/v3", token))
            got = b""
            while b"\r\n\r\n" not in got:
                more = s.recv(65536)
                if not more:
                    return
                got += more
        s.sendall(_request("GET", "/compute/v2.1/flavors/detail", token) * 3
                  + _request("GET", "/identity/v3", token) * 3)
        s.close()

    def mid_headers() -> None:
        s = _connect(live.port)
        s.sendall(b"GET /identity/v3 HTTP/1.1\r\nHost: x\r\nX-Auth-")
        _reset(s)

    rounds = [gone_before_reply, mid_download, load_then_gone, mid_headers] * 15
    threads = [threading.Thread(target=f) for f in rounds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    time.sleep(1)  # let the server meet the closed sockets
    _alive(live, token)

    # A whole download still works, byte for byte as uploaded.
    r = httpx.get(f"{live.base}/image/v2/images/{image_id}/file",
                  headers={"X-Auth-Token": token}, timeout=120)
    assert r.status_code == 200 and len(r.content) == IMAGE_BYTES

    # Uploads cut half-way: the client promised 16 MiB, sent 1 MiB and reset.
    cut = [_make_image(live, token, f"hangup-upload-{i}") for i in range(5)]
    for cid in cut:
        s = _connect(live.port)
        s.sendall(_request("PUT", f"/image/v2/images/{cid}/file", token,
                           "Content-Type: application/octet-stream\r\n"
                           f"Content-Length: {16 << 20}\r\n") + os.urandom(1 << 20))
        time.sleep(0.05)
        _reset(s)
    deadline = time.monotonic() + 30
    statuses: list[str] = []
    while time.monotonic() < deadline:
        statuses = [httpx.get(f"{live.base}/image/v2/images/{cid}",
                              headers={"X-Auth-Token": token}).json()["status"] for cid in cut]
        if "saving" not in statuses:
            break
        time.sleep(0.2)
    assert "saving" not in statuses, f"uploads cut by the client stayed in saving: {statuses}"
    _alive(live, token)
    for cid in [image_id, *cut]:
        httpx.delete(f"{live.base}/image/v2/images/{cid}", headers={"X-Auth-Token": token})


def test_up_keeps_serving_when_its_console_pipe_closes(tmp_path: Path) -> None:
    """`overcast up | head -1`: the reader of the console goes away, the cloud stays."""
    port = free_port()
    env = {**os.environ, "HOME": str(tmp_path / "home"), "OVERCAST_BCRYPT_ROUNDS": "4"}
    proc = subprocess.Popen(
        [str(BIN / "overcast"), "up", "--data-dir", str(tmp_path / "data"), "--port",
         str(port), "--no-agent", "--no-test-image", "--no-default-networks",
         "--no-user-clouds-yaml"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/identity/v3", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        proc.stdout.close()  # the console's reader is gone
        for _ in range(20):
            assert httpx.get(f"http://127.0.0.1:{port}/identity/v3").status_code == 200
        time.sleep(0.5)
        assert proc.poll() is None, f"overcast up exited with {proc.returncode}"
        proc.terminate()  # its goodbye line now meets the closed pipe
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
