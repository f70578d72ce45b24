"""What the real drivers' tests share: the agent's image files as a driver sees
them, and a keypair with its fingerprint (the built guest is conftest.py's `built`)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path


def ssh_key() -> tuple[str, str]:
    """A well-formed ed25519 public key and its MD5 fingerprint (as Nova shows it)."""
    blob = b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + secrets.token_bytes(32)
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return (f"ssh-ed25519 {base64.b64encode(blob).decode()} test@overcast",
            ":".join(digest[i:i + 2] for i in range(0, 32, 2)))


class Images:
    """The agent's image files as the driver sees them: id -> local file."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    async def path(self, image_id: str) -> Path:
        if image_id not in self.files:
            raise LookupError(f"No image data found for image {image_id}")
        return self.files[image_id]
