"""How GET /v2/images turns its query string into one SQL query and a sort.

Filters (Glance's): name, id, status, visibility, owner, member_status,
formats, size_min/size_max, protected, os_hidden, created_at/updated_at with an
operator (`gte:2024-01-01T00:00:00Z`), checksum, os_hash_value, `in:` lists,
tags (all must match) and any other key as an extra property. Shared images
appear once the member accepted them unless `member_status` says otherwise;
community images only when asked for; hidden ones only when asked for.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import and_, or_, select

from overcast.image import models as m
from overcast.image.properties import MEMBER_STATUSES, VISIBILITIES
from overcast.kit.context import RequestContext
from overcast.kit.errors import BadRequest

SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at",
             "updated_at", "visibility", "owner", "min_disk", "min_ram", "virtual_size")


def list_query(ctx: RequestContext, params: list[tuple[str, str]]
               ) -> tuple[Any, list[tuple[str, str]]]:
    """(the SELECT of the images to list, the sort keys) for this caller's query."""
    q = select(m.Image).where(m.Image.deleted.is_(False))
    single: dict[str, str] = {}
    tags: list[str] = []
    props: dict[str, str] = {}
    sort_keys: list[str] = []
    sort_dirs: list[str] = []
    sort_param = None
    for key, value in params:
        if key == "tag":
            tags.append(value)
        elif key == "sort_key":
            sort_keys.append(value)
        elif key == "sort_dir":
            sort_dirs.append(value)
        elif key == "sort":
            sort_param = value
        elif key in ("limit", "marker"):
            continue
        elif key in single or key in props:
            raise BadRequest(f"Duplicate filter {key}")
        elif key in ("name", "id", "status", "visibility", "owner", "member_status",
                     "disk_format", "container_format", "size_min", "size_max",
                     "protected", "os_hidden", "created_at", "updated_at", "checksum",
                     "os_hash_value"):
            single[key] = value
        else:
            props[key] = value
    visibility = single.get("visibility")
    if visibility is not None and visibility not in (*VISIBILITIES, "all"):
        raise BadRequest(f"Invalid visibility value: {visibility}")
    member_status = single.get("member_status", "accepted")
    if member_status not in (*MEMBER_STATUSES, "all"):
        raise BadRequest(f"Invalid status value: {member_status}")
    pid = ctx.project_id or ""
    mine = m.Image.owner == pid
    member_rows = select(m.ImageMember.image_id).where(m.ImageMember.member_id == pid)
    if member_status != "all":
        member_rows = member_rows.where(m.ImageMember.status == member_status)
    shared_to_me = and_(m.Image.visibility == "shared", m.Image.id.in_(member_rows))
    if visibility in (None, "all"):
        if not ctx.is_admin:
            allowed = [m.Image.visibility == "public", mine, shared_to_me]
            if visibility == "all":
                allowed.append(m.Image.visibility == "community")
            q = q.where(or_(*allowed))
    else:
        q = q.where(m.Image.visibility == visibility)
        if not ctx.is_admin:
            if visibility == "private":
                q = q.where(mine)
            elif visibility == "shared":
                q = q.where(or_(mine, shared_to_me))
    if "os_hidden" in single:
        q = q.where(m.Image.os_hidden.is_(parse_bool(single["os_hidden"], "os_hidden")))
    elif "id" not in single:
        q = q.where(m.Image.os_hidden.is_(False))
    for key in ("name", "id", "status", "owner", "disk_format", "container_format",
                "checksum", "os_hash_value"):
        if key in single:
            col = getattr(m.Image, key)
            value = single[key]
            if value.startswith("in:"):
                q = q.where(col.in_(in_list(value[3:])))
            elif key == "status" and value not in (
                    "queued", "saving", "active", "killed", "deleted", "pending_delete",
                    "deactivated", "uploading", "importing"):
                raise BadRequest(f"Invalid status value: {value}")
            else:
                q = q.where(col == value)
    if "protected" in single:
        q = q.where(m.Image.protected.is_(parse_bool(single["protected"], "protected")))
    for key, op in (("size_min", "ge"), ("size_max", "le")):
        if key in single:
            try:
                n = int(single[key])
                if not -(2**63) <= n < 2**63:  # no image is that large; no column is
                    raise ValueError(key)
            except ValueError:
                raise BadRequest(f"Invalid value for {key}: {single[key][:64]}")
            q = q.where(m.Image.size >= n if op == "ge" else m.Image.size <= n)
    for key in ("created_at", "updated_at"):
        if key in single:
            q = q.where(time_filter(getattr(m.Image, key), single[key], key))
    for tag in tags:
        q = q.where(m.Image.id.in_(select(m.ImageTag.image_id).where(m.ImageTag.tag == tag)))
    for name, value in props.items():
        q = q.where(m.Image.id.in_(select(m.ImageProperty.image_id).where(
            m.ImageProperty.name == name, m.ImageProperty.value == value)))
    return q, _sort(sort_param, sort_keys, sort_dirs)


def parse_bool(raw: str, name: str) -> bool:
    if raw.lower() in ("true", "1", "yes", "on"):
        return True
    if raw.lower() in ("false", "0", "no", "off"):
        return False
    raise BadRequest(f"Invalid value for {name}: {raw}. It must be true or false.")


def in_list(raw: str) -> list[str]:
    out = []
    for part in re.findall(r'"[^"]*"|[^,]+', raw):
        out.append(part.strip('"'))
    return out


def time_filter(col: Any, raw: str, key: str) -> Any:
    op, _, value = raw.partition(":")
    if op not in ("gt", "gte", "lt", "lte", "eq", "neq") or not value:
        op, value = "eq", raw
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid value for {key}: {raw}")
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC).replace(tzinfo=None)
    return {"gt": col > t, "gte": col >= t, "lt": col < t, "lte": col <= t, "eq": col == t,
            "neq": col != t}[op]


def _sort(sort_param: str | None, keys: list[str], dirs: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if sort_param is not None:
        if keys or dirs:
            raise BadRequest("The 'sort' parameter cannot be combined with sort_key/sort_dir.")
        for part in sort_param.split(","):
            key, _, direction = part.strip().partition(":")
            out.append((key, direction or "desc"))
    else:
        if len(dirs) > len(keys) and not (len(dirs) == 1 and not keys):
            raise BadRequest("The number of sort_dir values exceeds the number of sort_key "
                             "values.")
        keys = keys or ["created_at"]
        for i, key in enumerate(keys):
            out.append((key, dirs[i] if i < len(dirs) else (dirs[0] if len(dirs) == 1
                                                           else "desc")))
    for key, direction in out:
        if key not in SORT_KEYS:
            raise BadRequest(f"Invalid sort key: {key}. It must be one of the following: "
                             f"{', '.join(SORT_KEYS)}.")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort direction: {direction}")
    return out

