"""A small public image for tests that boot servers (compute checks that it exists)."""

from __future__ import annotations

from typing import Any

IMAGE = "3b8b5d4e-6a2c-4f43-9f0e-2f1d7a0f5a11"
DATA = b"\0" * 65536


def image_body(image_id: str = IMAGE, name: str = "test-raw") -> dict[str, Any]:
    return {"id": image_id, "name": name, "disk_format": "raw", "container_format": "bare",
            "visibility": "public"}


def add_image(client: Any, headers: dict[str, str], image_id: str = IMAGE,
              name: str = "test-raw", prefix: str = "/image") -> str:
    """Create and upload the image with any client that has .post/.put (TestClient, httpx)."""
    r = client.post(f"{prefix}/v2/images", headers=headers, json=image_body(image_id, name))
    assert r.status_code in (201, 409), r.text
    if r.status_code == 201:
        r = client.put(f"{prefix}/v2/images/{image_id}/file", content=DATA, headers={
            **headers, "Content-Type": "application/octet-stream"})
        assert r.status_code == 204, r.text
    return image_id
