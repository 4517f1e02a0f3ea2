"""The servers' classpaths: fetched once from Maven Central with `mvn`, cached under .infra/jars."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections import deque
from pathlib import Path

from .progress import Progress, Task
from .settings import ServerName, Settings, pom

MARKER = ".complete.json"


class JarError(RuntimeError):
    """Maven could not produce the classpath."""


def pom_hash(name: ServerName, release: str = "") -> str:
    """What a classpath is made from: the pom, and the release it is resolved at."""
    return hashlib.sha256(pom(name).read_bytes() + release.encode()).hexdigest()


def is_complete(folder: Path, name: ServerName, release: str = "") -> bool:
    """True when `folder` holds a full copy made from the current pom.xml at `release`."""
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    if marker.get("pom_sha256") != pom_hash(name, release):
        return False
    return all((folder / jar).is_file() for jar in marker.get("jars", []))


def ensure_jars(settings: Settings, name: ServerName, progress: Progress) -> Path:
    """The folder of `name`'s jars, running maven first unless a complete copy is cached."""
    folder = settings.jars(name)
    if is_complete(folder, name, settings.release(name)):
        return folder
    task = progress.task(f"{name} jars", "fetching with maven")
    try:
        _fetch(settings, name, folder, task)
    except JarError as exc:
        task.done(f"failed: {exc}", ok=False)
        raise
    count = len(list(folder.glob("*.jar")))
    task.done(f"{count} jars in {folder}")
    return folder


def classpath(folder: Path) -> str:
    return f"{folder}/*"


def _fetch(settings: Settings, name: ServerName, folder: Path, task: Task) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarError("`mvn` not found on PATH (apt-get install maven)")
    build = settings.root / "build" / name
    staging = folder.with_name(f"{folder.name}.partial")
    for path in (build, staging):
        shutil.rmtree(path, ignore_errors=True)
    build.mkdir(parents=True)
    shutil.copy2(pom(name), build / "pom.xml")
    _run_maven(mvn, build, staging, task, _maven_properties(settings, name))
    jars = sorted(p.name for p in staging.glob("*.jar"))
    if not jars:
        raise JarError(f"maven copied no jars into {staging}")
    marker = {"pom_sha256": pom_hash(name, settings.release(name)), "jars": jars}
    (staging / MARKER).write_text(json.dumps(marker, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    shutil.rmtree(build, ignore_errors=True)


def _maven_properties(settings: Settings, name: ServerName) -> list[str]:
    """-D flags choosing the release: Kafka's version, and before 4.0 its log4j 1 logging
    (the pom's `kafka-legacy` profile)."""
    if name != "kafka":
        return []
    flags = [f"-Dkafka.version={settings.kafka_version}"]
    return flags + (["-Dkafka.legacy=true"] if settings.kafka_legacy else [])


def _run_maven(mvn: str, build: Path, out: Path, task: Task, properties: list[str]) -> None:
    cmd = [
        mvn, "-B", "-Dstyle.color=never", "-f", str(build / "pom.xml"), *properties,
        "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={out}",
    ]  # fmt: skip
    tail: deque[str] = deque(maxlen=30)
    downloaded = copied = 0
    with subprocess.Popen(
        cmd, cwd=build, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        stdin=subprocess.DEVNULL,
    ) as proc:  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            downloaded += "Downloaded from" in line
            copied += "] Copying " in line
            task.update(f"maven: {downloaded} files downloaded, {copied} jars copied")
    if proc.returncode != 0:
        raise JarError(f"mvn exited {proc.returncode}:\n" + "\n".join(tail))
