"""A real ``nextoffer serve`` process on loopback, for the API tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from nextoffer.service.db import Database
from nextoffer.service.keys.service import create_key
from nextoffer.service.migrate import upgrade

NEXTOFFER = Path(sys.executable).parent / "nextoffer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    database_url: str
    workers: int = 1
    new_session: bool = False  # its own process group, so it can be killed whole
    port: int = field(default_factory=free_port)
    keys: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        db = Database(self.database_url)
        upgrade(db)
        with db.transaction() as session:
            for role in ("client", "author", "approver", "admin"):
                self.keys[role] = create_key(session, role)
        db.dispose()
        env = {**os.environ, "NEXTOFFER_DATABASE_URL": self.database_url}
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in stop())
            prefix="nextoffer-serve-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            [str(NEXTOFFER), "serve", "--port", str(self.port), "--workers", str(self.workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            start_new_session=self.new_session,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {Path(self.log.name).read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not start within 60 s")

    def client(self, role: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
