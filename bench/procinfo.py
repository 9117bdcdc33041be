"""Process figures the HTTP benches report about the server they load."""

from __future__ import annotations

from pathlib import Path


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of a process in MB (from /proc), or None without a pid."""
    if not pid:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None
