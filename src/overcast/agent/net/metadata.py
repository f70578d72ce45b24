"""The metadata proxy: 169.254.169.254:80 inside each DHCP namespace and each router
namespace, answered by the control plane over the bus.

A listening socket is made inside the namespace (a short-lived thread enters it with
setns, binds, and leaves; the socket stays in the namespace it was made in) and is
served by the agent's event loop, so one agent process serves every network without
a process per network. The request is forwarded as (network id, source address,
path): the guest cannot name another instance, and the anti-spoofing rules on its port
make the source address its own. A DHCP namespace serves one network; a router's
serves the networks of its legs, told apart by the subnet the source address is in
(a router's subnets never overlap).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import ipaddress
import logging
import os
import socket
import threading
from typing import Any

from overcast.bus import Bus, BusTimeout
from overcast.bus.messages import MetadataRequest

log = logging.getLogger("overcast.agent.metadata")

METADATA_IP = "169.254.169.254"
_CLONE_NEWNET = 0x40000000
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            500: "Internal Server Error", 502: "Bad Gateway", 504: "Gateway Timeout"}


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def listen_in_netns(netns: str, address: str, port: int) -> socket.socket:
    """A listening TCP socket bound to address:port inside the named namespace."""
    result: dict[str, Any] = {}

    def work() -> None:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
        try:
            _setns(target)
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((address, port))
                sock.listen(128)
                sock.setblocking(False)
                result["sock"] = sock
            finally:
                _setns(own)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            result["error"] = exc
        finally:
            os.close(own)
            os.close(target)

    t = threading.Thread(target=work, name=f"netns-{netns}")
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["sock"]  # type: ignore[no-any-return]


Networks = list[tuple[str, str]]
"""(cidr, network id) pairs: a request from an address in cidr is that network's."""


class MetadataProxy:
    """Serves 169.254.169.254 in each namespace it is told."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.servers: dict[str, asyncio.base_events.Server] = {}
        self.networks: dict[str, Networks] = {}
        #: the identity (inode) of each namespace a server listens in
        self.inodes: dict[str, int] = {}
        self.requests = 0

    async def prune(self) -> None:
        """Close the servers whose namespace went (or was made anew) behind our back:
        a listening socket keeps its namespace alive, with the devices in it, so a
        router or DHCP namespace deleted by hand would live on unnamed and keep
        forwarding, and could not be rebuilt under its name."""
        for ns in list(self.servers):
            try:
                ino = os.stat(f"/run/netns/{ns}").st_ino
            except OSError:
                ino = -1
            if ino != self.inodes.get(ns):
                await self.remove(ns)

    async def ensure(self, wanted: dict[str, tuple[str, Networks]]) -> None:
        """`wanted`: namespace -> the networks whose guests it answers, as
        (cidr, network id); a DHCP namespace has one network, for any address."""
        for ns in list(self.servers):
            if ns not in wanted:
                await self.remove(ns)
        for ns, (label, networks) in wanted.items():
            self.networks[ns] = networks
            srv = self.servers.get(ns)
            if srv is not None and srv.is_serving():
                continue
            try:
                ino = os.stat(f"/run/netns/{ns}").st_ino
                sock = await asyncio.to_thread(listen_in_netns, ns, METADATA_IP, 80)
            except OSError as exc:
                log.warning("metadata proxy for %s not started: %s", label, exc)
                continue
            self.inodes[ns] = ino
            self.servers[ns] = await asyncio.start_server(
                functools.partial(self._serve, ns), sock=sock)

    async def remove(self, ns: str) -> None:
        srv = self.servers.pop(ns, None)
        self.networks.pop(ns, None)
        self.inodes.pop(ns, None)
        if srv is not None:
            srv.close()
            with contextlib.suppress(Exception):
                await srv.wait_closed()

    async def stop(self) -> None:
        for ns in list(self.servers):
            await self.remove(ns)

    def _network(self, ns: str, peer: str) -> str | None:
        addr = ipaddress.ip_address(peer)
        for cidr, net_id in self.networks.get(ns, []):
            if addr in ipaddress.ip_network(cidr):
                return net_id
        return None

    async def _serve(self, ns: str, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        try:
            peer = writer.get_extra_info("peername")[0]
            net_id = self._network(ns, peer)
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                return
            line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            if len(line) < 2:
                await self._reply(writer, 400, "text/plain", b"bad request\n")
                return
            method, path = line[0], line[1]
            if method not in ("GET", "HEAD"):
                await self._reply(writer, 405, "text/plain", b"GET only\n")
                return
            self.requests += 1
            if net_id is None:
                await self._reply(writer, 404, "text/plain", b"not an instance here\n")
                return
            try:
                ans = await self.bus.call("network", MetadataRequest(
                    network_id=net_id, address=peer, path=path), timeout=10)
            except BusTimeout:
                await self._reply(writer, 504, "text/plain", b"metadata service timeout\n")
                return
            except Exception:  # noqa: BLE001 - the guest gets a 502, the log the cause
                log.exception("metadata request failed")
                await self._reply(writer, 502, "text/plain", b"metadata service error\n")
                return
            body = ans.body
            await self._reply(writer, ans.status, ans.content_type,
                              b"" if method == "HEAD" else body, len(body))
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, status: int, ctype: str, body: bytes,
                     length: int | None = None) -> None:
        head = (f"HTTP/1.0 {status} {_REASONS.get(status, 'Error')}\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: "
                f"{len(body) if length is None else length}\r\n"
                "Connection: close\r\n\r\n")
        writer.write(head.encode() + body)
        with contextlib.suppress(Exception):
            await writer.drain()
