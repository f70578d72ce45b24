"""kit.schema: compiled request schemas and each service's wording for a refusal."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import Body, FastAPI, Request
from fastapi.testclient import TestClient

from overcast.kit.errors import BadRequest
from overcast.kit.schema import (
    MAX_INT,
    Schema,
    accepts,
    int_string,
    integer,
    openapi_document,
    string,
)
from overcast.kit.web import install_error_handlers

SERVER = {
    "type": "object",
    "properties": {"server": {
        "type": "object",
        "properties": {
            "name": string(255, min_length=1),
            "accessIPv4": {"type": "string", "format": "ipv4"},
            "min_count": int_string(1),
            "ram": integer(1),
            "mac": {"type": "string", "format": "mac_address"},
            "net": {"type": "string", "format": "uuid"},
            "cidr": {"type": "string", "format": "cidr"},
        },
        "required": ["name"],
        "additionalProperties": False,
    }},
    "required": ["server"],
}


@pytest.mark.parametrize("style,expected", [
    ("nova", "Invalid input for field/attribute server/name. Value: "),
    ("neutron", "Invalid input for server/name. Reason: "),
    ("keystone", "Invalid input for field 'server/name': "),
    ("placement", "JSON does not validate: "),
])
def test_each_style_words_a_refusal_as_its_service(style: str, expected: str) -> None:
    with pytest.raises(BadRequest) as err:
        Schema(SERVER, style).check({"server": {"name": "x" * 300}})
    assert err.value.message.startswith(expected)
    assert len(err.value.message) < 300  # the 300-character name is not echoed whole


@pytest.mark.parametrize("server", [
    {"name": "a\x00b"}, {"name": "tab\there"}, {"name": "\ud800"}, {"name": ""},
    {"name": {"a": 1}}, {"name": "ok", "accessIPv4": "1.2.3"},
    {"name": "ok", "min_count": 1e400}, {"name": "ok", "min_count": "1e4"},
    {"name": "ok", "ram": MAX_INT + 1}, {"name": "ok", "ram": True},
    {"name": "ok", "mac": "00:11:22:33:44"}, {"name": "ok", "net": "nope"},
    {"name": "ok", "cidr": "10.0.0.300/24"}, {"name": "ok", "cidr": "10.0.0.1"},
    {"name": "ok", "unknown": 1},
])
def test_refused(server: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        Schema(SERVER, "nova").check({"server": server})


def test_accepted() -> None:
    body = {"server": {"name": "vm-1 ünïcode", "accessIPv4": "10.0.0.1", "min_count": "3",
                       "ram": 512, "mac": "fa:16:3e:00:00:01",
                       "net": "c1ab6b1a-6a07-4b5b-9a0c-3c8d2a0c1f00", "cidr": "10.0.0.0/24"}}
    assert Schema(SERVER, "nova").check(body) == body


def test_accepts_checks_body_and_query_before_the_handler_and_documents_them() -> None:
    app = FastAPI()
    app.state.error_styles = [("", "nova")]
    body_schema = Schema(SERVER, "nova")
    query_schema = Schema({"type": "object", "properties": {
        "limit": {"type": "string", "pattern": "^[0-9]{1,9}$"}}}, "nova")
    seen: list[Any] = []

    @app.post("/servers")
    @accepts(body=body_schema, query=query_schema)
    def create(request: Request, body: Any = Body(None)) -> dict[str, Any]:
        seen.append(body)
        return {"ok": True}

    install_error_handlers(app)
    c = TestClient(app)
    assert c.post("/servers", json={"server": {"name": "ok"}}).status_code == 200
    r = c.post("/servers", json={"server": {"name": "a\x00"}})
    assert r.status_code == 400 and "server/name" in r.json()["badRequest"]["message"]
    assert c.post("/servers?limit=x", json={"server": {"name": "ok"}}).status_code == 400
    assert len(seen) == 1
    doc = openapi_document(app)
    op = doc["paths"]["/servers"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == body_schema.schema
    assert op["parameters"][0]["name"] == "limit"
