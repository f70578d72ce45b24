"""The console's way into the cloud: overcast's own public APIs, with the user's token.

The console is a client like `openstack` is (Horizon's design): it holds no tables and
never reads the database, so every rule (policy, quotas, tenant isolation) stays in the
services and the console shows exactly what the APIs allow. Calls go in-process
through httpx's ASGI transport to the same app (no socket, no second server to
configure). A call with a body in hand (or none) goes straight to the app as one ASGI
request built here (`call_app`): httpx's URL parsing and request models cost about
2 ms a call, several times the work of a small API answer, and a page makes five
such calls. Streamed bodies (an image or object upload) still go through httpx's
ASGI transport, so they pass through without being held in memory; a streamed
answer (an object download) comes from `stream_app`, which hands the app's body on
chunk by chunk (httpx's transport would gather it whole first).

An API's refusal becomes `APIError` with the service's own sentence, whatever its
error envelope (Keystone's `error`, Nova's `badRequest`, Neutron's `NeutronError`,
Placement's `errors`, Glance's), so pages show people a readable message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlencode

import httpx
import orjson

#: Where each service's API is, below the app (their ServiceSpec prefixes).
IDENTITY = "/identity/v3"
COMPUTE = "/compute/v2.1"
IMAGE = "/image/v2"
NETWORK = "/network/v2.0"
VOLUME = "/volume/v3"
OBJECT = "/object/v1"
#: The microversion the console speaks: flavors embedded in servers (2.47).
COMPUTE_VERSION = "compute 2.47"


class APIError(Exception):
    """An API answered with an error: its status and its own message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_message(status: int, body: bytes) -> str:
    """The human sentence in any OpenStack error body (or a plain one)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return text[:300] or f"The request failed (HTTP {status})."
    if isinstance(data, dict):
        if isinstance(data.get("errors"), list) and data["errors"]:
            first = data["errors"][0]
            if isinstance(first, dict):
                return str(first.get("detail") or first.get("title") or status)
        for key in ("message", "detail", "title"):
            if isinstance(data.get(key), str):
                return str(data[key])
        for value in data.values():
            if isinstance(value, dict):
                for key in ("message", "detail"):
                    if isinstance(value.get(key), str):
                        return str(value[key])
    return f"The request failed (HTTP {status})."


#: The host the in-process calls name (links the APIs build point here).
HOST = "overcast.internal"
#: Characters left as they are in a path sent to the app (the rest is escaped).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


def _query(params: Mapping[str, Any] | None) -> str:
    if not params:
        return ""
    pairs = [(k, ("true" if v else "false") if isinstance(v, bool) else str(v))
             for k, v in params.items()]
    return urlencode(pairs)


async def call_app(app: Any, method: str, path: str, params: Mapping[str, Any] | None,
                   headers: Mapping[str, str], body: bytes | None) -> httpx.Response:
    """One request to the ASGI `app` in this process, its whole answer read.

    The scope is what a server would give the app for `http://overcast.internal/...`;
    the body is sent in one message, and the app sees the client disconnect only
    once it has answered (as under uvicorn)."""
    path, _, inline = path.partition("?")
    query = "&".join(q for q in (inline, _query(params)) if q)
    raw = quote(path, safe=_PATH_SAFE)
    payload = body or b""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": method, "scheme": "http", "path": unquote(raw), "raw_path": raw.encode(),
        "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", HOST.encode()), (b"content-length", str(len(payload)).encode()),
                    *((k.lower().encode("latin-1"), v.encode("latin-1"))
                      for k, v in headers.items())],
        "client": ("127.0.0.1", 0), "server": (HOST, 80), "extensions": {}}
    sent = False
    done = asyncio.Event()
    status = 500
    out_headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            out_headers.extend(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    return httpx.Response(status, headers=out_headers, content=b"".join(chunks))


class Streamed:
    """An answer whose body is still arriving (`API.stream`): status and headers now,
    the body as `chunks()`, one ASGI message at a time, never held whole."""

    def __init__(self, status: int, headers: httpx.Headers,
                 queue: asyncio.Queue[bytes | None], task: asyncio.Task[None]) -> None:
        self.status_code = status
        self.headers = headers
        self._queue = queue
        self._task = task

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            while (chunk := await self._queue.get()) is not None:
                if chunk:
                    yield chunk
        finally:
            self._task.cancel()


async def stream_app(app: Any, method: str, path: str, headers: Mapping[str, str]
                     ) -> Streamed:
    """One bodiless request to the ASGI `app` whose answer is streamed back: the app
    runs as a task feeding a small queue (it waits when the reader is slow), so a
    download of any size passes through in constant memory."""
    raw = quote(path, safe=_PATH_SAFE)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": method, "scheme": "http", "path": unquote(raw), "raw_path": raw.encode(),
        "query_string": b"", "root_path": "",
        "headers": [(b"host", HOST.encode()), (b"content-length", b"0"),
                    *((k.lower().encode("latin-1"), v.encode("latin-1"))
                      for k, v in headers.items())],
        "client": ("127.0.0.1", 0), "server": (HOST, 80), "extensions": {}}
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=8)
    started: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = \
        asyncio.get_running_loop().create_future()
    finished = asyncio.Event()
    sent = ended = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal ended
        if message["type"] == "http.response.start":
            started.set_result((message["status"], list(message.get("headers", []))))
        elif message["type"] == "http.response.body":
            await queue.put(message.get("body", b""))
            if not message.get("more_body", False):
                ended = True
                await queue.put(None)

    async def run() -> None:
        try:
            await app(scope, receive, send)
        except asyncio.CancelledError:
            finished.set()  # the reader went away: nobody waits for an end marker
            raise
        except Exception as exc:  # noqa: BLE001 - handed to the waiting reader
            if not started.done():
                started.set_exception(exc)
        finished.set()
        if not started.done():
            started.set_exception(RuntimeError("the app gave no answer"))
        elif not ended:
            await queue.put(None)  # a body cut short ends the reader's stream too

    task = asyncio.create_task(run())
    status, out_headers = await started
    return Streamed(status, httpx.Headers(out_headers), queue, task)


class API:
    """One user's calls (token in `X-Auth-Token`), or anonymous ones (login).

    `http` (an httpx client on the app's ASGI transport) carries streamed bodies;
    every other call goes to `app` directly (`call_app`)."""

    def __init__(self, http: httpx.AsyncClient, token: str | None = None,
                 app: Any = None) -> None:
        self.http = http
        self.token = token
        self.app = app

    def _headers(self, path: str, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {"X-Auth-Token": self.token} if self.token else {}
        if path.startswith("/compute"):
            headers["OpenStack-API-Version"] = COMPUTE_VERSION
        if extra:
            headers.update(extra)
        return headers

    async def call(self, method: str, path: str, *, json: Any = None,
                   params: Mapping[str, Any] | None = None,
                   headers: Mapping[str, str] | None = None,
                   content: bytes | AsyncIterator[bytes] | None = None) -> httpx.Response:
        """The response of a successful call; APIError with the API's message else."""
        body = orjson.dumps(json) if json is not None else content
        hdrs = self._headers(path, headers)
        if json is not None:
            hdrs.setdefault("Content-Type", "application/json")
        if self.app is not None and (body is None or isinstance(body, bytes)):
            response = await call_app(self.app, method, path, params, hdrs, body)
        else:
            response = await self.http.request(method, path, content=body, params=params,
                                               headers=hdrs)
        if response.status_code >= 400:
            raise APIError(response.status_code,
                           error_message(response.status_code, response.content))
        return response

    async def stream(self, path: str) -> Streamed:
        """GET `path` with its body streamed (a download); APIError if refused."""
        found = await stream_app(self.app, "GET", path, self._headers(path, None))
        if found.status_code >= 400:
            body = b"".join([c async for c in found.chunks()])
            raise APIError(found.status_code, error_message(found.status_code, body))
        return found

    async def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return orjson.loads((await self.call("GET", path, params=clean)).content)

    async def post(self, path: str, body: Any, **kw: Any) -> Any:
        r = await self.call("POST", path, json=body, **kw)
        return orjson.loads(r.content) if r.content else None

    async def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        r = await self.call("PUT", path, json=body, **kw)
        return orjson.loads(r.content) if r.content else None

    async def delete(self, path: str, **kw: Any) -> None:
        await self.call("DELETE", path, **kw)
