"""Wiring: a backend, the services a process runs, and one aiohttp application over them."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass, field

from aiohttp import web, web_protocol

from engine import text
from engine.adapters import open_backend
from engine.admission import Admission
from engine.auth import auth_middleware, parse_tokens
from engine.config import Settings
from engine.deadlines import body_deadline, server_options
from engine.errors import TimelineError
from engine.groups import CHECKS, CHECKS_PROJECTION, FANOUT, INDEXERS, group_name
from engine.http import encode_body, error_middleware, error_payload, ops_routes
from engine.ids import IdGenerator
from engine.metrics import Metrics
from engine.ports import Backend
from engine.progress import LogProgress
from engine.worker_ids import LeasedIds
from fanout.projections import PROJECTIONS
from fanout.worker import ConsumerWorker
from ingest.service import IngestRoutes
from readers.consistency import consistency_middleware
from readers.service import ReadersRoutes
from readers.streams import StreamRoutes
from readers.views import ViewReaders
from timeline.readiness import is_ready

log = logging.getLogger("timeline")
PARTS = ("ingest", "readers", "fanout", "index")
# Every ingest process keeps the checks projection its follow-up checks read.
CONSUMERS = {"fanout": FANOUT, "index": INDEXERS, "ingest": CHECKS}
# An ingest process learns registered users from the registry for at most this long before
# it serves: its first posts then cost no registry read each (the rest load as they come).
WARM_KNOWN_USERS_S = 10.0


@dataclass
class Engine:
    """The parts of the engine one process runs, on one backend."""

    settings: Settings
    parts: tuple[str, ...] = PARTS
    metrics: Metrics = field(default_factory=Metrics)
    backend: Backend | None = None
    workers: list[ConsumerWorker] = field(default_factory=list)
    app: web.Application | None = None
    ids: LeasedIds | None = None
    progress: LogProgress | None = None
    ingest: IngestRoutes | None = None

    async def start(self) -> web.Application:
        """Start the backend and consumers (and, for ingest, lease a worker id for this
        process's lifetime); the web application to serve."""
        self.backend = open_backend(self.settings, self.metrics)
        await self.backend.start()
        if "ingest" in self.parts:
            self.ids = LeasedIds(self.backend.leases, self.settings, self.metrics)
            await self.ids.start()
        command = "timeline " + "+".join(self.parts)
        for part in self.parts:
            for name in CONSUMERS.get(part, ()):
                holder = self.backend.claim_group(group_name(self.settings, name), command)
                if holder is None:
                    await self._start_consumer(name)
                elif part == "ingest":  # its checks group runs there; this process appends
                    log.info("the %s group runs in %s; this process only appends", name, holder)
                else:
                    raise GroupTaken(
                        f"the {name} consumer group of {self.settings.data_dir} already runs "
                        f"in {holder}: only one process may consume an embedded data folder"
                    )
        self.app = self.web_app()
        if self.ingest is not None:
            await asyncio.to_thread(text.prepare)
            started = time.monotonic()
            learnt = await self.ingest.writer.warm_from_registry(WARM_KNOWN_USERS_S)
            log.info(
                "ingest knows %d registered users (read in %.1f s)",
                learnt,
                time.monotonic() - started,
            )
        return self.app

    async def _start_consumer(self, projection: str) -> None:
        assert self.backend is not None
        s = self.settings
        projector = PROJECTIONS[projection](s, self.backend, self.metrics)
        worker = ConsumerWorker(
            self.backend,
            self.metrics,
            group_name(s, projection),
            projector,
            s.fanout_batch_max_records,
            s.fanout_poll_timeout_ms,
            # the checks group's cost is per Cassandra batch, and its readers wait for it only
            # on a miss (a follow-up right after its tweet): larger batches are worth the wait
            s.checks_batch_wait_ms if projection == CHECKS_PROJECTION else 0,
        )
        self.workers.append(worker)
        await worker.start()

    def web_app(self) -> web.Application:
        """The HTTP routes of this process's parts, with the ops routes."""
        assert self.backend is not None
        s = self.settings
        tokens = parse_tokens(s.tokens)
        self.progress = progress = LogProgress(self.backend)
        admission = Admission(
            s.max_in_flight, s.admission_wait_ms, self.metrics, s.admission_max_lag_ms
        )
        middlewares = [
            admission.middleware,  # first: turning a request away must cost little
            error_middleware(self.metrics, access=s.access_log == "on"),
        ]
        if tokens:  # an open API (see open_access_warning) checks nothing: no layer for it
            middlewares.append(auth_middleware(tokens))
        middlewares.append(body_deadline(s.request_read_timeout_s, self.metrics))
        if "readers" in self.parts:
            middlewares.append(consistency_middleware(s, progress))
        app = web.Application(
            middlewares=middlewares,
            client_max_size=s.max_body_bytes,
        )
        admission.install(app)
        app.add_routes(ops_routes(self.metrics, self.ready))
        if "ingest" in self.parts:
            self.ingest = IngestRoutes(self.settings, self.backend, self._ids(), progress)
            app.add_routes(self.ingest.routes())
        if "readers" in self.parts:
            readers = ReadersRoutes(self.settings, self.backend, self.metrics)
            readers.install(app)
            StreamRoutes(self.settings, self.backend, self.metrics, readers).install(app)
            app.add_routes(ViewReaders(self.settings, self.backend).routes())
        return app

    def _ids(self) -> IdGenerator:
        """The leased generator; without a lease (routes built, not started), one that
        issues nothing."""
        if self.ids is None:
            return IdGenerator(0, mark_ms=-1)
        return self.ids.generator

    async def ready(self) -> tuple[bool, dict[str, bool]]:
        """Whether this process is ready (timeline/readiness.py), and every check: the log
        answers, takes writes (ingest), the store answers, the consumers run."""
        assert self.backend is not None
        probes = [self.backend.log.ping(), self.backend.ping_store()]
        if "ingest" in self.parts:
            probes.append(self.backend.log.writable())
        found = await asyncio.gather(*probes)
        checks = dict(zip(("log", "store", "log_writable"), found, strict=False))
        if "log_writable" in checks:
            self.metrics.log_writable.set(1 if checks["log_writable"] else 0)
        if self.workers:
            checks["consumers"] = all(w.running for w in self.workers)
            checks["consumers_unblocked"] = not any(w.blocked for w in self.workers)
        return is_ready(self.parts, checks), checks

    async def stop(self) -> None:
        """Finish the batches in hand, commit, and close every connection."""
        await asyncio.gather(*(worker.stop() for worker in self.workers))
        if self.ids is not None:
            await self.ids.stop()
        if self.progress is not None:
            await self.progress.stop()
        if self.backend is not None:
            await self.backend.stop()


class GroupTaken(TimelineError):
    """A consumer group this process would run is held by another process."""

    status = 409
    code = "group_taken"


class CannotListen(Exception):
    """The address to serve on cannot be taken (in use, not this machine's, not allowed)."""


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, taken before anything starts: CannotListen in one line when the
    address is in use or cannot be bound."""
    try:
        return socket.create_server((host, port), backlog=1024)
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
        hint = ""
        if e.errno == errno.EADDRINUSE:
            hint = " (another process serves there: stop it, or choose --port / TIMELINE_PORT)"
        raise CannotListen(f"cannot listen on {host}:{port}: {reason}{hint}") from e


def answer_parser_errors_in_json() -> None:
    """A request aiohttp's parser refuses before any middleware runs (a raw non-ASCII byte in
    the query, a malformed header) is answered in the API's error shape rather than as plain
    text: the one place the engine reaches into aiohttp's request handler (its
    handle_error), wrapped once per process, for 4xx answers only."""
    original = web_protocol.RequestHandler.handle_error
    if getattr(original, "json_errors", False):
        return

    def handle_error(
        self: web_protocol.RequestHandler,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        response = original(self, request, status, exc, message)
        if not 400 <= status < 500:
            return response
        reason = (message or "").splitlines()[0].strip().rstrip(":") or "malformed request"
        body, content_type = encode_body(error_payload("invalid_request", reason), False)
        answer = web.Response(status=status, body=body, content_type=content_type)
        answer.force_close()
        return answer

    handle_error.json_errors = True  # type: ignore[attr-defined]
    web_protocol.RequestHandler.handle_error = handle_error  # type: ignore[method-assign]


# Allocations between two collections of the youngest generation (Python's default: 700).
GC_YOUNG_THRESHOLD = 20_000


def settle_heap() -> None:
    """Once started: what the process built to get there (modules, settings, warmed caches,
    connections) is frozen out of the collector's sight, and young collections come every
    GC_YOUNG_THRESHOLD allocations rather than 700. A request allocates a few hundred short-
    lived objects (a batch of 1,000 tweets some 30,000), nearly all freed by reference
    counting; with the defaults the collector ran hundreds of times a second, each older
    collection walking every long-lived object again."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


async def serve(settings: Settings, parts: tuple[str, ...]) -> None:
    """Run the parts until SIGINT or SIGTERM."""
    sock = listen(settings.host, settings.port)
    answer_parser_errors_in_json()
    engine = Engine(settings, parts)
    try:
        app = await engine.start()
    except BaseException:
        sock.close()
        with contextlib.suppress(Exception):
            await engine.stop()  # what started before the failure
        raise
    runner = web.AppRunner(app, access_log=None, **server_options(settings.request_read_timeout_s))
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    settle_heap()
    port = sock.getsockname()[1]  # the one the system chose for --port 0
    log.info(
        "timeline %s listening on http://%s:%d (backend %s)",
        "+".join(parts),
        settings.host,
        port,
        settings.backend,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await runner.cleanup()
    await engine.stop()
