"""`timeline infra up|down|status|logs|kill|start`: a local Apache Kafka and Apache Cassandra,
one node of each or a cluster of several (`up --nodes 3`), no Docker.

Every node runs as a background JVM started from jars that maven fetches from Maven Central,
on a loopback address of its own. Everything (jars, configs, data, logs, pid files) lives
under one folder, `$TIMELINE_INFRA_DIR` (default `<repo>/.infra`). See deploy/local/README.md.

Programmatic use (tests, benchmarks)::

    from deploy.local import infra
    infra.ensure_up()                  # idempotent; raises InfraError on failure
    infra.kafka_bootstrap()            # "127.0.0.1:9092" (every broker's, comma-separated)
    infra.cassandra_contact()          # ("127.0.0.1", 9042): the first node
    infra.cassandra_hosts()            # every node's address
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from . import cassandra_node, cds, kafka_node
from .jars import JarError, ensure_jars
from .probing import ProbeError
from .procs import (
    ProcError,
    alive,
    cmdline,
    exit_code,
    is_ours,
    port_open,
    read_pid,
    spawn,
    wait_gone,
)
from .procs import terminate as terminate_pid
from .progress import Progress, Task
from .settings import (
    SERVERS,
    ConfigError,
    NodeName,
    ServerName,
    Settings,
    layout_file,
    node_index,
    server_of,
)

__all__ = [
    "InfraError",
    "cassandra_contact",
    "cassandra_hosts",
    "ensure_down",
    "ensure_up",
    "is_healthy",
    "kafka_bootstrap",
    "kill_node",
    "main",
    "server_pid",
]

START_ORDER: tuple[ServerName, ...] = ("cassandra", "kafka")  # slowest first
POLL_S = 0.5
STOP_GRACE_S = 90.0
LOG_TAIL_LINES = 30


class InfraError(RuntimeError):
    """A server could not be fetched, started, reached or stopped."""


@dataclass(frozen=True)
class Node:
    """What differs between the two servers (each function takes the node it is for)."""

    name: ServerName
    write_config: Callable[[Settings, NodeName], Path]
    server_cmd: Callable[[Settings, NodeName, Path], list[str]]
    markers: Callable[[Settings, NodeName], list[str]]
    probe: Callable[[Settings, NodeName, float], str]
    protocol: str


def _kafka_probe(settings: Settings, node: NodeName, timeout_s: float) -> str:
    return kafka_node.probe(settings.host(node), settings.kafka_port, settings.nodes, timeout_s)


def _cassandra_probe(settings: Settings, node: NodeName, timeout_s: float) -> str:
    host, port = settings.host(node), settings.cassandra_port
    return cassandra_node.probe(host, port, settings.nodes, timeout_s)


NODES: dict[ServerName, Node] = {
    "kafka": Node(
        "kafka", kafka_node.write_config, kafka_node.server_cmd, kafka_node.markers,
        _kafka_probe, "Kafka metadata",
    ),
    "cassandra": Node(
        "cassandra", cassandra_node.write_config, cassandra_node.server_cmd,
        cassandra_node.markers, _cassandra_probe, "CQL",
    ),
}  # fmt: skip


@dataclass
class ServerState:
    name: NodeName
    host: str
    port: int
    pid: int | None = None
    stale_pid: int | None = None
    healthy: bool = False
    detail: str = ""


# ---- public helpers ---------------------------------------------------------------------------
def kafka_bootstrap() -> str:
    """`host:port` of every local broker, comma-separated (the running brokers' port, else the
    configured one)."""
    return effective_settings(Settings.from_env()).bootstrap()


def cassandra_contact() -> tuple[str, int]:
    """`(host, port)` of the local Cassandra's native transport (its first node)."""
    settings = effective_settings(Settings.from_env())
    return settings.hosts_of("cassandra")[0], settings.cassandra_port


def cassandra_hosts() -> list[str]:
    """The address of every local Cassandra node (all on cassandra_contact()'s port)."""
    return Settings.from_env().hosts_of("cassandra")


def is_healthy(only: str | None = None) -> bool:
    """True when the selected servers or node (default all) run and answer their protocol."""
    settings = effective_settings(Settings.from_env())
    return all(inspect(settings, name, probe=True).healthy for name in _select(settings, only))


def server_pid(name: NodeName) -> int | None:
    """The pid of a running node started by this launcher (for fault-injection tests)."""
    return inspect(Settings.from_env(), name, probe=False).pid


def ensure_up(
    only: str | None = None, timeout_s: float | None = None, progress: bool = False
) -> None:
    """Start what is not running and wait until healthy; a no-op when already up. `only`: a
    server (each of its nodes) or one node."""
    settings = Settings.from_env()
    if timeout_s is not None:
        settings = replace(settings, timeout_s=int(timeout_s))
    with Progress(enabled=progress) as prog:
        failures = up(settings, _select(settings, only), prog)
    if failures:
        raise InfraError("\n\n".join(failures))


def ensure_down(only: str | None = None, purge: bool = False) -> None:
    """Stop the selected servers or node (default every node); `purge` deletes their data."""
    settings = Settings.from_env()
    with Progress(enabled=False) as prog:
        down(settings, _select(settings, only, recorded=True), purge, prog)


def nodetool(node: str, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Cassandra's nodetool against one running node (repair, status, ...): its output."""
    settings = Settings.from_env()
    name = _one_node(settings, node)
    if server_of(name) != "cassandra":
        raise ConfigError(f"nodetool runs against a Cassandra node, not {name}")
    jars = settings.jars("cassandra")
    cmd = cassandra_node.nodetool_cmd(settings, name, jars, list(args))
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def kill_node(node: NodeName) -> int:
    """SIGKILL one node (a fault: no shutdown at all) and wait until it is gone; its pid."""
    settings = Settings.from_env()
    node_index(node)  # a name that is no node is refused before anything is looked up
    state = inspect(settings, node, probe=False)
    if state.pid is None:
        raise InfraError(f"{node} is not running")
    os.kill(state.pid, signal.SIGKILL)
    if not wait_gone(state.pid, 30.0):
        raise InfraError(f"{node} (pid {state.pid}) survived SIGKILL")
    _forget(settings, node)
    cds.settle(settings, node, clean_exit=False)
    return state.pid


# ---- state ------------------------------------------------------------------------------------
def effective_settings(settings: Settings) -> Settings:
    """`settings` with the ports of servers that already run (they may differ from env)."""
    for name in SERVERS:
        node = settings.node_names(name)[0]
        saved = _read_state(settings, node)
        if saved and inspect(settings, node, probe=False).pid == saved.get("pid"):
            settings = settings.with_ports(_saved_ports(saved))
    return settings


def _saved_ports(saved: dict[str, object]) -> dict[str, int]:
    ports = saved.get("ports")
    if not isinstance(ports, dict):
        return {}
    known = {"kafka_port", "kafka_controller_port", "cassandra_port", "cassandra_storage_port"}
    return {k: v for k, v in ports.items() if k in known and isinstance(v, int)}


def inspect(settings: Settings, name: NodeName, probe: bool) -> ServerState:
    """Find our process (pid file, else a scan of /proc) and optionally probe its protocol."""
    host = settings.host(name) if node_index(name) <= settings.nodes else "?"
    state = ServerState(name, host, settings.client_port(name))
    markers = NODES[server_of(name)].markers(settings, name)
    recorded = read_pid(settings.pidfile(name))
    if recorded is not None and is_ours(recorded, markers):
        state.pid = recorded
    else:
        state.stale_pid = recorded
        state.pid = _scan_for(markers)
    if probe and state.pid is not None:
        _probe_into(settings, state)
    return state


def _probe_into(settings: Settings, state: ServerState, timeout_s: float = 5.0) -> None:
    if not port_open(state.host, state.port):
        state.detail = f"port {state.port} not accepting connections yet"
        return
    try:
        state.detail = NODES[server_of(state.name)].probe(settings, state.name, timeout_s)
        state.healthy = True
    except ProbeError as exc:
        state.detail = str(exc)


def _scan_for(markers: Sequence[str]) -> int | None:
    """A java process of ours whose pid file is missing (e.g. deleted by hand)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            argv = cmdline(int(entry.name))
            if argv and all(any(m in a for a in argv) for m in markers):
                if is_ours(int(entry.name), markers):
                    return int(entry.name)
    return None


def _record(settings: Settings, name: NodeName, pid: int) -> None:
    run = settings.pidfile(name).parent
    run.mkdir(parents=True, exist_ok=True)
    ports = (
        {"kafka_port": settings.kafka_port, "kafka_controller_port": settings.kafka_controller_port}
        if server_of(name) == "kafka"
        else {
            "cassandra_port": settings.cassandra_port,
            "cassandra_storage_port": settings.cassandra_storage_port,
        }
    )
    state = {
        "pid": pid, "host": settings.host(name), "ports": ports,
        "heap_mb": settings.heap_mb(name), "started": time.time(),
    }  # fmt: skip
    settings.statefile(name).write_text(json.dumps(state, indent=1) + "\n")
    settings.pidfile(name).write_text(f"{pid}\n")


def _read_state(settings: Settings, name: NodeName) -> dict[str, object] | None:
    try:
        data = json.loads(settings.statefile(name).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _forget(settings: Settings, name: NodeName) -> None:
    settings.pidfile(name).unlink(missing_ok=True)
    settings.statefile(name).unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """One `up`/`down` at a time per infra folder (parallel test workers call ensure_up)."""
    path = settings.lockfile()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _select(settings: Settings, only: str | None, recorded: bool = False) -> list[NodeName]:
    """The nodes `only` names: every node (None; with `recorded`, also those of another layout
    that left a pid file), a server's nodes ("kafka"), or one node ("kafka-2")."""
    if only is None:
        nodes = settings.all_nodes()
        return (
            nodes + [n for n in _recorded_nodes(settings) if n not in nodes] if recorded else nodes
        )
    if only in SERVERS:
        return settings.node_names(server_of(only))
    if only in settings.all_nodes():
        return [only]
    names = ", ".join([*SERVERS, *(n for n in settings.all_nodes() if n not in SERVERS)])
    raise ConfigError(f"unknown server or node {only!r}; expected one of {names}")


def _recorded_nodes(settings: Settings) -> list[NodeName]:
    """Nodes with a pid file, of whatever layout."""
    found = []
    for path in sorted((settings.root / "run").glob("*.pid")):
        try:
            node_index(path.stem)
        except ConfigError:
            continue
        found.append(path.stem)
    return found


def _check_layout(settings: Settings) -> None:
    """Refuse to start nodes of one layout while nodes of another run in the folder (their
    addresses and ports overlap); record the layout, so that later commands find it."""
    ours = set(settings.all_nodes())
    others = [
        n for n in _recorded_nodes(settings)
        if n not in ours and inspect(settings, n, probe=False).pid is not None
    ]  # fmt: skip
    if others:
        raise InfraError(
            f"{', '.join(others)} of another layout still run in {settings.root}: "
            "`timeline infra down` stops them first"
        )
    path = layout_file(settings.root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"nodes": settings.nodes, "hosts": list(settings.hosts)}) + "\n")


def _start_order(names: Sequence[NodeName]) -> list[NodeName]:
    return sorted(names, key=lambda n: (START_ORDER.index(server_of(n)), node_index(n)))


# ---- up ---------------------------------------------------------------------------------------
def up(settings: Settings, names: Sequence[NodeName], progress: Progress) -> list[str]:
    """Start (concurrently) and wait for the selected nodes. Returns failure reports."""
    with _locked(settings), ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        settings = _keep_running_ports(settings, progress)
        _check_layout(settings)
        waits: list[Future[str | None]] = []
        for name in _start_order(names):
            task = progress.task(name, "checking")
            try:
                pid, fresh = _launch(settings, name, task, progress)
            except (InfraError, JarError, ProcError) as exc:
                task.done(f"failed: {exc}", ok=False)
                waits.append(_done_future(f"{name}: {exc}"))
                continue
            waits.append(pool.submit(_await_healthy, settings, name, pid, fresh, task))
        return [msg for fut in waits if (msg := fut.result()) is not None]


def _keep_running_ports(settings: Settings, progress: Progress) -> Settings:
    running = effective_settings(settings)
    if running != settings:
        progress.print("note: a server already runs with other ports than configured; keeping them")
    return running


def _launch(settings: Settings, name: NodeName, task: Task, progress: Progress) -> tuple[int, bool]:
    """The pid to wait for, and whether it was just started."""
    state = inspect(settings, name, probe=False)
    if state.stale_pid is not None and state.pid is None:
        _forget(settings, name)
        task.phase(f"removed stale pid file (pid {state.stale_pid})")
    if state.pid is not None:
        _record_if_missing(settings, name, state.pid)
        task.phase(f"already running (pid {state.pid}), checking health")
        return state.pid, False
    _refuse_busy_ports(settings, name)
    server = NODES[server_of(name)]
    jars = ensure_jars(settings, server.name, progress)
    server.write_config(settings, name)
    if server.name == "kafka" and kafka_node.format_storage(settings, name, jars):
        task.phase("formatted KRaft storage")
    slack = settings.cassandra_timer_slack_us if server.name == "cassandra" else None
    cmd = server.server_cmd(settings, name, jars)
    pid = spawn(cmd, settings.out(name), settings.root, slack)
    _record(settings, name, pid)
    task.phase(f"started pid {pid}, waiting for {server.protocol}")
    return pid, True


def _record_if_missing(settings: Settings, name: NodeName, pid: int) -> None:
    if read_pid(settings.pidfile(name)) != pid:
        _record(settings, name, pid)


def _refuse_busy_ports(settings: Settings, name: NodeName) -> None:
    host = settings.host(name)
    busy = [p for p in settings.listen_ports(name) if port_open(host, p)]
    if server_of(name) == "cassandra" and port_open("127.0.0.1", settings.jmx_port(name)):
        busy.append(settings.jmx_port(name))
    if busy:
        raise InfraError(
            f"port(s) {busy} on {host} are taken by a process this launcher did not start; "
            f"stop it or choose other ports (see deploy/local/README.md)"
        )


def _done_future(value: str | None) -> Future[str | None]:
    fut: Future[str | None] = Future()
    fut.set_result(value)
    return fut


def _await_healthy(
    settings: Settings, name: NodeName, pid: int, fresh: bool, task: Task
) -> str | None:
    """Poll until the protocol answers; None on success, else a report with the log's tail."""
    deadline = time.monotonic() + settings.timeout_s
    state = ServerState(name, settings.host(name), settings.client_port(name), pid=pid)
    while True:
        if not alive(pid):
            code = exit_code(pid)
            _forget(settings, name)
            return _fail(settings, name, task, f"process {pid} exited (code {code})")
        _probe_into(settings, state)
        if state.healthy:
            verb = "started" if fresh else "already running"
            where = f"{state.host}:{state.port}"
            task.done(f"{verb}, healthy at {where} (pid {pid}): {state.detail}")
            return None
        if time.monotonic() > deadline:
            why = (
                f"not healthy after {settings.timeout_s}s ({state.detail}); still running as "
                f"pid {pid}: `timeline infra up` waits again, `timeline infra down` stops it"
            )
            return _fail(settings, name, task, why)
        task.update(f"pid {pid}, waiting for {NODES[server_of(name)].protocol}: {state.detail}")
        time.sleep(POLL_S)


def _fail(settings: Settings, name: NodeName, task: Task, why: str) -> str:
    task.done(f"FAILED: {why}", ok=False)
    parts = [f"{name}: {why}"]
    for path in (settings.log(name), settings.out(name)):
        lines = tail(path, LOG_TAIL_LINES)
        if path == settings.out(name):  # only this start's JVM output, not earlier runs'
            starts = [i for i, line in enumerate(lines) if line.startswith("=== ")]
            lines = lines[starts[-1] + 1 :] if starts else lines
        if lines:
            parts.append(f"--- last {len(lines)} lines of {path} ---\n" + "\n".join(lines))
    return "\n".join(parts)


def tail(path: Path, count: int) -> list[str]:
    try:
        with path.open(errors="replace") as handle:
            return [line.rstrip("\n") for line in deque(handle, maxlen=count)]
    except OSError:
        return []


# ---- down -------------------------------------------------------------------------------------
def down(
    settings: Settings, names: Sequence[NodeName], purge: bool, progress: Progress,
    grace_s: float = STOP_GRACE_S,
) -> list[str]:  # fmt: skip
    """Stop the selected nodes concurrently. Returns failure reports."""
    with _locked(settings), ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        futures = [pool.submit(_stop_one, settings, n, grace_s, progress) for n in names]
        failures = [msg for fut in futures if (msg := fut.result()) is not None]
        if purge and not failures:
            for name in names:
                _purge(settings, name, progress)
            kafka_node.forget_cluster_id(settings)
            if not [p for p in (settings.root / "data").glob("*") if p.is_dir()]:
                layout_file(settings.root).unlink(missing_ok=True)  # nothing left: one node
        return failures


def _stop_one(settings: Settings, name: NodeName, grace_s: float, progress: Progress) -> str | None:
    state = inspect(settings, name, probe=False)
    if state.pid is None:
        _forget(settings, name)
        stale = f" (removed stale pid file, pid {state.stale_pid})" if state.stale_pid else ""
        progress.print(f"{name}: not running{stale}")
        return None
    task = progress.task(name, f"stopping pid {state.pid} (SIGTERM)")
    try:
        how = terminate_pid(state.pid, grace_s)
    except ProcError as exc:
        task.done(f"FAILED: {exc}", ok=False)
        return f"{name}: {exc}"
    _forget(settings, name)
    cds.settle(settings, name, clean_exit=how == "stopped")
    task.done(f"{how} (pid {state.pid})" + (" after SIGKILL" if how == "killed" else ""))
    return None


def _purge(settings: Settings, name: NodeName, progress: Progress) -> None:
    shutil.rmtree(settings.data(name), ignore_errors=True)
    progress.print(f"{name}: deleted {settings.data(name)}")


# ---- status -----------------------------------------------------------------------------------
def status(settings: Settings, out: TextIO) -> int:
    """Print one line per node; 0 when every node is healthy."""
    settings = effective_settings(settings)
    states = _probe_all(settings)
    for state in states:
        print(_status_line(settings, state), file=out)
    return 0 if all(s.healthy for s in states) else 1


def _probe_all(settings: Settings) -> list[ServerState]:
    nodes = settings.all_nodes()  # kafka's nodes first, then cassandra's
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        return list(pool.map(lambda n: inspect(settings, n, probe=True), nodes))


def _status_line(settings: Settings, state: ServerState) -> str:
    head = f"{state.name:<12}"
    if state.pid is None:
        stale = f"; stale pid file (pid {state.stale_pid})" if state.stale_pid else ""
        foreign = [p for p in settings.listen_ports(state.name) if port_open(state.host, p)]
        busy = f"; port(s) {foreign} taken by another process" if foreign else ""
        return f"{head} stopped{stale}{busy}"
    health = "healthy" if state.healthy else "UNHEALTHY"
    uptime = _uptime(settings, state.name)
    return (
        f"{head} running  {health:<9} pid {state.pid:<8} {state.host}:{state.port}{uptime}"
        f"  ({state.detail})"
    )


def _uptime(settings: Settings, name: NodeName) -> str:
    saved = _read_state(settings, name) or {}
    started = saved.get("started")
    if not isinstance(started, int | float):
        return ""
    return f"  up {_human(time.time() - started)}"


def _human(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


# ---- logs -------------------------------------------------------------------------------------
def logs(settings: Settings, names: Sequence[NodeName], follow: bool, count: int) -> int:
    paths = {name: settings.log(name) for name in names}
    prefix = len(paths) > 1
    for name, path in paths.items():
        for line in tail(path, count):
            print(f"[{name}] {line}" if prefix else line)
    sys.stdout.flush()
    if follow:
        with contextlib.suppress(KeyboardInterrupt):
            _follow(paths, prefix)
    return 0


def _follow(paths: dict[NodeName, Path], prefix: bool) -> None:
    offsets = {name: _size(path) for name, path in paths.items()}
    while True:
        for name, path in paths.items():
            offsets[name] = _print_new(name, path, offsets[name], prefix)
        sys.stdout.flush()
        time.sleep(0.25)


def _print_new(name: NodeName, path: Path, offset: int, prefix: bool) -> int:
    size = _size(path)
    if size < offset:  # rotated or truncated
        offset = 0
    if size == offset:
        return offset
    with path.open("rb") as handle:
        handle.seek(offset)
        chunk = handle.read(size - offset)
    complete = chunk[: chunk.rfind(b"\n") + 1]
    for line in complete.decode(errors="replace").splitlines():
        print(f"[{name}] {line}" if prefix else line)
    return offset + len(complete)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# ---- command line -----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="timeline infra", description="Local Apache Kafka + Apache Cassandra (no Docker)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    only = "a server (kafka, cassandra: each of its nodes) or one node (kafka-2, cassandra-3)"
    p_up = sub.add_parser("up", help="fetch jars, start every node, wait until healthy")
    p_up.add_argument("--only", metavar="SERVER|NODE", help=only)
    p_up.add_argument(
        "--nodes", type=int,
        help="nodes of each server, node N on 127.0.0.N (TIMELINE_INFRA_NODES; default: the "
        "folder's last layout, else 1)",
    )  # fmt: skip
    p_up.add_argument(
        "--timeout", type=int, help="seconds to wait per node (TIMELINE_INFRA_TIMEOUT, 180)"
    )
    for flag in ("kafka-port", "kafka-controller-port", "kafka-heap-mb", "cassandra-port",
                 "cassandra-storage-port", "cassandra-heap-mb"):  # fmt: skip
        p_up.add_argument(
            f"--{flag}", type=int, help="overrides TIMELINE_INFRA_" + flag.upper().replace("-", "_")
        )
    p_up.add_argument("--no-progress", action="store_true", help="print nothing but failures")
    p_down = sub.add_parser("down", help="stop every node (SIGTERM, then SIGKILL)")
    p_down.add_argument("--only", metavar="SERVER|NODE", help=only)
    p_down.add_argument("--purge", action="store_true", help="also delete their data folders")
    p_down.add_argument("--timeout", type=float, default=STOP_GRACE_S, help="grace seconds")
    sub.add_parser("status", help="state of each node; exit 0 only when all are healthy")
    p_logs = sub.add_parser("logs", help="print (and follow) the nodes' logs")
    p_logs.add_argument("server", nargs="?", metavar="SERVER|NODE", help=only)
    p_logs.add_argument("-f", "--follow", action="store_true")
    p_logs.add_argument("-n", "--lines", type=int, default=50)
    p_kill = sub.add_parser("kill", help="SIGKILL one node (a crash, for fault drills)")
    p_kill.add_argument("node", help="kafka-2, cassandra-3, ... (kafka or cassandra alone)")
    p_start = sub.add_parser("start", help="start one node again and wait until it answers")
    p_start.add_argument("node", help="kafka-2, cassandra-3, ... (kafka or cassandra alone)")
    p_start.add_argument("--no-progress", action="store_true")
    p_tool = sub.add_parser(
        "nodetool", help="Cassandra's nodetool against one node (repair, status, ...)"
    )
    p_tool.add_argument("node", help="cassandra-2, ... (cassandra alone on one node)")
    p_tool.add_argument("args", nargs=argparse.REMAINDER, help="nodetool's own arguments")
    return parser


def _settings_from(args: argparse.Namespace) -> Settings:
    overrides = {
        key: getattr(args, key, None)
        for key in ("kafka_port", "kafka_controller_port", "kafka_heap_mb", "cassandra_port",
                    "cassandra_storage_port", "cassandra_heap_mb")
    }  # fmt: skip
    if args.command == "up":
        overrides["timeout_s"] = args.timeout
        overrides["nodes"] = args.nodes
    return Settings.from_env(**overrides)


def _cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    started = time.monotonic()
    with Progress(enabled=not args.no_progress) as prog:
        failures = up(settings, _select(settings, args.only), prog)
    for report in failures:
        print(report, file=sys.stderr)
    if failures:
        return 1
    if not args.no_progress:
        layout = f"{settings.nodes} nodes of each server" if settings.nodes > 1 else "one node"
        print(
            f"infra up in {time.monotonic() - started:.1f}s ({layout}); Kafka "
            f"{settings.bootstrap()}, Cassandra {','.join(settings.hosts_of('cassandra'))} "
            f"port {settings.cassandra_port}; data under {settings.root}"
        )
    return 0


def _cmd_down(settings: Settings, args: argparse.Namespace) -> int:
    with Progress() as prog:
        nodes = _select(settings, args.only, recorded=True)
        failures = down(settings, nodes, args.purge, prog, args.timeout)
    for report in failures:
        print(report, file=sys.stderr)
    return 1 if failures else 0


def _cmd_kill(settings: Settings, args: argparse.Namespace) -> int:
    node = _one_node(settings, args.node)
    pid = kill_node(node)
    print(f"{node}: killed (pid {pid}, SIGKILL); `timeline infra start {node}` brings it back")
    return 0


def _cmd_start(settings: Settings, args: argparse.Namespace) -> int:
    node = _one_node(settings, args.node)
    with Progress(enabled=not args.no_progress) as prog:
        failures = up(settings, [node], prog)
    for report in failures:
        print(report, file=sys.stderr)
    return 1 if failures else 0


def _one_node(settings: Settings, name: str) -> NodeName:
    nodes = _select(settings, name)
    if len(nodes) != 1:
        raise ConfigError(f"{name!r} names {len(nodes)} nodes; name one: {', '.join(nodes)}")
    return nodes[0]


def _quiet_client_logs() -> None:
    import logging

    for name in ("aiokafka", "kafka", "cassandra"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def main(argv: list[str]) -> int:
    """Entry point of `timeline infra ...` (argv excludes the `timeline infra` words)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, usage errors: return the code instead of exiting
        return exc.code if isinstance(exc.code, int) else 2
    _quiet_client_logs()
    try:
        settings = _settings_from(args)
        if args.command == "up":
            return _cmd_up(settings, args)
        if args.command == "down":
            return _cmd_down(settings, args)
        if args.command == "status":
            return status(settings, sys.stdout)
        if args.command == "kill":
            return _cmd_kill(settings, args)
        if args.command == "start":
            return _cmd_start(settings, args)
        if args.command == "nodetool":
            done = nodetool(_one_node(settings, args.node), args.args)
            sys.stdout.write(done.stdout)
            sys.stderr.write(done.stderr)
            return done.returncode
        return logs(settings, _select(settings, args.server), args.follow, args.lines)
    except ConfigError as exc:
        print(f"timeline infra: {exc}", file=sys.stderr)
        return 2
    except (InfraError, JarError, ProcError) as exc:
        print(f"timeline infra: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
