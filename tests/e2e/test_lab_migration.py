"""Live and cold migration across the hosts of `overcast lab` (root, PostgreSQL and
RabbitMQ on 127.0.0.1): two compute hosts as namespaces, each its own agent, QEMU
driver and dataplane, the hosts' management addresses carrying the migration
stream and the disk; driven with the real openstackclient.

A guest with a floating IP is asked for its page (HTTP) from the upstream every
0.1 s while `openstack server migrate --live-migration` moves it to the other host:
the failed requests and the longest gap between two answers (the downtime the
upstream saw) are counted and printed; meanwhile one TCP connection from the
upstream to the guest's echo (port 7) carries a line every 0.1 s and must survive
the move with every line echoed; the
guest is the same boot (one OVERCAST-GUEST-UP on its console) and answers HTTP from
its new host. Then a cold migration (`server migrate` + `resize confirm`) brings it
back, answering again; data written on its disk on compute1 before the live
migration (through its QEMU: the guest runs from its initramfs) is on its disk
there again after both moves.

The lab is the one the lab modules share (lab_harness.py; TCG, as CI runs it).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.lab_harness import Lab, why_not

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(why_not() is not None,
                                                  reason=str(why_not()))]


#: asks http://HOST/ every 0.1 s (0.5 s timeout) until the file STOP exists; prints
#: how many tries, answers, failures and the longest gap between two answers
PROBE = """
import os, socket, sys, time
host, stop = sys.argv[1], sys.argv[2]
ok, tries, failed = [], 0, 0
while not os.path.exists(stop):
    t = time.time()
    tries += 1
    try:
        with socket.create_connection((host, 80), timeout=0.5) as s:
            s.settimeout(0.5)
            s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
            data = s.recv(300)
        if data:
            ok.append(t)
        else:
            failed += 1
    except OSError:
        failed += 1
    time.sleep(max(0.0, 0.1 - (time.time() - t)))
gaps = [b - a for a, b in zip(ok, ok[1:])]
print(f"tries={tries} answered={len(ok)} failed={failed} "
      f"maxgap={max(gaps) if gaps else -1:.3f}")
"""


#: keeps ONE TCP connection to HOST:7 (the guest's echo) until the file STOP exists:
#: a numbered line sent every 0.1 s and its echo read back (10 s timeout: across the
#: move the connection must survive, its segments retransmitted over the downtime);
#: prints how many lines were sent and echoed, the longest wait for an echo and
#: whether (why) the connection broke
TCP_PROBE = """
import os, socket, sys, time
host, stop = sys.argv[1], sys.argv[2]
sent, echoed, longest, broke = 0, 0, 0.0, "no"
try:
    with socket.create_connection((host, 7), timeout=10) as s:
        s.settimeout(10)
        while not os.path.exists(stop):
            t = time.time()
            sent += 1
            want = f"{sent}\\n".encode()
            s.sendall(want)
            got = b""
            while len(got) < len(want):
                chunk = s.recv(len(want) - len(got))
                if not chunk:
                    raise OSError("the guest closed the connection")
                got += chunk
            if got != want:
                raise OSError(f"echoed {got!r} for {want!r}")
            echoed += 1
            longest = max(longest, time.time() - t)
            time.sleep(max(0.0, 0.1 - (time.time() - t)))
except OSError as exc:
    broke = f"{type(exc).__name__}: {exc}".replace(" ", "_")
print(f"sent={sent} echoed={echoed} longest={longest:.3f} broke={broke}")
"""


def _hmp(lab: Lab, host: str, uuid: str, line: str) -> str:
    """A monitor command to the guest's QEMU on `host`."""
    from overcast.agent.virt.qemu.qmp import Qmp

    with Qmp(lab.instance_dir(host, uuid) / "qmp.sock", 30) as q:
        return str(q.execute("human-monitor-command", {"command-line": line}))


def _disk_holds(lab: Lab, host: str, uuid: str, pattern: str) -> bool:
    """Whether the server's root disk on `host` (read from the host, the guest off)
    has 4 MiB of `pattern` at 256 MiB."""
    disk = lab.instance_dir(host, uuid) / "disk.qcow2"
    r = subprocess.run(["qemu-io", "-r", "-U", "-f", "qcow2", "-c",
                        f"read -P {pattern} 256M 4M", str(disk)], capture_output=True,
                       text=True)
    out = r.stdout + r.stderr
    assert "read 4194304/4194304" in out or "failed" in out, out
    return "failed" not in out


def _server(lab: Lab, name: str, host: str, timeout: float = 300,
            statuses: tuple[str, ...] = ("ACTIVE", "VERIFY_RESIZE")) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        s = lab.osc("server", "show", name)
        assert s["status"] != "ERROR", s.get("fault")
        if s["status"] in statuses and \
                not s.get("OS-EXT-STS:task_state") and s["OS-EXT-SRV-ATTR:host"] == host:
            return dict(s)
        assert time.monotonic() < deadline, f"{name} is {s['status']} on " \
                                            f"{s['OS-EXT-SRV-ATTR:host']}"
        time.sleep(1)


def test_live_then_cold_migration_across_lab_hosts(lab: Lab) -> None:
    lab.osc("server", "create", "--image", "overcast-tiny", "--flavor", "m1.tiny",
            "--network", "private", "--availability-zone", "nova:compute1", "mover")
    s = _server(lab, "mover", "compute1")
    fip = lab.osc("floating", "ip", "create", "public")["floating_ip_address"]
    lab.osc("server", "add", "floating", "ip", "mover", fip, fmt=False)
    lab.answer(f"http://{fip}/", s["id"], timeout=300)  # a TCG boot on a loaded host
    # data on its disk (the guest runs from its initramfs: written through its own
    # QEMU's block layer, as a guest's write would go), to be found after both moves
    _hmp(lab, "compute1", s["id"], 'qemu-io root "write -P 0x5a 256M 4M"')
    # the guest's page asked for every 0.1 s from the upstream for the whole move
    stop = lab.data_dir.parent / "probe.stop"
    probe = subprocess.Popen(lab.upstream_argv(sys.executable, "-c", PROBE, fip, str(stop)),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=lab.env)
    # and one TCP connection to the guest's echo, kept open for the whole move
    tcp = subprocess.Popen(lab.upstream_argv(sys.executable, "-c", TCP_PROBE, fip, str(stop)),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=lab.env)
    time.sleep(3)
    t0 = time.monotonic()
    lab.osc("server", "migrate", "--live-migration", "--host", "compute2", "--wait",
            "mover", "--os-compute-api-version", "2.30", fmt=False)
    moved = _server(lab, "mover", "compute2")
    took = time.monotonic() - t0
    time.sleep(3)
    stop.touch()
    try:
        out, _ = probe.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        probe.kill()
        out, _ = probe.communicate()
    m = re.search(r"tries=(\d+) answered=(\d+) failed=(\d+) maxgap=([-\d.]+)", out)
    assert m, out[-2000:]
    try:
        tcp_out, _ = tcp.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        tcp.kill()
        tcp_out, _ = tcp.communicate()
    t = re.search(r"sent=(\d+) echoed=(\d+) longest=([\d.]+) broke=(\S+)", tcp_out)
    assert t, tcp_out[-2000:]
    tries, answered, failed, gap = int(m[1]), int(m[2]), int(m[3]), float(m[4])
    migs = lab.osc("server", "migration", "list", "--server", "mover",
                   "--os-compute-api-version", "2.23")
    assert [(x["Type"], x["Status"]) for x in migs] == [("live-migration", "completed")]
    print(f"\nlab live migration compute1 -> compute2 (TCG, m1.tiny): {took:.1f} s in all; "
          f"upstream HTTP every 0.1 s: {failed} of {tries} failed, longest gap between "
          f"answers {gap:.2f} s; one TCP connection from the upstream: {t[2]} of "
          f"{t[1]} lines echoed, longest wait {float(t[3]):.2f} s, broken: {t[4]}; "
          f"load {Path('/proc/loadavg').read_text().split()[:3]}")
    assert answered > 0, out[-1500:]
    # the guest's TCP connection from the upstream survived the move, nothing lost
    assert t[4] == "no" and int(t[2]) == int(t[1]) > 20, tcp_out
    assert moved["id"] == s["id"]
    log = str(lab.osc("console", "log", "show", "mover", fmt=False))
    assert log.count("OVERCAST-GUEST-UP") == 1, log[-2000:]
    assert "receiving instance" in log
    lab.answer(f"http://{fip}/", s["id"], timeout=60)  # from its new host
    # cold migration back: the disk goes along, the guest boots again there
    lab.osc("server", "migrate", "--wait", "mover", fmt=False)
    _server(lab, "mover", "compute1")
    lab.osc("server", "resize", "confirm", "mover", fmt=False)
    _server(lab, "mover", "compute1")
    lab.answer(f"http://{fip}/", s["id"], timeout=180)
    # the data written on compute1 went to compute2 (live) and came back (cold)
    lab.osc("server", "stop", "mover", fmt=False)
    _server(lab, "mover", "compute1", statuses=("SHUTOFF",))
    assert _disk_holds(lab, "compute1", s["id"], "0x5a")
    assert not _disk_holds(lab, "compute1", s["id"], "0x00")
    lab.osc("server", "delete", "--wait", "mover", fmt=False)
    lab.osc("floating", "ip", "delete", fip, fmt=False)
