"""System packages a job or a test needs (Java for Spark, Chromium for the dashboard's
tests), installed from Debian's archive when they are absent: one way to do it for all."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

__all__ = ["can_install", "install_packages"]


def can_install() -> bool:
    """Whether packages can be installed here: as root, with apt-get."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install_packages(packages: Sequence[str]) -> str | None:
    """Install Debian's ``packages`` (``apt-get update``, then ``install`` without the
    recommended ones); None when done, else what failed with the end of its error output."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            return f"{' '.join(cmd)} failed:\n{proc.stderr.strip()[-2000:]}"
    return None
