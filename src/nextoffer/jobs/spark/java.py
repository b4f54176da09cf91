"""The Java runtime that Spark needs: found on the machine, or installed from Debian's packages.

``find_java()`` looks at ``$JAVA_HOME/bin/java``, then ``java`` on the ``PATH``;
``ensure_java()`` installs Debian's ``default-jre-headless`` with apt-get when neither is
there (as ``nextoffer.testing.postgres`` installs PostgreSQL), which needs root.
``python -m nextoffer.jobs.spark.java`` does the same from a shell (``scripts/install-java``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ..packages import can_install, install_packages

__all__ = ["PACKAGE", "JavaUnavailable", "ensure_java", "find_java", "install_java"]

PACKAGE = "default-jre-headless"  # OpenJDK 17 on Debian 12, 21 on Debian 13: Spark 4 takes both


class JavaUnavailable(RuntimeError):
    """No Java runtime was found, and none could be installed."""


def find_java() -> Path | None:
    """The ``java`` launcher Spark will use (``$JAVA_HOME`` first, as Spark does), or None."""
    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        return java if java.is_file() else None
    found = shutil.which("java")
    return Path(found) if found else None


def install_java() -> Path:
    """Install Debian's headless JRE (needs root and apt-get) and return its ``java``."""
    if not can_install():
        raise JavaUnavailable(
            f"no Java runtime found (Spark needs one); install Debian's {PACKAGE!r} package "
            "or set JAVA_HOME (automatic install needs root and apt-get)"
        )
    failed = install_packages([PACKAGE])
    if failed is not None:
        raise JavaUnavailable(failed)
    java = find_java()
    if java is None:
        raise JavaUnavailable(f"installed {PACKAGE!r} but found no java")
    return java


def ensure_java() -> Path:
    """Java for Spark: the one on the machine, else Debian's, installed now."""
    return find_java() or install_java()


if __name__ == "__main__":
    try:
        print(ensure_java())
    except JavaUnavailable as exc:
        sys.exit(str(exc))
