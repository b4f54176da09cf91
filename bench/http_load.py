"""The benchmarks' HTTP load generator: a minimal keep-alive HTTP/1.1 client connection,
the latency summary, and closed loops over given request bodies (``service_bench`` and
``ledger_growth_bench`` measure with these)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import resource
import socket
import statistics
import time
from collections.abc import Iterator
from typing import Any

from tests.service.server import Server

__all__ = ["Connection", "closed_loop", "connect", "cpu_seconds", "generator_gc_off", "summary"]


class Connection(asyncio.Protocol):
    """A minimal keep-alive HTTP/1.1 client connection for the load generator.

    It writes each request (headers and body) in one piece with TCP_NODELAY: httpx writes
    headers and body separately, and Nagle's algorithm with delayed ACKs then adds ~40 ms
    to every POST, which would measure the client, not the server. It parses answers as
    they arrive (an asyncio protocol, not a stream read line by line): the generator
    shares the 2 cores with the server, and every millisecond it spends is a millisecond
    the server waits for a core or the generator reads an answer late.
    """

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host, self.port, self.key = host, port, key
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None
        self._lost = False

    async def open(self) -> Connection:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_connection(lambda: self, self.host, self.port)
        self.transport = transport  # uvloop's transport: a Transport in all but its class
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0 or self._answer is None:
            return
        lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if len(self._buffer) < end + 4 + length:
            return  # the rest of the body is still on its way
        body = bytes(self._buffer[end + 4 : end + 4 + length])
        del self._buffer[: end + 4 + length]
        answer, self._answer = self._answer, None
        if not answer.done():
            answer.set_result((int(lines[0].split()[1]), body))

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(ConnectionError("the server closed the connection"))

    async def post(self, path: str, body: Any) -> tuple[int, bytes]:
        assert self.transport is not None
        if self._lost:
            raise ConnectionError("the server closed the connection")
        data = json.dumps(body).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {self.key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode()  # fmt: skip
        self._answer = asyncio.get_running_loop().create_future()
        self.transport.write(head + data)
        return await self._answer

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


@contextlib.contextmanager
def generator_gc_off() -> Iterator[None]:
    """The load generator's garbage collector off while it measures: its collections,
    walking the run's thousands of tasks, held the generator up for 80-120 ms at a time,
    and the answers it read late counted as the server's latency (the server collects as
    usual)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def connect(srv: Server, n: int) -> list[Connection]:
    return [await Connection("127.0.0.1", srv.port, srv.keys["client"]).open() for _ in range(n)]


def summary(latencies: list[float], elapsed: float, errors: int, cpu: float) -> dict[str, Any]:
    q = statistics.quantiles(latencies, n=100)
    return {"rate": len(latencies) / elapsed, "p50": q[49], "p99": q[98], "n": len(latencies),
            "errors": errors, "generator_cpu": cpu / elapsed}  # fmt: skip


async def closed_loop(
    srv: Server, path: str, bodies: Iterator[dict[str, Any]], seconds: float, concurrency: int
) -> dict[str, Any]:
    """Closed loop: ``concurrency`` clients, each sending its next body (POST ``path``) when
    the last is answered, for ``seconds`` after 2 seconds of warm-up (not counted)."""
    latencies: list[float] = []
    errors = 0
    conns = await connect(srv, concurrency)

    async def one_client(conn: Connection, deadline: float) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            status, _ = await conn.post(path, next(bodies))
            latencies.append((time.perf_counter() - t) * 1000)
            errors += status != 200

    warm = time.perf_counter() + 2
    await asyncio.gather(*(one_client(c, warm) for c in conns))
    latencies.clear()
    errors = 0
    with generator_gc_off():
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(one_client(c, t0 + seconds) for c in conns))
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    for c in conns:
        await c.close()
    return summary(latencies, elapsed, errors, cpu)
