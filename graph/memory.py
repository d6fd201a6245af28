"""Keeping freed array memory for reuse: glibc returns every large block (over 128 kB) to
the operating system when numpy frees it, so the next array of that size faults its pages
in again. On virtual machines a page fault is expensive enough that this dominates large
elementwise arithmetic (three times the arithmetic itself, measured). rop asks glibc to keep
blocks up to KEEP_BYTES in its heap and not to trim it, as the caching allocators of PyTorch
and JAX do; memory is reused, not leaked. Set ROP_KEEP_MEMORY=0 to leave malloc alone."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

KEEP_BYTES = 1 << 30
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def keep_freed_memory() -> bool:
    """Tune glibc's malloc once, if this is glibc and the user has not opted out; True
    when the tuning applies."""
    if os.environ.get("ROP_KEEP_MEMORY", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to do
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 2 * KEEP_BYTES - 1))


KEEPING_MEMORY = keep_freed_memory()
