"""Pictures drawn on the server as SVG: quota donuts and the network topology.

Both are plain functions of data the pages already fetched, returning markup the
templates insert as is (every text in them is escaped here), so the browser needs no
charting library and the picture is in the page's first byte.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape


def donut(label: str, used: float, limit: float, unit: str = "") -> Markup:
    """A ring showing used/limit (limit -1: unlimited) with the figures inside."""
    r, width, size = 42, 14, 120
    circumference = 2 * math.pi * r
    unlimited = limit is None or limit < 0
    frac = 0.0 if unlimited or limit == 0 else min(used / limit, 1.0)
    if limit == 0 and used > 0:
        frac = 1.0
    colour = "#1d7a46" if frac < 0.7 else "#b36b00" if frac < 0.9 else "#b3261e"
    shown = f"{_num(used)}{unit}"
    total = "no limit" if unlimited else f"of {_num(limit)}{unit}"
    title = f"{label}: {shown} used, {total}"
    dash = f"{circumference * frac:.2f} {circumference:.2f}"
    return Markup(
        f'<svg class="donut" role="img" aria-label="{escape(title)}" width="{size}" '
        f'height="{size + 22}" viewBox="0 0 {size} {size + 22}">'
        f"<title>{escape(title)}</title>"
        f'<circle cx="60" cy="60" r="{r}" fill="none" stroke="#e3e8f0" stroke-width="{width}"/>'
        f'<circle cx="60" cy="60" r="{r}" fill="none" stroke="{colour}" '
        f'stroke-width="{width}" stroke-dasharray="{dash}" transform="rotate(-90 60 60)"/>'
        f'<text x="60" y="58" text-anchor="middle" font-size="15" font-weight="600">'
        f"{escape(shown)}</text>"
        f'<text x="60" y="76" text-anchor="middle" font-size="11" fill="#5b6676">'
        f"{escape(total)}</text>"
        f'<text x="60" y="{size + 16}" text-anchor="middle" font-size="13">{escape(label)}</text>'
        "</svg>")


def _num(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


@dataclass
class _Box:
    x: float
    y: float
    w: float
    h: float
    label: str
    sub: str
    kind: str
    href: str = ""
    links: list[str] = field(default_factory=list)


#: Instances drawn under one network; the rest are one "+N more" box (a picture of a
#: thousand instances is no picture).
MAX_PER_NETWORK = 12

_COLOURS = {"external": "#7a4fc4", "network": "#2458c6", "router": "#1d7a46",
            "instance": "#b36b00"}


def topology(networks: list[dict[str, Any]], routers: list[dict[str, Any]],
             ports: list[dict[str, Any]], servers: list[dict[str, Any]]) -> Markup:
    """External networks on top, routers below them, tenant networks as horizontal
    bars, instances hanging from the networks they have a port on."""
    external = [n for n in networks if n.get("router:external")]
    tenant = [n for n in networks if not n.get("router:external")]
    names = {s["id"]: s for s in servers}
    shown = min(len(servers), MAX_PER_NETWORK + 1)
    width = max(900, 180 * max(len(routers), 1) + 200, 150 * max(shown, 1) + 200)
    parts: list[str] = []
    y = 20
    net_y: dict[str, float] = {}
    for net in external:
        net_y[net["id"]] = y
        parts.append(_bar(net, y, width, "external"))
        y += 60
    router_y = y + 10
    router_x: dict[str, float] = {}
    for i, router in enumerate(routers):
        router_x[router["id"]] = 160 + i * 180
    y = router_y + 100 if routers else y + 10
    for net in tenant:
        net_y[net["id"]] = y
        parts.append(_bar(net, y, width, "network"))
        y += 150
    height = y + 20
    lines: list[str] = []
    # router links: gateway to its external network, interfaces to tenant networks
    for router in routers:
        x = router_x[router["id"]]
        gw = (router.get("external_gateway_info") or {}).get("network_id")
        if gw in net_y:
            lines.append(_line(x, net_y[gw] + 24, x, router_y))
        for port in ports:
            if port.get("device_id") == router["id"] and \
                    port.get("device_owner") == "network:router_interface" and \
                    port.get("network_id") in net_y:
                lines.append(_line(x, router_y + 40, x, net_y[port["network_id"]]))
    # instances: one box per (server, network), below the network bar
    col: dict[str, int] = {}
    boxes: list[str] = []
    for port in ports:
        owner = port.get("device_owner") or ""
        device = str(port.get("device_id") or "")
        net_id = str(port.get("network_id"))
        if not owner.startswith("compute:") or not device or net_id not in net_y:
            continue
        # past the first page of names an instance is drawn by its id's head
        server = names.get(device) or {"id": device, "name": device[:8]}
        i = col.get(net_id, 0)
        col[net_id] = i + 1
        if i >= MAX_PER_NETWORK:
            continue  # counted, drawn as "+N more" below
        x, top = 40 + i * 150, net_y[net_id] + 60
        lines.append(_line(x + 60, net_y[net_id] + 24, x + 60, top))
        ips = ", ".join(ip["ip_address"] for ip in port.get("fixed_ips", []))
        boxes.append(_box(_Box(x, top, 120, 50, server.get("name") or server["id"][:8],
                               ips, "instance", f"/instances/{server['id']}")))
    for net_id, count in col.items():
        if count > MAX_PER_NETWORK:
            x = 40 + MAX_PER_NETWORK * 150
            boxes.append(_box(_Box(x, net_y[net_id] + 60, 120, 50,
                                   f"+{count - MAX_PER_NETWORK} more", "instances",
                                   "instance", "/instances")))
    for router in routers:
        x = router_x[router["id"]]
        boxes.append(_box(_Box(x - 60, router_y, 120, 40, router.get("name") or
                               router["id"][:8], "router", "router")))
    svg = (f'<svg id="topology-svg" role="img" aria-label="Network topology" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'font-family="system-ui, sans-serif">'
           f"<title>Network topology</title>{''.join(parts)}{''.join(lines)}"
           f"{''.join(boxes)}</svg>")
    return Markup(svg)


def _bar(net: dict[str, Any], y: float, width: float, kind: str) -> str:
    cidrs = ", ".join(net.get("_cidrs", []))
    label = f"{net.get('name') or net['id'][:8]}  {cidrs}".strip()
    return (f'<g class="net {kind}" data-name="{escape(net.get("name") or "")}">'
            f'<rect x="10" y="{y}" width="{width - 20}" height="24" rx="4" '
            f'fill="{_COLOURS[kind]}"/>'
            f'<text x="20" y="{y + 17}" fill="#fff" font-size="13">{escape(label)}</text></g>')


def _line(x1: float, y1: float, x2: float, y2: float) -> str:
    return (f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#5b6676" '
            f'stroke-width="2"/>')


def _box(b: _Box) -> str:
    inner = (f'<rect x="{b.x}" y="{b.y}" width="{b.w}" height="{b.h}" rx="5" fill="#fff" '
             f'stroke="{_COLOURS[b.kind]}" stroke-width="2"/>'
             f'<text x="{b.x + b.w / 2}" y="{b.y + 18}" text-anchor="middle" font-size="13" '
             f'font-weight="600">{escape(b.label[:18])}</text>'
             f'<text x="{b.x + b.w / 2}" y="{b.y + 34}" text-anchor="middle" font-size="11" '
             f'fill="#5b6676">{escape(b.sub[:22])}</text>')
    group = f'<g class="{b.kind}" data-name="{escape(b.label)}">{inner}</g>'
    if b.href:
        return f'<a href="{escape(b.href)}">{group}</a>'
    return group
