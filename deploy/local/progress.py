"""Progress display: live tqdm lines on a terminal, one plain line per phase otherwise (CI)."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from tqdm import tqdm

SPINNER = "|/-\\"
REFRESH_S = 0.25


class Task:
    """One line of progress (a download, a server start), with its own clock."""

    def __init__(self, owner: Progress, key: str, text: str) -> None:
        self.owner = owner
        self.key = key
        self.text = text
        self.started = time.monotonic()
        self.finished: float | None = None
        self.bar: Any = None

    @property
    def elapsed(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
        return end - self.started

    def update(self, text: str) -> None:
        """Live detail (shown on a terminal only)."""
        self.text = text

    def phase(self, text: str) -> None:
        """A new phase: live on a terminal, one printed line otherwise."""
        self.text = text
        self.owner.emit(self, text)

    def done(self, text: str, ok: bool = True) -> None:
        self.text = text
        self.finished = time.monotonic()
        self.owner.finish(self, ok)


class Progress:
    """Owns the tasks and the refresh thread that keeps elapsed times moving on a TTY."""

    def __init__(self, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self.tasks: list[Task] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.tick = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def task(self, key: str, text: str) -> Task:
        task = Task(self, key, text)
        with self.lock:
            self.tasks.append(task)
            if self.tty:
                task.bar = tqdm(
                    total=None,
                    bar_format="{desc}",
                    file=self.stream,
                    leave=True,
                    dynamic_ncols=True,
                )
                self._render(task, spin=True)
        if self.tty:
            self._ensure_thread()
        elif self.enabled:
            self.emit(task, text)
        return task

    def emit(self, task: Task, text: str) -> None:
        if self.tty:
            with self.lock:
                self._render(task, spin=True)
        elif self.enabled:
            self.print(f"{task.key}: {text} [{task.elapsed:.1f}s]")

    def finish(self, task: Task, ok: bool) -> None:
        if not self.tty:
            self.emit(task, task.text)
            return
        with self.lock:
            self._render(task, spin=False, mark="ok" if ok else "FAILED")
            task.bar.close()
            task.bar = None

    def print(self, line: str) -> None:
        """A line that is not a task (messages, summaries)."""
        if not self.enabled:
            return
        if self.tty:
            tqdm.write(line, file=self.stream)
            return
        with self.lock:  # one write per line: threads report concurrently
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
        with self.lock:
            for task in self.tasks:
                if task.bar is not None:
                    task.bar.close()
                    task.bar = None

    # ---- internals -----------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._refresh_loop, name="progress", daemon=True)
            self.thread.start()

    def _refresh_loop(self) -> None:
        while not self.stop.wait(REFRESH_S):
            with self.lock:
                self.tick += 1
                for task in self.tasks:
                    if task.bar is not None:
                        self._render(task, spin=True)

    def _render(self, task: Task, spin: bool, mark: str = "") -> None:
        lead = SPINNER[self.tick % len(SPINNER)] if spin else " "
        tail = f" {mark}" if mark else ""
        task.bar.set_description_str(
            f"{lead} {task.key:<10} {task.elapsed:6.1f}s  {task.text}{tail}", refresh=True
        )
