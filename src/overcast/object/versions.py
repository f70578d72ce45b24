"""Legacy object versioning (Swift's versioned_writes): X-Versions-Location and
X-History-Location.

When a container names a versions container, overwriting an object first
moves the current copy there as `<3 hex digits: name length><name>/<timestamp>`.
On DELETE, "stack" mode (X-Versions-Location) restores the newest archived
copy in place (and removes it from the archive); "history" mode
(X-History-Location) archives the current copy and deletes it. Copies are
backend links, so archiving moves no bytes.
"""

from __future__ import annotations

from overcast.object import containers, objects
from overcast.object.objects import NewObject
from overcast.object.records import ContainerInfo, Entry, ObjectInfo
from overcast.object.store import ObjectStore


def archive_prefix(name: str) -> str:
    return f"{len(name):03x}{name}/"


def archive_name(obj: ObjectInfo) -> str:
    return f"{archive_prefix(obj.name)}{obj.timestamp:016.5f}"


def _as_new(obj: ObjectInfo) -> NewObject:
    return NewObject(content_type=obj.content_type, meta=dict(obj.meta),
                     headers=dict(obj.headers), delete_at=obj.delete_at,
                     dlo_manifest=obj.dlo_manifest, slo_manifest=obj.slo_manifest,
                     manifest_etag=obj.manifest_etag, symlink_path=obj.symlink_path,
                     size_override=obj.size, etag_override=obj.etag)


def _link(store: ObjectStore, obj: ObjectInfo, account: str, container: str,
          name: str) -> None:
    location = store.backend.link(obj.location) if obj.location else None
    if obj.location and location is None:
        raise OSError(f"the backend could not copy {obj.location}")
    try:
        objects.record(store, account, container, name, _as_new(obj), location, obj.size,
                       obj.etag)
    except BaseException:
        if location:
            store.backend.delete(location)
        raise


def archive(store: ObjectStore, c: ContainerInfo, name: str) -> None:
    """Before an overwrite (or a history-mode delete): keep the current copy."""
    if not c.versions_location:
        return
    current = objects.lookup(store, c.account, c.name, name)
    if current is None:
        return
    if containers.lookup(store, c.account, c.versions_location) is None:
        return
    _link(store, current, c.account, c.versions_location, archive_name(current))


def delete(store: ObjectStore, c: ContainerInfo, name: str) -> None:
    """DELETE in a versioned container."""
    if c.versions_mode == "history":
        archive(store, c, name)
        objects.delete(store, c.account, c.name, name)
        return
    assert c.versions_location is not None
    _, entries = containers.list_objects(store, c.account, c.versions_location,
                                         prefix=archive_prefix(name), limit=1, reverse=True)
    latest = next((e for e in entries if isinstance(e, Entry)), None)
    if latest is None:
        objects.delete(store, c.account, c.name, name)
        return
    old = objects.head(store, c.account, c.versions_location, latest.name)
    _link(store, old, c.account, c.name, name)
    objects.delete(store, c.account, c.versions_location, latest.name)


