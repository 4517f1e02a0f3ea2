"""py-spy on a running process for a while, reduced to the frames that took the time."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

RATE_HZ = 50


async def record(pid: int, seconds: float, out: Path) -> dict[str, Any]:
    """Sample a process with py-spy (--nonblocking: it is never paused) and summarise."""
    # the project's environment installs py-spy beside its interpreter, which need not be on PATH
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        return {"error": "py-spy is not installed (pip install py-spy)"}
    await asyncio.to_thread(out.parent.mkdir, parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        spy, "record", "--pid", str(pid), "--duration", str(int(seconds)),
        "--rate", str(RATE_HZ), "--nonblocking", "--format", "raw", "--output", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    if proc.returncode != 0:
        first = err.decode().strip().splitlines()[:3]
        return {"error": f"py-spy exited {proc.returncode}: {' / '.join(first)}"}
    return await asyncio.to_thread(summarise, out)


def summarise(path: Path, top: int = 40) -> dict[str, Any]:
    """Top frames by own time (where the CPU is) and by total time (what it is for)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")]
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    if not samples:
        return {"samples": 0}

    def share(c: Counter[str], keep: int) -> list[list[Any]]:
        return [[round(n / samples * 100, 1), f] for f, n in c.most_common(keep)]

    project = Counter({f: n for f, n in total.items() if _is_project(f)})
    return {
        "samples": samples,
        "rate_hz": RATE_HZ,
        "own_time": share(own, top),
        "total_time_project": share(project, top),
    }


def _short(frame: str) -> str:
    """'func (path/to/file.py:12)' with site-packages paths cut to the package."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})" if where else name


def _is_project(frame: str) -> bool:
    """Engine code, leaving out the entry points every stack starts with."""
    if "(timeline/cli.py" in frame or "(timeline/__main__.py" in frame or "middleware" in frame:
        return False  # entry points and middlewares hold every request: they say nothing
    return any(f"({pkg}/" in frame for pkg in ("engine", "fanout", "ingest", "readers", "timeline"))
