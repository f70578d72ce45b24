"""A remote host's client of the control plane (agent/cloud_client.py) against the
in-process app: the bootstrap's service user reads a project's private image and
uploads a snapshot into the queued image compute made for another project, the
download is cached and checked, and a wrong credential is said plainly."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from overcast.agent.cloud_client import (
    CREDENTIAL_FILE,
    CloudClient,
    CloudClientError,
    load_credential,
)
from tests.conftest import Cloud, build_cloud

V2 = "/image/v2"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    yield from build_cloud(tmp_path_factory.mktemp("agentclient"))


def _client(cloud: Cloud, cache: Path, **cred: str) -> CloudClient:
    credential = {**load_credential(cloud.data_dir / CREDENTIAL_FILE), **cred}
    return CloudClient("http://testserver", credential, cache,
                       transport=httpx.ASGITransport(app=cloud.app))


def _image(cloud: Cloud, headers: dict[str, str], data: bytes | None) -> str:
    r = cloud.client.post(f"{V2}/images", headers=headers, json={
        "name": "img", "disk_format": "raw", "container_format": "bare"})
    assert r.status_code == 201, r.text
    image_id = str(r.json()["id"])
    if data is not None:
        r = cloud.client.put(f"{V2}/images/{image_id}/file", content=data, headers={
            **headers, "Content-Type": "application/octet-stream"})
        assert r.status_code == 204, r.text
    return image_id


def test_credential_file_is_private_and_names_the_service_user(cloud: Cloud) -> None:
    path = cloud.data_dir / CREDENTIAL_FILE
    assert path.stat().st_mode & 0o077 == 0
    cred = load_credential(path)
    assert cred["username"] == "overcast-compute" and cred["project_name"] == "service"


def test_fetches_a_projects_private_image_once_and_checked(cloud: Cloud,
                                                            tmp_path: Path) -> None:
    user = cloud.make_project_user(prefix="cc")
    data = b"disk bytes " * 5000
    image_id = _image(cloud, user["headers"], data)

    async def go() -> tuple[Path, Path]:
        client = _client(cloud, tmp_path)
        try:
            first = await client.image_path(image_id)
            again = await client.image_path(image_id)
        finally:
            await client.close()
        return first, again

    first, again = asyncio.run(go())
    assert first == again == tmp_path / image_id
    assert first.read_bytes() == data


def test_a_download_that_does_not_match_the_checksum_is_refused(cloud: Cloud,
                                                                tmp_path: Path) -> None:
    image_id = _image(cloud, cloud.admin(), b"good bytes" * 100)
    stored = cloud.app.state.images.local_file(image_id)
    stored.chmod(0o644)
    stored.write_bytes(b"evil bytes" * 100)

    async def go() -> None:
        client = _client(cloud, tmp_path)
        try:
            await client.image_path(image_id)
        finally:
            await client.close()

    with pytest.raises(CloudClientError, match="corrupted"):
        asyncio.run(go())
    assert not list(tmp_path.iterdir()), "nothing of a bad download is kept"


def test_uploads_a_snapshot_into_another_projects_queued_image(cloud: Cloud,
                                                               tmp_path: Path) -> None:
    user = cloud.make_project_user(prefix="cs")
    image_id = _image(cloud, user["headers"], None)
    snap = tmp_path / "snap.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(snap), "16M"],
                   check=True)

    async def go() -> None:
        client = _client(cloud, tmp_path / "cache")
        try:
            await client.upload_snapshot(image_id, snap, "qcow2")
        finally:
            await client.close()

    asyncio.run(go())
    img = cloud.client.get(f"{V2}/images/{image_id}", headers=user["headers"]).json()
    assert img["status"] == "active" and img["disk_format"] == "qcow2"
    assert img["os_hash_value"] == hashlib.sha512(snap.read_bytes()).hexdigest()


def test_a_wrong_credential_is_said(cloud: Cloud, tmp_path: Path) -> None:
    async def go() -> None:
        client = _client(cloud, tmp_path, password="not-it")
        try:
            await client.token()
        finally:
            await client.close()

    with pytest.raises(CloudClientError, match="refused the agent's service user"):
        asyncio.run(go())
