"""What compute needs of the other services, as small Protocols (its ports).

Compute never imports the network, image or placement services: it is handed
objects that have these methods (`app.state.network`, `app.state.images`,
`app.state.placement`), in `app.py`, once every service exists. A port may be
absent (an app built without that service): each caller then keeps the fallback
it always had (no networks, no image checks, no snapshots...).

The methods keep the names the providing services already use; parameters are
positional-only, so a provider may name its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from overcast.kit.context import RequestContext


class NetworkPort(Protocol):
    """The network service as compute sees it (Nova's network API)."""

    def resolve_requested(self, ctx: RequestContext, networks: Any, count: int,
                          security_groups: list[str] | None = None, /
                          ) -> list[dict[str, Any]]:
        """Check a create's `networks` (400/409 before anything is written)."""
        ...

    def allocate_for_instance(self, instance_uuid: str, project_id: str,
                              requested: list[dict[str, Any]], host: str,
                              vif_kind: str = "tap", /) -> list[dict[str, Any]]:
        """The instance's ports, made and bound to `host` (what the driver plugs)."""
        ...

    def bind_for_instance(self, instance_uuid: str, host: str, /) -> None:
        """The instance moved to `host`: its ports are bound there."""
        ...

    def release_for_instance(self, instance_uuid: str, /) -> None:
        """Give back an instance's ports (compute's go away, the user's are unbound)."""
        ...

    def compute_devices(self) -> set[str]:
        """Every instance a compute port is bound to (for the audit)."""
        ...

    def attach_port(self, instance_uuid: str, project_id: str, item: dict[str, Any],
                    host: str, vif_kind: str = "tap", /) -> dict[str, Any]:
        """One more port for an instance (a resolved `networks` item), bound to `host`."""
        ...

    def detach_port(self, instance_uuid: str, port_id: str, /) -> None:
        """Give back one port of an instance."""
        ...

    def ports_for_instance(self, instance_uuid: str, /) -> list[dict[str, Any]]:
        """What a driver plugs for an instance, in creation order."""
        ...

    def addresses(self, instance_uuids: list[str], /) -> dict[str, dict[str, Any]]:
        """Nova's `addresses` of each instance."""
        ...

    def instance_security_groups(self, instance_uuids: list[str], /
                                 ) -> dict[str, list[dict[str, str]]]:
        """Nova's `security_groups` of each instance (absent: its ports have none)."""
        ...

    def server_group_action(self, ctx: RequestContext, instance_uuid: str, name: str,
                            add: bool, /) -> None:
        """addSecurityGroup / removeSecurityGroup on the instance's ports."""
        ...

    # Nova's deprecated network proxies (os-security-groups, os-floating-ips,
    # os-networks...: compute.network_proxies): Neutron's own calls, as the caller.
    # `kind` is Neutron's singular name ("security_group", "floatingip", "port"...).
    def list_resources(self, ctx: RequestContext, kind: str,
                       filters: list[tuple[str, str]], /) -> list[dict[str, Any]]:
        """Every row of `kind` the caller sees matching Neutron's query filters."""
        ...

    def show_resource(self, ctx: RequestContext, kind: str, ident: str, /
                      ) -> dict[str, Any]: ...

    def create_resource(self, ctx: RequestContext, kind: str, body: dict[str, Any], /
                        ) -> dict[str, Any]: ...

    def update_resource(self, ctx: RequestContext, kind: str, ident: str,
                        body: dict[str, Any], /) -> dict[str, Any]: ...

    def delete_resource(self, ctx: RequestContext, kind: str, ident: str, /) -> None: ...


class ImagePort(Protocol):
    """The image service as compute sees it: boot images and snapshots."""

    def lookup(self, ctx: RequestContext, image_id: str, /) -> dict[str, Any]:
        """An image's record (NotFound when the caller cannot see it)."""
        ...

    def create(self, ctx: RequestContext, body: dict[str, Any], /) -> dict[str, Any]:
        """A new (queued) image record: a snapshot's."""
        ...

    def import_file(self, image_id: str, path: Path, disk_format: str, /) -> None:
        """Take a snapshot's file as the image's data."""
        ...

    def discard(self, image_id: str, /) -> None:
        """Remove a failed snapshot's image, whatever its owner."""
        ...

    # Nova's deprecated image proxy (/images: compute.image_proxies): Glance's own
    # calls, as the caller, with Glance's views
    def list_images(self, ctx: RequestContext, params: list[tuple[str, str]], /, *,
                    limit: int, marker: str | None) -> tuple[list[dict[str, Any]], bool]:
        """A page of the images the caller sees matching Glance's filters, and
        whether there is more."""
        ...

    def update(self, ctx: RequestContext, image_id: str, ops: Any, /) -> dict[str, Any]:
        """Glance's JSON-patch of an image."""
        ...

    def delete(self, ctx: RequestContext, image_id: str, /) -> None:
        """Delete an image as the caller (the /images proxy; a backup rotated away)."""
        ...


class Candidate(Protocol):
    """One allocation candidate: where to claim, on which root provider."""

    @property
    def allocations(self) -> dict[str, dict[str, int]]: ...

    @property
    def root_uuid(self) -> str: ...


class PlacementPort(Protocol):
    """Placement as the scheduler and the resize path use it."""

    def allocation_candidates(self, resources: dict[str, int], *,
                              limit: int | None = None) -> Sequence[Candidate]: ...

    def claim(self, consumer_uuid: str, allocations: dict[str, dict[str, int]], *,
              project_id: str, user_id: str) -> None: ...

    def release(self, consumer_uuid: str, /) -> None: ...

    def get_allocations(self, consumer_uuid: str, /) -> dict[str, dict[str, int]]: ...

    def set_allocations(self, consumers: dict[str, dict[str, Any]], /) -> None: ...

    def free(self, uuids: Iterable[str], resource_class: str, /) -> dict[str, float]: ...

    def usages(self, uuid: str, /) -> dict[str, int]: ...

    def usages_of(self, uuids: Iterable[str], /) -> dict[str, dict[str, int]]:
        """The usages of many providers in one read (uuid -> class -> used); a uuid
        with no provider is absent."""
        ...

    def provider_allocations(self, uuid: str, /) -> tuple[int, dict[str, dict[str, int]]]:
        """(generation, consumer -> resources) of one provider (for the audit)."""
        ...

    def ensure_provider(self, uuid: str, name: str, /) -> None: ...

    def set_inventory(self, uuid: str, inventories: dict[str, dict[str, Any]], /) -> None: ...

    def provider_aggregates(self, uuid: str, /) -> tuple[int, list[str]]:
        """(generation, aggregate uuids) of a provider (os-aggregates' mirror)."""
        ...

    def put_provider_aggregates(self, uuid: str, seen: int | None, aggs: list[str], /
                                ) -> int: ...


class VolumePort(Protocol):
    """Block storage as compute sees it (VOLUME_CONTRACT.md; Cinder's attachments API:
    create, update with the connector, complete, delete). The provider is
    `app.state.volume.instances`; its calls wait on storage hosts, so compute makes
    them from worker threads."""

    def lookup(self, ctx: RequestContext, volume_id: str, /) -> dict[str, Any]:
        """The Cinder view of a volume the caller can see (NotFound otherwise)."""
        ...

    def reserve(self, ctx: RequestContext, volume_id: str, instance_uuid: str, /) -> str:
        """A new attachment id; the volume `reserved` (409 if it is not available and
        not multiattach)."""
        ...

    def connect(self, attachment_id: str, connector: dict[str, Any], /) -> dict[str, Any]:
        """Export the volume for the connector's host ({"host", "ip"}): its
        connection_info; the volume `attaching`."""
        ...

    def complete(self, attachment_id: str, mountpoint: str, /) -> None:
        """The guest has it: `in-use`."""
        ...

    def disconnect(self, attachment_id: str, /) -> None:
        """Unexport; `available` once no attachment is left."""
        ...

    def create_for_instance(self, ctx: RequestContext, *, size_gb: int,
                            image_id: str | None = None, snapshot_id: str | None = None,
                            source_volid: str | None = None, name: str = "",
                            volume_type: str | None = None) -> str:
        """A new volume's id (the caller polls `lookup` until it is available)."""
        ...

    def volume_type_name(self, ctx: RequestContext, ident: str, /) -> str:
        """The name of the volume type `ident` (its id or name) the caller may use
        (NotFound otherwise)."""
        ...

    def snapshot_for_instance(self, ctx: RequestContext, volume_id: str, *, name: str,
                              description: str = "") -> str:
        """A forced snapshot of a server's volume (a volume-backed server's image):
        its id."""
        ...

    def delete_for_instance(self, volume_id: str, /) -> None:
        """delete_on_termination."""
        ...

    # Nova's deprecated volume proxies (os-volumes, os-snapshots): Cinder's calls as
    # the caller, Cinder's views
    def list_volumes(self, ctx: RequestContext, params: dict[str, str], /
                     ) -> list[dict[str, Any]]: ...

    def create_volume(self, ctx: RequestContext, body: dict[str, Any], /
                      ) -> dict[str, Any]: ...

    def delete_volume(self, ctx: RequestContext, volume_id: str, /) -> None: ...

    def list_snapshots(self, ctx: RequestContext, params: dict[str, str], /
                       ) -> list[dict[str, Any]]: ...

    def show_snapshot(self, ctx: RequestContext, snapshot_id: str, /) -> dict[str, Any]: ...

    def create_snapshot(self, ctx: RequestContext, body: dict[str, Any], /
                        ) -> dict[str, Any]: ...

    def delete_snapshot(self, ctx: RequestContext, snapshot_id: str, /) -> None: ...
