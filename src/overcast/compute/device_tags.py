"""Device tags of a server's network interfaces (Nova's virtual interface tags): a
`networks` item's `tag` at create (2.32, 2.37 on) and an interface attach's `tag`
(2.49), kept by port in the server's system_metadata and shown by os-interface from
2.70 (volume mappings keep their own `tag`, shown by os-volume_attachments from
2.70).
"""

from __future__ import annotations

from typing import Any

from overcast.compute import models as m

KEY = "interface_tags"


def carry(networks: Any, requested: list[dict[str, Any]] | None) -> None:
    """Copy each `networks` item's tag onto its resolved entry (one entry per item)."""
    if not isinstance(networks, list) or not requested or len(networks) != len(requested):
        return
    for item, entry in zip(networks, requested, strict=True):
        if isinstance(item, dict) and item.get("tag"):
            entry["tag"] = str(item["tag"])


def record(inst: m.Instance, requested: list[dict[str, Any]] | None,
           ports: list[dict[str, Any]]) -> None:
    """After the create's ports are made: each tag goes to its item's port (the port
    the item named, or the next port made on the item's network)."""
    if not requested or not any(e.get("tag") for e in requested):
        return
    tags = of(inst)
    named = {str(e["port"]) for e in requested if e.get("port")}
    taken: set[str] = set()
    for entry in requested:
        if entry.get("port"):
            pid: str | None = str(entry["port"])
        else:
            pid = next((str(p["id"]) for p in ports
                        if p.get("network_id") == entry.get("uuid")
                        and str(p["id"]) not in taken | named), None)
        if pid is None:
            continue
        taken.add(pid)
        if entry.get("tag"):
            tags[pid] = entry["tag"]
    _store(inst, tags)


def put(inst: m.Instance, port_id: str, tag: str | None) -> None:
    """An attached port's tag (None: it has none, or it was detached)."""
    tags = of(inst)
    if tag:
        tags[port_id] = tag
    else:
        tags.pop(port_id, None)
    _store(inst, tags)


def of(inst: Any) -> dict[str, str]:
    return dict((getattr(inst, "system_metadata", None) or {}).get(KEY) or {})


def _store(inst: m.Instance, tags: dict[str, str]) -> None:
    sysmeta = dict(inst.system_metadata or {})
    if tags:
        sysmeta[KEY] = tags
    else:
        sysmeta.pop(KEY, None)
    inst.system_metadata = sysmeta
