"""Glance's admin tasks API: an `import` task fetches an image from an http URL
(here a small HTTP server of the test), checks it and makes it an image; bad
sources are refused at creation as Glance does, and a failed fetch ends the task
in `failure` with no image left behind."""

from __future__ import annotations

import http.server
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Cloud

DATA = b"\0" * (64 << 10)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path == "/disk.raw":
            self.send_response(200)
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
            self.wfile.write(DATA)
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.end_headers()
        else:
            self.send_error(404)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _task(url: str, disk_format: str = "raw") -> dict[str, Any]:
    return {"type": "import", "input": {
        "import_from": url, "import_from_format": disk_format,
        "image_properties": {"name": f"task-{uuid.uuid4().hex[:6]}",
                             "disk_format": disk_format, "container_format": "bare"}}}


def _wait(cloud: Cloud, task_id: str) -> dict[str, Any]:
    for _ in range(200):
        r = cloud.client.get(f"/image/v2/tasks/{task_id}", headers=cloud.admin())
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("success", "failure"):
            return dict(r.json())
        time.sleep(0.05)
    raise AssertionError("the task never ended")


def test_import_task_makes_an_image(cloud: Cloud, upstream: str) -> None:
    r = cloud.client.post("/image/v2/tasks", headers=cloud.admin(),
                          json=_task(f"{upstream}/disk.raw"))
    assert r.status_code == 201, r.text
    assert r.json()["status"] in ("pending", "processing", "success")
    assert r.json()["type"] == "import"
    done = _wait(cloud, r.json()["id"])
    assert done["status"] == "success", done
    assert done["expires_at"] is not None
    image = cloud.client.get(f"/image/v2/images/{done['result']['image_id']}",
                             headers=cloud.admin()).json()
    assert image["status"] == "active" and image["size"] == len(DATA)
    assert image["disk_format"] == "raw"
    listed = cloud.client.get("/image/v2/tasks", headers=cloud.admin()).json()["tasks"]
    stub = next(t for t in listed if t["id"] == done["id"])
    assert "input" not in stub and stub["status"] == "success"


@pytest.mark.parametrize("path,fmt", [("/missing.raw", "raw"), ("/disk.raw", "qcow2"),
                                      ("/moved", "raw")])
def test_failed_fetch_or_check_fails_the_task(cloud: Cloud, upstream: str, path: str,
                                               fmt: str) -> None:
    r = cloud.client.post("/image/v2/tasks", headers=cloud.admin(),
                          json=_task(upstream + path, fmt))
    assert r.status_code == 201, r.text
    done = _wait(cloud, r.json()["id"])
    assert done["status"] == "failure" and done["message"]
    assert done["result"] is None
    r = cloud.client.get(f"/image/v2/images/{r.json()['image_id']}", headers=cloud.admin())
    assert r.status_code == 404


def test_bad_sources_and_callers_are_refused(cloud: Cloud, upstream: str) -> None:
    for url in ("file:///etc/passwd", "ftp://example.org/x.qcow2",
                f"http://no-such-host-{uuid.uuid4().hex[:8]}.invalid/x.qcow2",
                "http://2130706433/x"):
        r = cloud.client.post("/image/v2/tasks", headers=cloud.admin(), json=_task(url))
        assert r.status_code == 400, (url, r.text)
    r = cloud.client.post("/image/v2/tasks", headers=cloud.admin(),
                          json={**_task(f"{upstream}/disk.raw"), "type": "api_image_import"})
    assert r.status_code == 400
    user = cloud.make_project_user("member")
    r = cloud.client.post("/image/v2/tasks", headers=user["headers"],
                          json=_task(f"{upstream}/disk.raw"))
    assert r.status_code == 403
    assert cloud.client.get("/image/v2/tasks", headers=user["headers"]).status_code == 403
    assert cloud.client.get(f"/image/v2/tasks/{uuid.uuid4()}",
                            headers=cloud.admin()).status_code == 404
