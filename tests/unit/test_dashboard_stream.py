"""The console's streamed download (`client.stream_app`): the answer's chunks reach
the reader one by one while the app is still producing them (nothing held whole), a
reader that stops early stops the app, and an app that fails before answering fails
the caller instead of hanging it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from overcast.dashboard.client import stream_app

CHUNKS = 50


def _app(progress: list[int], fail: bool = False) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["path"] == "/object/v1/AUTH_p/c/a b" and scope["method"] == "GET"
        if fail:
            raise RuntimeError("backend gone")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream")]})
        for i in range(CHUNKS):
            progress.append(i)
            await send({"type": "http.response.body", "body": bytes([i]) * 1024,
                        "more_body": i < CHUNKS - 1})
    return app


def test_chunks_flow_while_the_app_produces_them() -> None:
    async def run() -> None:
        progress: list[int] = []
        found = await stream_app(_app(progress), "GET", "/object/v1/AUTH_p/c/a b", {})
        assert found.status_code == 200
        assert found.headers["content-type"] == "application/octet-stream"
        got = []
        async for chunk in found.chunks():
            # the app is never more than the queue's few chunks ahead of the reader
            assert len(progress) - len(got) <= 10
            got.append(chunk)
        assert b"".join(got) == b"".join(bytes([i]) * 1024 for i in range(CHUNKS))
    asyncio.run(run())


def test_a_reader_that_stops_stops_the_app() -> None:
    async def run() -> None:
        progress: list[int] = []
        found = await stream_app(_app(progress), "GET", "/object/v1/AUTH_p/c/a b", {})
        stream = found.chunks()
        async for _ in stream:
            break
        await stream.aclose()
        await asyncio.sleep(0.05)
        assert len(progress) < CHUNKS
        assert found._task.done()  # not left blocked on a full queue
    asyncio.run(run())


def test_an_app_failing_before_its_answer_fails_the_caller() -> None:
    async def run() -> None:
        with pytest.raises(RuntimeError, match="backend gone"):
            await asyncio.wait_for(
                stream_app(_app([], fail=True), "GET", "/object/v1/AUTH_p/c/a b", {}), 5)
    asyncio.run(run())
