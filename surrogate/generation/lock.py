"""One writer per dataset (or per shard of it): an advisory lock that the kernel holds.

The lock is `flock` on a lock file in the dataset directory. The kernel releases it when the
holder's process ends however it ends (SIGKILL, a crash, a node reboot for a local disk), even
while the dead process is still a zombie waiting to be reaped, so a killed run can be resumed at
once. The holder writes its host and pid into the file, only to say who holds it.

On NFS, Linux implements `flock` with the server's byte-range locks (NFSv4, or NFSv3 with lockd);
on Lustre it needs the `flock` mount option (`localflock` locks one node only). A file system
without lock support makes `flock` fail: that is refused in one line, never ignored.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager
from pathlib import Path

from surrogate.errors import UserError

NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


@contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Hold `path` locked while inside; a live holder elsewhere -> a UserError naming it.

    `what` names what is locked in the refusal, e.g. "dataset data/darcy32". A lock file left
    by a dead holder is simply locked again. The file is removed on release; since another
    process may have opened it just before, a lock taken on a file no longer at `path` is
    dropped and taken again on the new one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise UserError(
                f"{what} is being written by another `surrogate generate` ({holder}); wait for "
                "it to finish or stop it, or choose another name="
            ) from None
        except OSError as error:
            os.close(fd)
            if error.errno in NO_LOCKS:
                raise UserError(
                    f"cannot lock {path}: its file system does not support locks "
                    f"({os.strerror(error.errno)}); mount it with lock support (NFS: lockd or "
                    "NFSv4; Lustre: -o flock) or choose a local paths.data_dir="
                ) from None
            raise
        if _still_at(fd, path):
            break
        os.close(fd)  # released and removed by its previous holder meanwhile: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def dataset_lock(directory: Path, shard: tuple[int, int] | None = None) -> ContextManager[None]:
    """The lock of one generation into `directory`: `.lock`, or one per shard, so that the jobs
    of a cluster array write their shards side by side."""
    if shard is None:
        return exclusive_lock(directory / ".lock", f"dataset {directory}")
    name = f".lock-shard-{shard[0]}-of-{shard[1]}"
    return exclusive_lock(directory / name, f"shard {shard[0]}/{shard[1]} of dataset {directory}")


def _still_at(fd: int, path: Path) -> bool:
    try:
        here, held = os.stat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (held.st_dev, held.st_ino)


def _holder(fd: int) -> str:
    """'pid N on host H' from the lock file (written by its holder just after locking)."""
    parts = os.pread(fd, 256, 0).decode(errors="replace").split()
    if len(parts) == 2 and parts[1].isdigit():
        return f"pid {parts[1]} on host {parts[0]}"
    return "a process that is just starting"
