"""``serve --workers N``: worker processes that each listen on a socket of their own.

uvicorn's supervisor binds one listening socket and shares it: a new connection wakes every
idle worker and the first to accept it keeps it. Keep-alive connections stay where they
landed, and the first to wake is often the same worker: in the service benchmark one of two
workers took 25 to 29 of 32 connections opened at once. A worker is one core at most (one
Python interpreter), so it fell behind while the other idled.

Here each worker listens on its own socket, all bound to the same address with
``SO_REUSEPORT``: the kernel spreads new connections over the sockets by a hash of their
addresses (as nginx's ``listen … reuseport``). The supervisor is uvicorn's (restarts, health
checks, signals); only the socket each worker is given differs. The sockets are made and
kept by the supervisor, so a restarted worker takes up its predecessor's socket, with the
connections queued on it meanwhile.
"""

from __future__ import annotations

import logging
import socket

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from .operations.metrics import process_dead

__all__ = ["Workers", "listening_sockets"]

log = logging.getLogger("uvicorn.error")


def listening_sockets(host: str, port: int, n: int, backlog: int = 2048) -> list[socket.socket]:
    """``n`` sockets listening on ``host:port`` in one ``SO_REUSEPORT`` group (port 0: the
    first one's port). They listen from the start, so a connection that the kernel gives to
    a worker still starting waits for it, rather than all going to the first one up."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    for _ in range(n):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        port = sock.getsockname()[1]
        sock.set_inheritable(True)
        sockets.append(sock)
    return sockets


class Workers(Multiprocess):
    """uvicorn's ``Multiprocess`` with worker ``i`` listening on ``sockets[i]`` alone."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        assert len(sockets) == config.workers
        super().__init__(config, sockets)

    def _spawn(self, slot: int) -> Process:
        process = Process(self.config, [self.sockets[slot]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._spawn(slot) for slot in range(self.processes_num)]

    def keep_subprocess_alive(self) -> None:
        """uvicorn's, the replacement of a dead worker listening on that worker's socket."""
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            process_dead(process.pid)
            if process.exitcode == STARTUP_FAILURE:  # it would fail again: stop, as uvicorn does
                log.error("Child process [%s] failed to start, stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.info("Child process [%s] died", process.pid)
            self.processes[slot] = self._spawn(slot)

    def restart_all(self) -> None:
        """SIGHUP: each worker in turn, its replacement on its socket."""
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            old.terminate()
            old.join()
            process_dead(old.pid)
            self.processes[slot] = self._spawn(slot)

    def handle_ttin(self) -> None:
        log.warning("SIGTTIN: the number of workers is fixed (--workers), one socket each")

    def handle_ttou(self) -> None:
        log.warning("SIGTTOU: the number of workers is fixed (--workers), one socket each")
