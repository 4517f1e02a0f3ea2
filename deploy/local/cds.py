"""Application class-data sharing (AppCDS) archives: a faster JVM start after the first one.

The first start of a server runs with `-XX:ArchiveClassesAtExit=<name>-<key>.jsa.tmp`: when that
JVM exits cleanly (`down`), it writes the classes it loaded into the archive, and `down` promotes
the file. Later starts map it with `-XX:SharedArchiveFile=`, skipping class parsing and
verification (measured: Kafka 4.3 s -> 2.4 s, Cassandra 7.7 s -> 5.5 s, each alone). The key
covers the pom and the JDK, so a new classpath or JDK gets a new archive; the JVM also checks the
classpath itself and falls back to no sharing on any mismatch. Off with TIMELINE_INFRA_CDS=0.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .jars import pom_hash
from .settings import NodeName, ServerName, Settings, server_of

# Cassandra runs with the jamm java agent; dumping then needs this diagnostic switch. jamm only
# measures object sizes (no class transformation), so the archive stays faithful.
AGENT_FLAGS = ["-XX:+UnlockDiagnosticVMOptions", "-XX:+AllowArchivingWithJavaAgent"]
QUIET_DUMP = "-Xlog:cds*=error"  # dumping warns once per class it skips; keep the .out readable


def enabled() -> bool:
    return os.environ.get("TIMELINE_INFRA_CDS", "1").strip().lower() not in {"0", "false", "no"}


def archive(settings: Settings, server: ServerName, java: str) -> Path:
    """A server's archive: every node of it maps the same one."""
    classpath = pom_hash(server, settings.release(server))
    key = hashlib.sha256(f"{classpath}|{_jdk_identity(java)}".encode()).hexdigest()[:16]
    return settings.root / "cds" / f"{server}-{key}.jsa"


def jvm_flags(settings: Settings, node: NodeName, java: str, agent: bool) -> list[str]:
    """Flags that use the archive when it exists, else ask the JVM to write it at exit (each
    node into a file of its own; the first to stop cleanly provides the archive)."""
    if not enabled():
        return []
    final = archive(settings, server_of(node), java)
    extra = AGENT_FLAGS if agent else []  # must match between dump and use, or no sharing
    if final.is_file() and final.stat().st_size > 0:
        return [*extra, f"-XX:SharedArchiveFile={final}"]
    final.parent.mkdir(parents=True, exist_ok=True)
    pending = _pending(final, node)
    pending.unlink(missing_ok=True)
    return [*extra, QUIET_DUMP, f"-XX:ArchiveClassesAtExit={pending}"]


def settle(settings: Settings, node: NodeName, clean_exit: bool) -> None:
    """After a node stopped: keep the archive it wrote on a clean exit, drop it otherwise."""
    for pending in (settings.root / "cds").glob(f"{server_of(node)}-*.jsa.{node}.tmp"):
        final = pending.with_name(pending.name.removesuffix(f".{node}.tmp"))
        if clean_exit and pending.stat().st_size > 0:
            pending.replace(final)
        else:
            pending.unlink(missing_ok=True)


def _pending(final: Path, node: NodeName) -> Path:
    return final.with_name(f"{final.name}.{node}.tmp")


def _jdk_identity(java: str) -> str:
    real = Path(java).resolve()
    libjvm = real.parent.parent / "lib" / "server" / "libjvm.so"
    probe = libjvm if libjvm.is_file() else real
    stat = probe.stat()
    return f"{real}|{stat.st_size}|{stat.st_mtime_ns}"
