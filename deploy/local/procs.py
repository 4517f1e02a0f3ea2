"""Background JVM processes: spawn detached, identify by pid (stale pid files), stop gracefully."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

# Children spawned by this interpreter. Each has a daemon thread blocked in wait(): the moment a
# server dies (say a test sent it SIGKILL) it is reaped, so no zombie lingers and `kill(pid, 0)`
# fails as it should. Keeping the Popen also stops it from warning that the child still runs.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class ProcError(RuntimeError):
    """A process could not be started or stopped."""


def java_bin() -> str:
    """`$JAVA_HOME/bin/java` when set, else `java` from PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise ProcError("`java` not found: install a JDK 17 or set JAVA_HOME")
    return found


def spawn(cmd: Sequence[str], out: Path, cwd: Path, timer_slack_us: int | None = None) -> int:
    """Start `cmd` in its own session (survives the terminal), stdout+stderr appended to `out`;
    with `timer_slack_us`, every thread of it lets its timed sleeps run late by up to that
    long (see timer_slack)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("ab") as sink:
        sink.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        sink.flush()
        with timer_slack(timer_slack_us):
            proc = subprocess.Popen(
                list(cmd), cwd=cwd, stdin=subprocess.DEVNULL, stdout=sink,
                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            )  # fmt: skip
    _CHILDREN[proc.pid] = proc
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc.pid


_PR_SET_TIMERSLACK, _PR_GET_TIMERSLACK = 29, 30  # prctl(2) options, Linux only


@contextlib.contextmanager
def timer_slack(us: int | None) -> Iterator[None]:
    """Within the block, the calling thread's timer slack is `us` microseconds, so a process
    it starts has it (Linux: a child inherits its creator's timer slack, and keeps it through
    exec; so does every thread that child starts). None, or a system without prctl(2):
    nothing changes.

    The slack is how late the kernel may end a timed sleep to group wake-ups (50 us by
    default). Cassandra's request threads, once idle, poll for new work in sleeps of 10 us for
    up to 10 ms before they park; at the default slack each request that finds them idle cost
    its node milliseconds of CPU in wake-ups (deploy/local/README.md has the figures)."""
    libc = _libc() if us is not None else None
    if libc is None or us is None:
        yield
        return
    before = libc.prctl(_PR_GET_TIMERSLACK, 0, 0, 0, 0)
    libc.prctl(_PR_SET_TIMERSLACK, ctypes.c_ulong(us * 1000), 0, 0, 0)
    try:
        yield
    finally:
        if before > 0:
            libc.prctl(_PR_SET_TIMERSLACK, ctypes.c_ulong(before), 0, 0, 0)


def _libc() -> ctypes.CDLL | None:
    if not os.uname().sysname == "Linux":
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def exit_code(pid: int) -> int | None:
    """The exit code of a child of this interpreter that has ended, else None."""
    child = _CHILDREN.get(pid)
    return None if child is None else child.returncode


def alive(pid: int) -> bool:
    """True while `pid` runs (zombies count as gone)."""
    child = _CHILDREN.get(pid)
    if child is not None:  # our own child: its reaper thread sets returncode when it ends
        return child.returncode is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _any_thread_running(pid)


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_ours(pid: int, markers: Sequence[str]) -> bool:
    """True when `pid` is a live java process whose command line holds every marker."""
    if not alive(pid):
        return False
    argv = cmdline(pid)
    if not argv or Path(argv[0]).name != "java":
        return False
    return all(any(m in arg for arg in argv) for m in markers)


def terminate(pid: int, grace_s: float) -> str:
    """SIGTERM, wait up to `grace_s`, then SIGKILL. Returns "stopped", "killed" or "gone"."""
    if not _signal(pid, signal.SIGTERM):
        return "gone"
    if wait_gone(pid, grace_s):
        return "stopped"
    _signal(pid, signal.SIGKILL)
    if not wait_gone(pid, 10.0):
        raise ProcError(f"pid {pid} survived SIGKILL")
    return "killed"


def wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    _CHILDREN.pop(pid, None)
    return True


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _signal(pid: int, sig: signal.Signals) -> bool:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def _any_thread_running(pid: int) -> bool:
    """False for a zombie. Not just the main thread's state: a JVM's main thread can be a zombie
    while the process still runs (its other threads are shutting down)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    return any(_thread_state(task) not in {None, "Z", "X"} for task in tasks)


def _thread_state(task: Path) -> str | None:
    """The one-letter state from /proc/<pid>/task/<tid>/stat (R, S, D, Z, ...)."""
    try:
        stat = (task / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[0] if fields else None
