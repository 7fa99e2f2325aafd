"""How much memory an allocation may take on this machine, to refuse a too large one up front.

A shape a user typed (``float32[100000,1000,100]``) or a case id with huge sizes
would otherwise allocate until the machine swaps or the kernel kills the process.
"""

from __future__ import annotations

import math
import os


def available_bytes() -> int:
    """Memory a new allocation can use now: ``MemAvailable`` of ``/proc/meminfo`` (Linux),
    else the machine's physical memory (``SC_PHYS_PAGES * SC_PAGE_SIZE``)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def describe_bytes(n: int) -> str:
    """``n`` bytes for a person: ``512 B``, ``3.2 MB``, ``40 GB``; beyond 1000 TB (and
    beyond floats) only the order of magnitude: ``about 10**31 bytes``."""
    if n >= 10**15:
        return f"about 10**{int(math.log10(n))} bytes"
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} B"
