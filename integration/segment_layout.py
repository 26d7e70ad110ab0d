"""Fakes a shared segment of another layout version in a running master, as a binary built from
another layout would find it: the version is rewritten through the master's memfd, and put back
when the context ends."""
import contextlib
import os
import struct
from pathlib import Path


def segment_fd_path(pid):
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if "memfd:pushrelay-segment" in os.readlink(fd):
                return fd
        except OSError:
            continue
    raise AssertionError(f"no segment memfd in /proc/{pid}/fd")


@contextlib.contextmanager
def another_layout(master_pid):
    """Yields the faked layout version while it is in place."""
    fd = os.open(segment_fd_path(master_pid), os.O_RDWR)
    try:
        # The 64-byte header's second word is the offset of the store's root, whose first word is
        # the layout version (shm/segment.h, shm/layout.h).
        root_offset = struct.unpack("<Q", os.pread(fd, 8, 8))[0]
        version = struct.unpack("<I", os.pread(fd, 4, root_offset))[0]
        os.pwrite(fd, struct.pack("<I", version + 100), root_offset)
        try:
            yield version + 100
        finally:
            os.pwrite(fd, struct.pack("<I", version), root_offset)
    finally:
        os.close(fd)
