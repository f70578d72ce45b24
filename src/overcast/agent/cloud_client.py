"""A compute host's client of the control plane's public APIs, as Nova's compute
service is one of Glance's: a remote agent never reads the control plane's files.

It authenticates to Keystone with the service user's credential (the control
plane writes it at bootstrap as DATA_DIR/agent-credential.yaml; the operator
copies it into each host's data dir), finds the image service in the token's
catalog, and then:

- `image_path(image_id)`: the image's bytes in a local file, downloaded once over
  HTTP into the host's cache and checked against the image's os_hash_value
  (sha512, Glance's multihash) and MD5 `checksum`, so a short or corrupted
  download never becomes a guest's disk;
- `upload_snapshot(image_id, path, disk_format)`: a snapshot's file uploaded into
  the (queued) image compute made for it, its disk format set first.

The token is kept until a minute before it expires, and taken again after a 401.
The password is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

log = logging.getLogger("overcast.agent.cloud")

#: the file in a host's data dir holding the service user's credential
CREDENTIAL_FILE = "agent-credential.yaml"
CHUNK = 1 << 20


class CloudClientError(RuntimeError):
    """The control plane refused or could not be reached."""


def load_credential(path: Path) -> dict[str, str]:
    """The `auth` mapping of a credential file (clouds.yaml's shape)."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise CloudClientError(f"cannot read the agent credential {path}: "
                               f"{exc.strerror}") from None
    auth = data.get("auth") if isinstance(data, dict) else None
    if not isinstance(auth, dict) or not auth.get("username") or not auth.get("password"):
        raise CloudClientError(f"{path} holds no auth.username and auth.password")
    return {str(k): str(v) for k, v in auth.items()}


class CloudClient:
    def __init__(self, public_url: str, credential: dict[str, str], cache_dir: Path,
                 *, timeout: float = 60.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.auth_url = f"{public_url.rstrip('/')}/identity/v3"
        self._credential = credential
        self.cache_dir = cache_dir
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._token: str | None = None
        self._expires = datetime.min.replace(tzinfo=UTC)
        self._catalog: list[dict[str, Any]] = []
        self._auth_lock = asyncio.Lock()
        self._fetching: dict[str, asyncio.Lock] = {}

    async def close(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ auth
    async def _authenticate(self) -> None:
        c = self._credential
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c["username"], "password": c["password"],
                "domain": {"name": c.get("user_domain_name", "Default")}}}},
            "scope": {"project": {"name": c.get("project_name", "service"),
                                  "domain": {"name": c.get("project_domain_name",
                                                           "Default")}}}}}
        try:
            r = await self._http.post(f"{self.auth_url}/auth/tokens", json=body)
        except httpx.HTTPError as exc:
            raise CloudClientError(f"identity at {self.auth_url} unreachable: {exc}") from exc
        if r.status_code != 201:
            raise CloudClientError(f"identity refused the agent's service user "
                                   f"{c['username']!r}: HTTP {r.status_code}")
        token = r.json()["token"]
        self._token = r.headers["X-Subject-Token"]
        self._catalog = token.get("catalog") or []
        expires = datetime.fromisoformat(token["expires_at"].replace("Z", "+00:00"))
        self._expires = expires - timedelta(seconds=60)

    async def token(self, *, renew: bool = False) -> str:
        async with self._auth_lock:
            if renew or self._token is None or datetime.now(UTC) >= self._expires:
                await self._authenticate()
            assert self._token is not None
            return self._token

    async def endpoint(self, service_type: str) -> str:
        await self.token()
        for svc in self._catalog:
            if svc.get("type") == service_type:
                for ep in svc.get("endpoints", []):
                    if ep.get("interface") == "public":
                        return str(ep["url"]).rstrip("/")
        raise CloudClientError(f"the catalog has no public {service_type} endpoint")

    async def _request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        """One request with the service token; a 401 takes a new token once."""
        for renew in (False, True):
            headers = {**kw.pop("headers", {}), "X-Auth-Token": await self.token(renew=renew)}
            r = await self._http.request(method, url, headers=headers, **kw)
            if r.status_code != 401:
                return r
            kw["headers"] = {k: v for k, v in headers.items() if k != "X-Auth-Token"}
        return r

    # ---------------------------------------------------------------- images
    async def image_path(self, image_id: str) -> Path:
        """The image's bytes in the host's cache (downloaded and verified once)."""
        dest = self.cache_dir / image_id
        if dest.exists():
            return dest
        lock = self._fetching.setdefault(image_id, asyncio.Lock())
        async with lock:
            if not dest.exists():
                await self._download(image_id, dest)
        return dest

    async def _download(self, image_id: str, dest: Path) -> None:
        base = await self.endpoint("image")
        r = await self._request("GET", f"{base}/v2/images/{image_id}")
        if r.status_code != 200:
            raise CloudClientError(f"image {image_id}: HTTP {r.status_code} from the "
                                   "image service")
        meta = r.json()
        if meta.get("status") not in ("active", "deactivated"):
            raise CloudClientError(f"image {image_id} is {meta.get('status')}, not active")
        algo = meta.get("os_hash_algo") or "sha512"
        want = {algo: meta.get("os_hash_value"), "md5": meta.get("checksum")}
        hashes = {name: hashlib.new(name) for name, value in want.items() if value}
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{image_id}.{os.getpid()}.part")
        try:
            headers = {"X-Auth-Token": await self.token()}
            async with self._http.stream("GET", f"{base}/v2/images/{image_id}/file",
                                         headers=headers) as resp:
                if resp.status_code != 200:
                    raise CloudClientError(f"image {image_id} data: HTTP "
                                           f"{resp.status_code} from the image service")
                with open(tmp, "wb") as fh:
                    async for chunk in resp.aiter_bytes(CHUNK):
                        fh.write(chunk)
                        for h in hashes.values():
                            h.update(chunk)
            for name, h in hashes.items():
                if h.hexdigest() != want[name]:
                    raise CloudClientError(f"image {image_id} arrived corrupted: its "
                                           f"{name} does not match the image's")
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        log.info("image %s fetched into %s", image_id, dest)

    async def upload_snapshot(self, image_id: str, path: Path, disk_format: str) -> None:
        """Upload `path` as the data of the queued image `image_id`."""
        base = await self.endpoint("image")
        url = f"{base}/v2/images/{image_id}"
        r = await self._request("GET", url)
        if r.status_code != 200:
            raise CloudClientError(f"snapshot image {image_id}: HTTP {r.status_code}")
        meta = r.json()
        ops = []
        if meta.get("disk_format") != disk_format:
            ops.append({"op": "replace", "path": "/disk_format", "value": disk_format})
        if not meta.get("container_format"):
            ops.append({"op": "replace", "path": "/container_format", "value": "bare"})
        if ops:
            r = await self._request(
                "PATCH", url, json=ops,
                headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
            if r.status_code != 200:
                raise CloudClientError(f"snapshot image {image_id}: setting its format: "
                                       f"HTTP {r.status_code} {r.text[:200]}")
        size = path.stat().st_size

        async def body() -> AsyncIterator[bytes]:
            with open(path, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    yield chunk

        # a fresh token (good for a minute at least): a streamed body cannot be sent twice
        r = await self._http.put(f"{url}/file", content=body(), headers={
            "X-Auth-Token": await self.token(), "Content-Type": "application/octet-stream",
            "Content-Length": str(size)})
        if r.status_code != 204:
            raise CloudClientError(f"snapshot image {image_id}: upload: HTTP "
                                   f"{r.status_code} {r.text[:200]}")
