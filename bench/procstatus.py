"""A field of ``/proc/self/status``, for the benchmarks' memory figures (standard library
only, so a worker that imports it measures its competitor's memory, not ours)."""

from __future__ import annotations


def proc_status_kb(field: str) -> int:
    """A ``/proc/self/status`` field in kB (``VmRSS``: resident now, ``VmHWM``: peak)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")
