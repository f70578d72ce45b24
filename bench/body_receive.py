"""Benchmark: what receiving a large request body costs, path by path — the
measured ceiling of a large object PUT / image upload on this machine.

One server process per variant on loopback, `curl -T` of a --mib MiB file from
the page cache into it, and for each: MiB/s, and the CPU the server process
spent per MiB (utime+stime from /proc: load-independent), beside one md5 stream
over the same file (the ceiling of any upload answering with an md5 ETag).

  raw-md5          a plain socket, one thread: recv_into a 1 MiB buffer, md5,
                   write to a file (no HTTP, no event loop: the upper bound of
                   one stream that hashes what it receives),
  raw-pipe         the same with md5 and the write on a second thread, so the
                   receive overlaps the hash (the best any server here can do),
  uvicorn-null     uvicorn (httptools, uvloop) and an ASGI app that drops the
                   body: the HTTP receive path alone, as overcast serves it,
  uvicorn-put      the same app running overcast's object `receive` (md5 and
                   the file write on worker threads, 4 MiB buffers),
  direct-*         the same two with the body taken off the event loop
                   (`overcast.kit.http.DirectBody`: a thread receives into 1 MiB
                   buffers, md5 and the write run on threads of their own; the
                   PUT is `objects.receive_direct`).

    .venv/bin/python bench/body_receive.py [--mib 512] [--runs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpumeter import CpuMeter  # noqa: E402

VARIANTS = ["raw-md5", "raw-pipe", "uvicorn-null", "direct-null", "uvicorn-put",
            "direct-put"]


# ------------------------------------------------------------------ servers
def _raw_headers(conn: socket.socket) -> tuple[int, bytes]:
    """Read the request head; (Content-Length, body bytes already read)."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            raise ConnectionError("closed in headers")
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        if name.strip().lower() == b"expect":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    return length, rest


def serve_raw(port: int, out: Path, pipe: bool) -> None:
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(8)
    print("ready", flush=True)
    while True:
        conn, _ = lsock.accept()
        try:
            length, rest = _raw_headers(conn)
        except ConnectionError:  # the readiness probe
            conn.close()
            continue
        md5 = hashlib.md5(usedforsecurity=False)
        with open(out, "wb") as fh:
            got = len(rest)
            md5.update(rest)
            fh.write(rest)
            if pipe:
                q: queue.Queue[memoryview | None] = queue.Queue(maxsize=4)
                free: queue.Queue[bytearray] = queue.Queue()
                for _ in range(6):
                    free.put(bytearray(1 << 20))

                def hasher(q: queue.Queue[memoryview | None] = q,
                           free: queue.Queue[bytearray] = free,
                           fh: object = fh, md5: object = md5) -> None:
                    while (mv := q.get()) is not None:
                        md5.update(mv)  # type: ignore[attr-defined]
                        fh.write(mv)  # type: ignore[attr-defined]
                        free.put(mv.obj)  # type: ignore[arg-type]

                t = threading.Thread(target=hasher)
                t.start()
                while got < length:
                    buf = free.get()
                    n = 0
                    while n < len(buf) and got + n < length:
                        k = conn.recv_into(memoryview(buf)[n:], min(len(buf) - n,
                                                                   length - got - n))
                        if not k:
                            break
                        n += k
                    if not n:
                        break
                    got += n
                    q.put(memoryview(buf)[:n])
                q.put(None)
                t.join()
            else:
                buf = bytearray(1 << 20)
                mv = memoryview(buf)
                while got < length:
                    n = conn.recv_into(mv, min(len(buf), length - got))
                    if not n:
                        break
                    got += n
                    md5.update(mv[:n])
                    fh.write(mv[:n])
        body = md5.hexdigest().encode()
        conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\nEtag: %s\r\n"
                     b"Connection: close\r\n\r\n%s" % (len(body), body, body))
        conn.close()


def serve_uvicorn(port: int, out: Path, put: bool, big: bool) -> None:
    import uvicorn

    from overcast.object.backends.file import FileBackend

    backend = FileBackend(out.parent / "blobs")

    class Store:  # what `objects.receive` needs of an ObjectStore
        pass

    store = Store()
    store.backend = backend  # type: ignore[attr-defined]

    async def app(scope: dict, receive: object, send: object) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()  # type: ignore[operator]
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})  # type: ignore[operator]
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})  # type: ignore[operator]
                    return
        etag = ""

        async def chunks():  # type: ignore[no-untyped-def]
            more = True
            while more:
                msg = await receive()  # type: ignore[operator]
                more = msg.get("more_body", False)
                yield msg.get("body", b"")

        from overcast.kit.http import direct_body
        from overcast.object import objects

        direct = direct_body(scope)
        if put and direct is not None and direct.take():
            writer, _, etag = await objects.receive_direct(
                store, direct, limit=None)  # type: ignore[arg-type]
            loc = await asyncio.to_thread(writer.commit)
            backend.delete(loc)
        elif direct is not None and direct.take():
            await direct.pump([len])
        elif put:
            writer, _, etag = await objects.receive(store, chunks(),  # type: ignore[arg-type]
                                                    limit=None)
            loc = await asyncio.to_thread(writer.commit)
            backend.delete(loc)
        else:
            async for _ in chunks():
                pass
        await send({"type": "http.response.start", "status": 201,  # type: ignore[operator]
                    "headers": [(b"etag", etag.encode()), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    kw: dict[str, object] = {}
    if big:
        from overcast.kit.http import BigBodyHttpToolsProtocol
        kw["http"] = BigBodyHttpToolsProtocol
    else:
        kw["http"] = "httptools"
    print("ready", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", log_level="warning",
                **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------ client
def md5_rate(src: Path, mib: int) -> tuple[float, float]:
    """MiB/s of one md5 stream over the file, and its CPU ms per MiB."""
    h = hashlib.md5(usedforsecurity=False)
    t0, c0 = time.perf_counter(), time.thread_time()
    with open(src, "rb") as fh:
        while block := fh.read(8 << 20):
            h.update(block)
    return mib / (time.perf_counter() - t0), 1000 * (time.thread_time() - c0) / mib


def run_variant(variant: str, src: Path, mib: int, runs: int, port: int, tmp: Path
                ) -> tuple[float, float]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", variant, "--port",
                             str(port), "--out", str(tmp / f"{variant}.out")],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        meter = CpuMeter([proc.pid])
        rates, cpu = [], 0.0
        for _ in range(runs):
            meter.start()
            t0 = time.perf_counter()
            subprocess.run(["curl", "-s", "-f", "-T", str(src), "-o", "/dev/null",
                            f"http://127.0.0.1:{port}/x"], check=True)
            rates.append(mib / (time.perf_counter() - t0))
            cpu += meter.stop()
        return statistics.median(rates), 1000 * cpu / (runs * mib)
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--only", default="")
    ap.add_argument("--serve", default="")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    if args.serve:
        out = Path(args.out)
        (out.parent / "blobs").mkdir(exist_ok=True)
        if args.serve.startswith("raw"):
            serve_raw(args.port, out, pipe=args.serve == "raw-pipe")
        else:
            serve_uvicorn(args.port, out, put="put" in args.serve,
                          big=args.serve.startswith("direct"))
        return
    tmp = Path(tempfile.mkdtemp(prefix="object-body-"))
    src = tmp / "src.bin"
    with open(src, "wb") as fh:
        for _ in range(args.mib):
            fh.write(os.urandom(1 << 20))
    port = args.port or 19650
    results: dict[str, tuple[float, float]] = {}
    load = [os.getloadavg()[0]]
    md5s = [md5_rate(src, args.mib) for _ in range(args.runs)]
    try:
        for v in (args.only.split(",") if args.only else VARIANTS):
            results[v] = run_variant(v, src, args.mib, args.runs, port, tmp)
            md5s.append(md5_rate(src, args.mib))
    finally:
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    load.append(os.getloadavg()[0])
    md5 = statistics.median(r for r, _ in md5s)
    md5_cpu = statistics.median(c for _, c in md5s)
    print(f"{args.mib} MiB bodies by curl -T over loopback; load average (1 min) "
          f"{', '.join(f'{x:.1f}' for x in load)}; md5 one stream {md5:.0f} MiB/s "
          f"({md5_cpu:.2f} ms CPU/MiB), measured between the variants")
    print(f"{'variant':<20}{'MiB/s':>9}{'of md5':>8}{'server CPU ms/MiB':>19}"
          f"{'beyond md5':>12}")
    for v, (rate, ms) in results.items():
        print(f"{v:<20}{rate:>9.0f}{rate / md5:>8.0%}{ms:>19.2f}"
              f"{(ms - md5_cpu if 'null' not in v else ms):>12.2f}")
    print("beyond md5: the server's CPU per MiB besides the hash (all of it for the "
          "-null variants, which hash nothing)")
    print(json.dumps({"md5": md5, "md5_cpu_ms": md5_cpu, "load": load,
                      "results": results}))


if __name__ == "__main__":
    main()
