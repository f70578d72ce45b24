"""The agents extension (GET/PUT/DELETE /v2.0/agents): the network agents that really
run, as Neutron lists its DHCP, L3, metadata and L2 agents.

overcast has one agent process per host; its dataplane plays the parts Neutron gives
separate agents. Each host whose agent asked for its dataplane's state (a row of
`net_agents`, kept by `dataplane.py`) shows as a Linux bridge agent (its VXLAN
tunnel endpoint), and the network host also as the DHCP, L3 and metadata agents it
runs (dnsmasq, router namespaces, the metadata proxy). A host's agent asks at every
resync: that is its heartbeat, and `alive` says whether it was recent. Agents are
the operator's: as in Neutron's default policy only admins see them (a project's
listing is empty) or change them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select

from overcast.db import utcnow
from overcast.kit.context import RequestContext
from overcast.network import errors, policy
from overcast.network import models as m
from overcast.network.common import Store

#: A heartbeat older than this is a dead agent. The agents ask at every resync
#: (60 s); Neutron's own agent_down_time is 75 s for 30 s reports, the same ratio.
AGENT_DOWN_TIME = dt.timedelta(seconds=150)
#: the ids' namespace: an agent's id is stable for its host and type
_NS = uuid.UUID("5a1b53c4-8f8e-4c0e-9a55-0e3c1d0a9f21")
#: (agent_type, topic, in an availability zone, only on the network host)
_TYPES = (
    ("Linux bridge agent", "N/A", False, False),
    ("DHCP agent", "dhcp_agent", True, True),
    ("L3 agent", "l3_agent", True, True),
    ("Metadata agent", "N/A", False, True),
)
BINARY = "overcast-agent"
FILTERS = ("id", "agent_type", "binary", "topic", "host", "alive", "admin_state_up",
           "availability_zone", "description")


def agent_id(host: str, agent_type: str) -> str:
    return str(uuid.uuid5(_NS, f"{host}/{agent_type}"))


def _when(t: dt.datetime | None) -> str | None:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t is not None else None  # Neutron's format


class Agents:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _all(self) -> list[tuple[m.Agent, dict[str, Any]]]:
        now = utcnow()
        out = []
        with self.store.db.session() as s:
            for row in s.scalars(select(m.Agent).order_by(m.Agent.host)):
                for kind, topic, zoned, network_only in _TYPES:
                    if network_only and not row.network_host:
                        continue
                    out.append((row, self._view(row, kind, topic, zoned, now)))
        return out

    @staticmethod
    def _view(row: m.Agent, kind: str, topic: str, zoned: bool, now: dt.datetime
              ) -> dict[str, Any]:
        beat = row.heartbeat_at or row.updated_at
        config: dict[str, Any] = {}
        if kind == "Linux bridge agent":
            config = {"tunnel_types": ["vxlan"] if row.tunnel_ip else [],
                      "tunneling_ip": row.tunnel_ip or None}
        return {
            "id": agent_id(row.host, kind), "agent_type": kind, "binary": BINARY,
            "topic": topic, "host": row.host, "admin_state_up": True,
            "alive": beat is not None and now - beat <= AGENT_DOWN_TIME,
            "created_at": _when(row.created_at or row.updated_at),
            "started_at": _when(row.created_at or row.updated_at),
            "heartbeat_timestamp": _when(beat), "description": row.description or None,
            "availability_zone": "nova" if zoned else None, "configurations": config,
            "resources_synced": None}

    def list_agents(self, ctx: RequestContext, params: list[tuple[str, str]]
                    ) -> list[dict[str, Any]]:
        if not policy.may_see_agents(ctx):
            return []
        wanted: dict[str, set[str]] = {}
        for k, v in params:
            if k in ("fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"):
                continue
            if k not in FILTERS:
                raise errors.invalid_filter(k)
            wanted.setdefault(k, set()).add(v.lower() if k in ("alive", "admin_state_up")
                                             else v)
        return [view for _, view in self._all()
                if all(_text(view[k]) in vals for k, vals in wanted.items())]

    def show(self, ctx: RequestContext, ident: str) -> dict[str, Any]:
        return self._find(ctx, ident)[1]

    def _find(self, ctx: RequestContext, ident: str) -> tuple[m.Agent, dict[str, Any]]:
        if policy.may_see_agents(ctx):
            for row, view in self._all():
                if view["id"] == ident:
                    return row, view
        raise errors.not_found("Agent", ident)

    def update(self, ctx: RequestContext, ident: str, body: dict[str, Any]) -> dict[str, Any]:
        row, view = self._find(ctx, ident)
        if "admin_state_up" in body and body["admin_state_up"] in (False, "false", "False"):
            raise errors.agent_admin_state_fixed()
        if "description" in body:
            with self.store.db.transaction() as s:
                got = s.get(m.Agent, row.host)
                if got is not None:
                    got.description = body["description"] or ""
        return self.show(ctx, ident)

    def delete(self, ctx: RequestContext, ident: str) -> None:
        """Forget the host's record (all its agents), as Neutron forgets an agent: a
        host whose agent still runs reports again at its next resync."""
        row, _ = self._find(ctx, ident)
        with self.store.db.transaction() as s:
            got = s.get(m.Agent, row.host)
            if got is not None:
                s.delete(got)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
