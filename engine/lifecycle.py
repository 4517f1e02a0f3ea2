"""One lifecycle shape for everything that holds connections or runs tasks: an async start(),
an async stop() that may be called any number of times, and `async with` for both.

`Background` is that shape for an owner of one asyncio task. Its task runs from start() to
stop(); stop() first asks the task to finish (`_finish`), waits up to `stop_grace_s` for it,
then cancels it, awaits it, and runs `_close` once. A second stop(), or a stop() without a
start(), does nothing; a start() while the task runs does nothing. start() and stop() are not
meant to run concurrently with themselves.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import Self


class Lifecycle(ABC):
    """Started before use, stopped after: start(), an idempotent stop(), and `async with`."""

    @abstractmethod
    async def start(self) -> None:
        """Acquire what this holds (connections, a lease, a task)."""

    @abstractmethod
    async def stop(self) -> None:
        """Let go of what this holds; calling it twice is fine."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class Background(Lifecycle):
    """Runs `_run()` as one named task between start() and stop()."""

    task_name = "background"
    stop_grace_s = 0.0  # how long stop() lets the task finish on its own before cancelling it
    _task: asyncio.Task[None] | None = None

    @abstractmethod
    async def _run(self) -> None:
        """The task's work: a loop until cancelled, or until `_finish` asks it to return."""

    async def _open(self) -> None:
        """Acquire what the task needs, before it starts (nothing by default)."""

    def _finish(self) -> None:
        """Ask the task to return on its own (nothing by default: it is cancelled)."""

    async def _close(self) -> None:
        """Let go of what `_open` acquired, once the task has ended (nothing by default)."""

    @property
    def running(self) -> bool:
        """True from start() until the task ends or stop() is called."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self._task is not None:
            return
        await self._open()
        self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        """End the task (after `stop_grace_s` at most) and run `_close`; the task's own
        error, if it failed, is raised here; a stop() that is itself cancelled is too."""
        task, self._task = self._task, None
        if task is None:
            return
        try:
            self._finish()
            if self.stop_grace_s > 0:
                await asyncio.wait({task}, timeout=self.stop_grace_s)
        finally:
            task.cancel()  # nothing if it has ended
            try:
                await _ended(task)
            finally:
                await self._close()


async def _ended(task: asyncio.Task[None]) -> None:
    """Wait for a cancelled task to end; its error is raised, its cancellation is not
    (unless the waiter itself is being cancelled)."""
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
