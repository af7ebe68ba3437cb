"""Handing freed memory back to the system, for tasks that read a big batch a slice at a time."""

from __future__ import annotations


def give_back_memory() -> None:
    """Return freed memory to the system between slices of a batch: Arrow's pool keeps freed pages for reuse, and
    glibc keeps freed blocks below its (growing) mmap threshold on the heap, so without this a task's resident
    memory climbs slice after slice although every slice was freed. Without glibc (musl, macOS) only Arrow's."""
    import ctypes

    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # the process's own symbols: glibc's, if it is glibc
    if trim is not None:
        trim(0)
