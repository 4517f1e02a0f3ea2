"""A cassandra-driver connection whose socket is served by the process's own event loop.

The driver's default reactor (libev) reads and writes every socket on a thread of its own, so a
query crosses threads four times: the event loop hands the request to the I/O thread (a wake-up
write), the I/O thread sends it, reads the answer, decodes it, and hands it back (another
wake-up). Both threads run Python, so each crossing also hands over the interpreter lock. A page
of a home timeline spent a quarter of the readers' CPU there.

Here the socket belongs to the event loop the engine already runs: a request made on the loop is
written at once, an answer is read and decoded by a reader callback of the same loop, and the
query's future resolves there. Work the driver does on its own threads (the control connection,
heartbeats, reconnections, preparing a statement on every node) still works: what it writes is
handed to the loop thread-safely, every socket operation happens on the loop, and what it waits
for is answered there.

The one rule this brings: code on the loop must never wait for the driver synchronously (a
blocking `Session.execute` or `Session.prepare` there waits for an answer only the loop can
read). engine/adapters/cassandra/session.py prepares statements on a worker thread for that
reason and runs everything else through `execute_async`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from cassandra.connection import Connection, ConnectionShutdown

log = logging.getLogger(__name__)


class LoopTimer:
    """A driver timer (a request's timeout) on the loop; made and cancelled from any thread."""

    __slots__ = ("_cancelled", "_handle", "_loop", "_thread")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        thread: int,
        timeout: float,
        callback: Callable[[], Any],
    ) -> None:
        self._loop, self._thread = loop, thread
        self._cancelled = False
        self._handle: asyncio.TimerHandle | None = None
        if threading.get_ident() == thread:
            self._handle = loop.call_later(timeout, callback)
        else:
            _call_soon(loop, self._start, timeout, callback)

    def _start(self, timeout: float, callback: Callable[[], Any]) -> None:
        if not self._cancelled:
            self._handle = self._loop.call_later(timeout, callback)

    def cancel(self) -> None:
        self._cancelled = True
        handle = self._handle
        if handle is None:
            return
        if threading.get_ident() == self._thread:
            handle.cancel()
        else:  # a loop's timers are the loop's own to touch
            _call_soon(self._loop, handle.cancel)


class LoopConnection(Connection):  # type: ignore[misc]
    """A driver connection on one asyncio event loop; `bound_to(loop)` makes the class a
    Cluster is given (connection_class), one per loop."""

    _loop: asyncio.AbstractEventLoop
    _loop_thread: int
    is_closed: bool

    @classmethod
    def bound_to(cls, loop: asyncio.AbstractEventLoop) -> type[LoopConnection]:
        """This class, serving its sockets on `loop` (called on the loop's own thread)."""
        return type(cls.__name__, (cls,), {"_loop": loop, "_loop_thread": threading.get_ident()})

    @classmethod
    def initialize_reactor(cls) -> None:
        pass  # the loop is the engine's: nothing to start

    @classmethod
    def handle_fork(cls) -> None:
        pass

    @classmethod
    def create_timer(cls, timeout: float, callback: Callable[[], Any]) -> LoopTimer:
        return LoopTimer(cls._loop, cls._loop_thread, timeout, callback)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        Connection.__init__(self, *args, **kwargs)
        self._out: deque[memoryview] = deque()  # bytes the socket has not taken yet
        self._writing = False  # a writer callback is registered for the socket
        self._attached = False
        self._connect_socket()  # blocking, on the thread that makes the connection
        self._socket.setblocking(False)
        self._fd = self._socket.fileno()
        if threading.get_ident() == self._loop_thread:
            self._attach()
        else:
            _call_soon(self._loop, self._attach)
        self._send_options_message()

    def _attach(self) -> None:
        if self.is_closed:
            return
        self._attached = True
        self._loop.add_reader(self._fd, self._readable)
        self._flush()

    def push(self, data: bytes) -> None:
        if threading.get_ident() == self._loop_thread:
            self._write(data)
        else:
            _call_soon(self._loop, self._write, data)

    def _write(self, data: bytes) -> None:
        """On the loop: send now when nothing waits before it, else queue behind."""
        if self.is_closed:
            return
        self._out.append(memoryview(data))
        if self._attached and not self._writing:
            self._flush()

    def _flush(self) -> None:
        out = self._out
        while out:
            chunk = out[0]
            try:
                sent = self._socket.send(chunk)
            except (BlockingIOError, InterruptedError):  # EAGAIN, EINPROGRESS, EINTR
                sent = 0
            except OSError as e:  # failed after the caller's send, not inside it
                self._loop.call_soon(self.defunct, e)
                return
            if sent < len(chunk):
                out[0] = chunk[sent:]
                if not self._writing:
                    self._writing = True
                    self._loop.add_writer(self._fd, self._writable)
                return
            out.popleft()
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self._fd)

    def _writable(self) -> None:
        self._flush()

    def _readable(self) -> None:
        size = self.in_buffer_size
        iobuf = self._iobuf
        ended = False
        try:
            while True:
                buf = self._socket.recv(size)
                iobuf.write(buf)
                if len(buf) < size:
                    ended = not buf  # the server closed its end
                    break
        except (BlockingIOError, InterruptedError):  # EAGAIN, EINTR: read all there was
            pass
        except OSError as e:
            self.defunct(e)
            return
        if iobuf.tell():
            try:
                self.process_io_buffer()
            except Exception as e:  # a frame the driver cannot read: the connection is lost
                self.defunct(e)
                return
        if ended:  # (a frame cut short stays unread: its request fails with the connection)
            log.debug("Connection %s closed by server", self)
            self.close()

    def close(self) -> None:
        """Closed from any thread; the socket is let go on the loop (or where it is, once the
        loop has closed)."""
        with self.lock:
            if self.is_closed:
                return
            self.is_closed = True
        log.debug("Closing connection (%s) to %s", id(self), self.endpoint)
        if threading.get_ident() == self._loop_thread or not _call_soon(self._loop, self._detach):
            self._detach()
        if not self.is_defunct:
            self.error_all_requests(ConnectionShutdown(f"Connection to {self.endpoint} was closed"))
            self.connected_event.set()  # nothing waits for a connection that will not come

    def _detach(self) -> None:
        if self._attached and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
            if self._writing:
                self._loop.remove_writer(self._fd)
        self._attached = self._writing = False
        self._out.clear()
        try:
            self._socket.close()
        except OSError:
            pass


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> bool:
    """Run `fn` on the loop from another thread; False when the loop is gone (closed)."""
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        return False
    return True
