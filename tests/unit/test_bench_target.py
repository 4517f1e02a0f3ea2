"""`python -m bench --target URL`: the Locust profiles against an engine already running."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.run import checked_target, parser

pytestmark = pytest.mark.unit


def target_of(*argv: str) -> str | None:
    return checked_target(parser().parse_args(list(argv)))


def test_no_target_runs_the_whole_set() -> None:
    assert target_of() is None
    assert target_of("--phases", "ingest,pages") is None


def test_a_target_on_this_machine_runs_the_http_phase() -> None:
    assert target_of("--target", "http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert target_of("--target", "http://localhost:9000", "--phases", "http") == (
        "http://localhost:9000"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ("--target", "http://10.0.0.5:8080"),  # load only ever goes to this machine
        ("--target", "https://example.com"),
        ("--target", "http://127.0.0.1:8080", "--phases", "ingest"),  # needs its own processes
        ("--pid", "123"),  # a pid without a target
    ],
)
def test_what_a_target_cannot_do_is_refused(argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit):
        target_of(*argv)


def test_a_target_run_names_its_engine_and_leaves_the_standard_set_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    target = "http://127.0.0.1:8097"
    result: dict[str, Any] = {"run": {"target": target, "machine": {"cores": 2}}}
    report.write(out, result)
    assert f"already running at {target}" in (out / "SUMMARY.md").read_text()
    assert not (tmp_path / "LATEST.md").exists()  # LATEST.md is the standard set's
    report.write(out, {"run": {"machine": {"cores": 2}}})
    assert (tmp_path / "LATEST.md").exists()
