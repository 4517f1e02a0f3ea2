"""What `timeline` says when it cannot start: one line on stderr and a non-zero status, never
a traceback, and nothing started."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from engine.config import unknown_variables
from timeline.cli import main

pytestmark = pytest.mark.unit


def test_a_port_in_use_is_one_line_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("TIMELINE_DATA_DIR", str(data))
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["up", "--host", "127.0.0.1", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"timeline: cannot listen on 127.0.0.1:{port}: Address already in use" in err
    assert "Traceback" not in err
    assert not data.exists()  # the embedded store was never opened


def test_a_bad_log_level_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIMELINE_LOG_LEVEL", "loud")
    assert main(["up"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "timeline: TIMELINE_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, "
        "got 'loud'"
    )


def test_a_store_that_cannot_be_created_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TIMELINE_DATA_DIR", str(blocker / "data"))
    with socket.create_server(("127.0.0.1", 0)) as free:
        port = free.getsockname()[1]
    assert main(["up", "--host", "127.0.0.1", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"timeline: cannot create {blocker / 'data'}" in err
    assert "Traceback" not in err


def test_a_misspelled_variable_is_named_with_the_nearest_setting() -> None:
    env = {"TIMELINE_PROT": "1", "TIMELINE_PORT": "2", "TIMELINE_INFRA_DIR": "x", "OTHER": "y"}
    assert unknown_variables(env) == [
        "TIMELINE_PROT is not a setting and is ignored; did you mean TIMELINE_PORT?"
    ]


def test_config_prints_every_setting_with_its_source_and_hides_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIMELINE_PORT", "9000")
    monkeypatch.setenv("TIMELINE_TOKENS", "svc=s3cret-s3cret-s3cret:read")
    monkeypatch.delenv("TIMELINE_HOST", raising=False)
    assert main(["config"]) == 0
    lines = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()}
    assert lines["TIMELINE_PORT"] == ["environment", "9000"]
    assert lines["TIMELINE_HOST"] == ["default", "127.0.0.1"]
    assert lines["TIMELINE_TOKENS"] == ["environment", "(set)"]
    assert "s3cret" not in " ".join(" ".join(v) for v in lines.values())
