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

from nextoffer.scenarios import bank_snapshot
from nextoffer.scenarios.demo import WORKED_EXAMPLE, demo_snapshot
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
    # the background attach-rate refresh publishes new snapshots: off unless a test wants it
    env: dict[str, str] = field(default_factory=lambda: {"NEXTOFFER_ATTACH_REFRESH_SECONDS": "0"})
    process: subprocess.Popen[bytes] | None = None
    log: Any = None
    args: tuple[str, ...] = ()  # more options of `nextoffer serve`

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
        env = {**os.environ, **self.env, "NEXTOFFER_DATABASE_URL": self.database_url}
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in stop())
            prefix="nextoffer-serve-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            [
                str(NEXTOFFER),
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                *self.args,
            ],
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


PUT_ORDER = [("product", "products", "sku"), ("offer", "offers", "id"), ("channel", "channels", "id"),
             ("policy", "policies", "id")]  # fmt: skip


def load_catalog(srv: Server) -> None:
    """The demo's catalog through the API; its rules through review (propose, approve)."""
    data = demo_snapshot()
    with srv.client("author") as author:
        # the settings first: offers' conditions are checked against their customer schema
        settings = {k: data[k] for k in ("customer_schema", "guardrails", "holdout", "attach")}
        # the bank's per-offer τ, as an admin may set them before any model is trained
        settings["uplift"] = bank_snapshot()["uplift"]
        r = author.put("/v1/catalog/settings/default", json=settings)
        assert r.status_code in (200, 201), r.text
        for kind, plural, id_field in PUT_ORDER:
            for item in data[plural]:
                r = author.put(f"/v1/catalog/{kind}/{item[id_field]}", json=item)
                assert r.status_code in (200, 201), r.text
    with srv.client("approver") as approver:
        r = approver.post("/v1/catalog/publish", json={"version": "demo-1"})
        assert r.status_code == 201, r.text
    for rule in data["rules"]:
        with srv.client("author") as author:
            body = {"rule_id": rule["id"], "trigger": rule["trigger"], "offers": rule["offers"],
                    "priority": rule["priority"]}  # fmt: skip
            proposal = author.post("/v1/proposals", json=body)
            assert proposal.status_code == 201, proposal.text
        with srv.client("approver") as approver:
            r = approver.post(
                f"/v1/proposals/{proposal.json()['id']}/approve", json={"reason": "seed"}
            )
            assert r.status_code == 200, r.text
    with srv.client("client") as client:
        body = {k: WORKED_EXAMPLE[k] for k in ("attributes", "holdings", "segments")}
        assert client.put("/v1/customers/demo-premium-36", json=body).status_code == 200
