"""Worker-id leases of the embedded backend: a lock file per worker id in the data folder.

`leases/worker-NNNN.lock` is held with flock(2) for as long as its process lives (the OS
drops the lock when the process dies, however it dies), so the processes on one data folder
never hold the same worker id. `leases/worker-NNNN.mark` beside it holds the high-water mark,
replaced atomically (write, fsync, rename, fsync of the folder) before the holder may use it;
only the lock's holder writes it, and never lower. Every file operation runs on a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from engine.config import Settings
from engine.errors import IdsUnavailable, LeaseLost, StoreUnavailable
from engine.ids import MAX_WORKER
from engine.ports import WorkerLease, WorkerLeases

log = logging.getLogger(__name__)
WORKERS = MAX_WORKER + 1


@dataclass(frozen=True, slots=True)
class _Held:
    owner: str
    fd: int


class EmbeddedLeases(WorkerLeases):
    """Worker ids leased by flock on lock files under <data_dir>/leases."""

    def __init__(self, settings: Settings) -> None:
        self.root = Path(settings.data_dir) / "leases"
        self.lease_ms = round(settings.worker_lease_s * 1000)
        self._held: dict[int, _Held] = {}
        self._written: dict[int, int] = {}  # the highest mark this process tried to store

    async def start(self) -> None:
        try:
            await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        except OSError as e:
            raise StoreUnavailable(f"cannot create {self.root}: {e}") from e

    async def stop(self) -> None:
        for worker in list(self._held):
            self._unlock(worker)

    async def acquire(self, owner: str, now_ms: int, prefer: int = 0) -> WorkerLease:
        await self.start()
        try:
            found = await asyncio.to_thread(self._take_free, now_ms, prefer)
        except OSError as e:
            raise StoreUnavailable(f"cannot lock a worker id under {self.root}: {e}") from e
        if found is None:
            raise IdsUnavailable("every worker id 0..1023 is held by another process")
        worker, fd, floor = found
        self._held[worker] = _Held(owner, fd)
        try:
            mark = await self._store(worker, max(floor, now_ms + self.lease_ms))
            await asyncio.to_thread(_write_owner, fd, owner)
        except BaseException:
            self._unlock(worker)
            raise
        return WorkerLease(worker, owner, floor, mark)

    async def renew(self, lease: WorkerLease, now_ms: int) -> WorkerLease:
        held = self._held.get(lease.worker)
        if held is None or held.owner != lease.owner:
            raise LeaseLost(f"worker id {lease.worker} is not held by {lease.owner}")
        mark = await self._store(lease.worker, max(lease.mark_ms, now_ms + self.lease_ms))
        return WorkerLease(lease.worker, lease.owner, lease.floor_ms, mark)

    async def release(self, lease: WorkerLease) -> None:
        held = self._held.get(lease.worker)
        if held is not None and held.owner == lease.owner:
            self._unlock(lease.worker)

    async def mark(self, worker: int) -> int:
        try:
            return await asyncio.to_thread(self._read_mark, worker)
        except (OSError, ValueError) as e:
            raise StoreUnavailable(f"cannot read the mark of worker id {worker}: {e}") from e

    async def _store(self, worker: int, mark: int) -> int:
        """Write the mark durably, never below one this process wrote; the mark stored."""
        mark = max(mark, self._written.get(worker, -1))
        self._written[worker] = mark
        try:
            await asyncio.to_thread(self._write_mark, worker, mark)
        except OSError as e:
            raise StoreUnavailable(f"cannot store the mark of worker id {worker}: {e}") from e
        return mark

    def _unlock(self, worker: int) -> None:
        held = self._held.pop(worker, None)
        if held is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(held.fd, fcntl.LOCK_UN)
            os.close(held.fd)

    def _path(self, worker: int, suffix: str) -> Path:
        return self.root / f"worker-{worker:04d}.{suffix}"

    def _take_free(self, now_ms: int, prefer: int) -> tuple[int, int, int] | None:
        """(worker, locked fd, stored mark) of the first free id whose mark has passed, else
        of the free id with the lowest mark; None when every id is held."""
        best: tuple[int, int, int] | None = None
        try:
            for worker in ((prefer + i) % WORKERS for i in range(WORKERS)):
                found = self._lock_with_mark(worker)
                if found is None:
                    continue
                if found[2] < now_ms or best is None or found[2] < best[2]:
                    if best is not None:
                        _close(best[1])
                    best = found
                    if found[2] < now_ms:
                        return best
                else:
                    _close(found[1])
        except BaseException:
            if best is not None:
                _close(best[1])
            raise
        return best

    def _lock_with_mark(self, worker: int) -> tuple[int, int, int] | None:
        """(worker, locked fd, stored mark), or None if another holds it or its mark is bad."""
        fd = self._try_lock(worker)
        if fd is None:
            return None
        try:
            return worker, fd, self._read_mark(worker)
        except ValueError:
            log.warning("the mark of worker id %s is unreadable; skipping that id", worker)
        except BaseException:
            _close(fd)
            raise
        _close(fd)
        return None

    def _try_lock(self, worker: int) -> int | None:
        fd = os.open(self._path(worker, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def _read_mark(self, worker: int) -> int:
        """The stored mark, -1 if none; ValueError if the file does not hold a number."""
        try:
            return int(self._path(worker, "mark").read_text(encoding="ascii"))
        except FileNotFoundError:
            return -1

    def _write_mark(self, worker: int, mark: int) -> None:
        path = self._path(worker, "mark")
        tmp = path.with_suffix(".mark-tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, str(mark).encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        folder = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _write_owner(fd: int, owner: str) -> None:
    """Name the holder in its lock file, for whoever looks (the lock is what counts)."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, owner.encode() + b"\n", 0)


def _close(fd: int) -> None:
    os.close(fd)  # closing the only descriptor of the open file drops its flock
