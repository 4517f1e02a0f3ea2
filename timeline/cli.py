"""`timeline up|ingest|readers|fanout|index|migrate|rebuild|dead-letters|infra`."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import uvloop

from engine.auth import open_access_warning, parse_tokens
from engine.config import Settings, describe, unknown_variables
from engine.errors import TimelineError
from fanout.projections import PROJECTIONS
from timeline.app import PARTS, CannotListen, serve
from timeline.logs import setup_logging
from timeline.rebuild import rebuild

COMMANDS = {
    "up": PARTS,
    "ingest": ("ingest",),
    "readers": ("readers",),
    "fanout": ("fanout",),
    "index": ("index",),
}
API_PARTS = frozenset({"ingest", "readers"})  # fanout and index serve only health and metrics


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="timeline", description="The timeline engine.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, parts in COMMANDS.items():
        cmd = sub.add_parser(name, help=f"run {' + '.join(parts)} in this process")
        cmd.add_argument("--host", help="address to listen on (TIMELINE_HOST, 127.0.0.1)")
        cmd.add_argument("--port", type=int, help="port to listen on (TIMELINE_PORT, 8080)")
    sub.add_parser("config", help="every setting with its value and where it came from, then exit")
    sub.add_parser("migrate", help="create the topics and apply the CQL schema, then exit")
    rebuild = sub.add_parser("rebuild", help="empty one projection and replay the log into it")
    rebuild.add_argument("projection", choices=sorted(PROJECTIONS))
    letters = sub.add_parser("dead-letters", help="list or replay records consumers set aside")
    action = letters.add_subparsers(dest="action", required=True)
    action.add_parser("list", help="every dead-lettered record: group, place, reason, state")
    replay = action.add_parser(
        "replay", help="bring pending dead letters back into the group that failed them"
    )
    replay.add_argument("--group", help="only this consumer group's letters (as `list` names it)")
    sub.add_parser(
        "infra", help="start and stop a local Kafka and Cassandra (see `infra -h`)", add_help=False
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["infra"]:
        from deploy.local.infra import main as infra_main

        return int(infra_main(args_list[1:]))
    args = parser().parse_args(args_list)
    overrides = {k: v for k in ("host", "port") if (v := getattr(args, k, None)) is not None}
    try:
        settings = Settings.from_env(**overrides)
        warning = access_warning(settings, COMMANDS.get(args.command, ()))
    except ValueError as e:
        print(f"timeline: {e}", file=sys.stderr)
        return 2
    if args.command == "config":
        print_config(overrides)
        return 0
    setup_logging(settings)
    for unknown in unknown_variables():
        logging.getLogger("timeline").warning(unknown)
    if warning is not None:
        logging.getLogger("timeline").warning(warning)
    if args.command == "migrate":
        uvloop.run(_migrate(settings))
        return 0
    try:
        if args.command == "rebuild":
            uvloop.run(rebuild(settings, args.projection))
            return 0
        if args.command == "dead-letters":
            uvloop.run(_dead_letters(settings, args))
            return 0
    except TimelineError as e:
        print(f"timeline: {e.message}", file=sys.stderr)
        return 1
    try:
        uvloop.run(serve(settings, COMMANDS[args.command]))
    except CannotListen as e:
        print(f"timeline: {e}", file=sys.stderr)
        return 1
    except TimelineError as e:  # the store or the log cannot be opened: one line, no traceback
        print(f"timeline: {e.message}", file=sys.stderr)
        return 1
    return 0


def print_config(overrides: dict[str, Any]) -> None:
    """`timeline config`: a table of every setting, its value and its source."""
    rows = describe(**overrides)
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        print(f"{name:<{width}}  {source:<11}  {value}")
    for unknown in unknown_variables():
        print(f"warning: {unknown}", file=sys.stderr)


def access_warning(settings: Settings, parts: tuple[str, ...]) -> str | None:
    """The warning to log when these parts serve an open API; ValueError when they may not."""
    if not API_PARTS & set(parts):
        return None
    return open_access_warning(settings.host, parse_tokens(settings.tokens), settings.auth)


async def _dead_letters(settings: Settings, args: argparse.Namespace) -> None:
    from timeline.dead_letters import list_letters, replay

    if args.action == "list":
        await list_letters(settings)
    else:
        await replay(settings, args.group)


async def _migrate(settings: Settings) -> None:
    from engine.adapters import open_backend
    from engine.metrics import Metrics

    backend = open_backend(settings, Metrics())
    await backend.start()
    await backend.stop()
    print("topics and schema are in place")
