"""The body guard and the last-resort error path, on a small app built from the kit.

The whole cloud's door (every service behind it) is tested in tests/api/test_door.py;
here each rule is shown alone: the size limit before reading, the chunked limit, the
JSON that is not JSON (surrogates, infinity, depth), raw-data routes passing, and an
exception that escapes a handler becoming a 500 with the request id while the same
keep-alive connection goes on serving.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from overcast.kit.body import BodyGuard, json_depth
from overcast.kit.web import RequestIdAndLogMiddleware, error_response, install_error_handlers


def _app() -> FastAPI:
    app = FastAPI()
    app.state.error_styles = [("/compute", "nova"), ("/network", "neutron")]

    @app.post("/compute/things")
    async def things(request: Request) -> dict[str, Any]:
        return {"got": len(await request.body())}

    @app.put("/image/v2/images/{iid}/file")
    async def data(iid: str, request: Request) -> dict[str, Any]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    @app.get("/compute/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    install_error_handlers(app)
    from overcast.kit.web import style_for_path

    app.add_middleware(BodyGuard, render=lambda r, st, msg: error_response(r, st, msg),
                       style=lambda r: style_for_path(r.app, r.url.path),
                       raw_body_paths=[r"/image/v2/images/[^/]+/file"])
    app.add_middleware(RequestIdAndLogMiddleware)
    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(_app(), raise_server_exceptions=False)


def test_declared_size_over_the_limit_is_413_in_the_service_format(client: TestClient
                                                                     ) -> None:
    r = client.post("/compute/things", content=b"[" + b"1," * 60000 + b"1]",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert "114688 bytes" in r.json()["overLimit"]["message"]
    assert r.headers["x-openstack-request-id"].startswith("req-")


def test_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def gen() -> Any:
        for _ in range(200):
            yield b" " * 1024
    r = client.post("/compute/things", content=gen(),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize("raw", [b'{"name": "\\ud800"}', b'{"min_count": 1e400}',
                                 b'{"a": NaN}', b"[" * 10000 + b"]" * 10000, b"{'a': 1}",
                                 b'{"a": "\xff"}', b"[" * 70 + b"]" * 70])
def test_bodies_that_are_not_json_are_400(client: TestClient, raw: bytes) -> None:
    r = client.post("/network/v2.0/nets", content=raw,
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["NeutronError"]["message"].startswith("Malformed JSON in request body.")


def test_a_good_body_reaches_the_handler_unchanged(client: TestClient) -> None:
    raw = b'{"thing": {"name": "ok", "n": [1, 2, {"x": null}]}}'
    r = client.post("/compute/things", content=raw)
    assert r.status_code == 200 and r.json() == {"got": len(raw)}


def test_raw_data_routes_stream_past_the_guard(client: TestClient) -> None:
    r = client.put("/image/v2/images/abc/file", content=b"\xff" * (1 << 20),
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200 and r.json() == {"size": 1 << 20}


def test_an_escaped_exception_is_a_500_with_request_id_and_the_connection_lives(
        client: TestClient) -> None:
    r = client.get("/compute/boom")
    assert r.status_code == 500
    assert r.json()["computeFault"]["code"] == 500
    assert r.headers["x-openstack-request-id"].startswith("req-")
    assert client.post("/compute/things", content=b"{}").status_code == 200


def test_json_depth_is_iterative() -> None:
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    assert json_depth(deep) == 100_000


def test_admin_only_dependency_refuses_members_and_lets_admins_through() -> None:
    from fastapi import APIRouter

    from overcast.kit.context import RequestContext
    from overcast.kit.policy import admin_only

    app = FastAPI()
    router = APIRouter()

    @router.get("/compute/admin-thing", dependencies=[admin_only("Only admins.")])
    async def thing() -> dict[str, bool]:
        return {"ok": True}

    app.include_router(router)
    install_error_handlers(app)
    roles = {"adm": ["admin"], "mem": ["member"]}
    app.state.authenticate = lambda token, rid: RequestContext(
        project_id="p", roles=roles[token])
    c = TestClient(app)
    assert c.get("/compute/admin-thing", headers={"X-Auth-Token": "adm"}).json() == {
        "ok": True}
    r = c.get("/compute/admin-thing", headers={"X-Auth-Token": "mem"})
    assert r.status_code == 403 and "Only admins." in r.text


@pytest.mark.parametrize("raw", [b'{"total": 9223372036854775808}',
                                 b'{"q": {"ram": -9223372036854775809}}',
                                 b'[18446744073709551616]', b'{"n": ' + b"9" * 40 + b"}"])
def test_integers_outside_64_bits_are_400(client: TestClient, raw: bytes) -> None:
    r = client.post("/compute/things", content=raw,
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert "out of range" in r.json()["badRequest"]["message"]


def test_long_digit_strings_and_int64_edges_pass(client: TestClient) -> None:
    raw = (b'{"name": "12345678901234567890123", "n": 9223372036854775807, '
           b'"m": -9223372036854775808}')
    assert client.post("/compute/things", content=raw).status_code == 200
