"""Personality files (Nova's `personality`, up to 2.56): files a server's creator (or
rebuilder) asks to find in the guest. As Nova does with a config drive, they are on
the server's config drive and in the metadata service: `meta_data.json` lists them
(`files`: path and content_path) and `openstack/content/NNNN` holds each one.

They are checked against the project's quotas before anything is written, with
Nova's 403s (injected_files, injected_file_path_bytes, injected_file_content_bytes),
and kept in the server's system_metadata (`injected_files`), so a rebuild without
personality keeps them and one with personality replaces them, as Nova injects them
again on rebuild.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from overcast.compute import models as m
from overcast.kit.errors import BadRequest, Forbidden

KEY = "injected_files"


def parse(raw: Any) -> list[dict[str, str]] | None:
    """The files of a create or rebuild (None when none were given); a content that is
    not base64 is a 400, as in Nova."""
    if raw is None:
        return None
    files = []
    for item in raw:
        contents = str(item.get("contents") or "")
        try:
            base64.b64decode(contents, validate=False)
        except (binascii.Error, ValueError):
            raise BadRequest(f"Personality content for {item.get('path')} cannot be "
                             f"decoded") from None
        files.append({"path": str(item.get("path") or ""), "contents": contents})
    return files


def check_quota(files: list[dict[str, str]], limits: dict[str, int]) -> None:
    """Nova's _check_injected_file_quota: count, path bytes, content bytes (403)."""
    allowed = limits.get("injected_files", 5)
    if 0 <= allowed < len(files):
        raise Forbidden("Personality file limit exceeded")
    path_max = limits.get("injected_file_path_bytes", 255)
    content_max = limits.get("injected_file_content_bytes", 10240)
    for f in files:
        if 0 <= path_max < len(f["path"].encode()):
            raise Forbidden(f"Personality file path exceeds maximum {path_max}")
        if 0 <= content_max < len(base64.b64decode(f["contents"])):
            raise Forbidden(f"Personality file content exceeds maximum {content_max}")


def store(inst: m.Instance, files: list[dict[str, str]]) -> None:
    sysmeta = dict(inst.system_metadata or {})
    sysmeta[KEY] = files
    inst.system_metadata = sysmeta


def files_of(inst: m.Instance) -> list[dict[str, str]]:
    return list((getattr(inst, "system_metadata", None) or {}).get(KEY) or [])


def content_path(index: int) -> str:
    """Where a file's content is, under openstack/ (Nova's /content/NNNN)."""
    return f"content/{index:04d}"


def meta_data_files(inst: m.Instance) -> list[dict[str, str]]:
    """meta_data.json's `files`."""
    return [{"path": f["path"], "content_path": f"/{content_path(i)}"}
            for i, f in enumerate(files_of(inst))]


def contents(inst: m.Instance) -> dict[str, bytes]:
    """Each file's bytes, by its content path."""
    return {content_path(i): base64.b64decode(f["contents"])
            for i, f in enumerate(files_of(inst))}
