"""The server's data directory: its own (0700, files 0600), and held by one server at a time."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import sys
from pathlib import Path

log = logging.getLogger("play.data")

LOCK_NAME = "play.lock"
STORE_NAME = "play.db"
DIR_MODE = 0o700
FILE_MODE = 0o600
PUBLIC_FILES = frozenset({"cert.pem"})


class DataDirInUse(Exception):
    """Another server holds the data directory; the message names its process."""


class DataDir:
    """`DataDir(path).open()` makes the directory ours and locks it; `close()` lets it go.

    The lock is an advisory lock (flock) on `play.lock`, which holds the holder's pid:
    the kernel drops it when the process ends, however it ends, so a crash never
    leaves a stale lock behind.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_fd: int | None = None

    @property
    def store_path(self) -> Path:
        return self.path / STORE_NAME

    def open(self) -> DataDir:
        make_private_dir(self.path)
        self._lock()
        tighten(self.path)
        return self

    def _lock(self) -> None:
        path = self.path / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
        try:
            _try_lock(fd)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise DataDirInUse(f"the data directory {self.path} is in use by another play"
                               f" server ({who}); stop it, or use another --data-dir") from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)  # closing the descriptor releases the lock
            self._lock_fd = None


def make_private_dir(path: Path) -> None:
    """Create the directory (and parents) as 0700; tighten it if it exists looser."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    _tighten_one(path, DIR_MODE)


def tighten(directory: Path) -> None:
    """Every file the server keeps in `directory` readable by its owner only (a log line each)."""
    _tighten_one(directory, DIR_MODE)
    for child in directory.iterdir():
        # the store, its -wal/-shm, the log, the lock, the TLS key: all the server's own
        # (the certificate is public: every client is sent it)
        if not child.is_symlink() and child.is_file() and child.name not in PUBLIC_FILES:
            _tighten_one(child, FILE_MODE)


def _tighten_one(path: Path, mode: int) -> None:
    if sys.platform == "win32":
        return  # permissions there are ACLs; the user's profile directory is private
    try:
        current = stat.S_IMODE(path.lstat().st_mode)
    except OSError:
        return
    if current & ~mode:
        try:
            os.chmod(path, mode)
        except OSError as exc:
            log.warning("%s is mode %04o and could not be made %04o: %s", path, current, mode,
                        exc.strerror or exc)
            return
        log.warning("%s was mode %04o (readable by others); now %04o", path, current, mode)


def _try_lock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            raise BlockingIOError(str(exc)) from None
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except (OSError, AttributeError):
        return None
    return int(text) if text.isdigit() else None


def write_private(target: Path, data: bytes) -> None:
    """Write a file readable by its owner only, atomically, never through a symlink.

    The bytes go to a new file beside the target (created exclusively, 0600), are
    flushed to disk, then renamed over the target: a reader sees the old file or the
    new one, never half of one. A target that is a symbolic link is refused.
    """
    if target.is_symlink():
        raise OSError(f"{target} is a symbolic link; not writing through it")
    if target.exists() and not target.is_file():
        raise OSError(f"{target} exists and is not a regular file")
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temp, flags, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
