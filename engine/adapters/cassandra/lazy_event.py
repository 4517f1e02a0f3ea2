"""A threading.Event that builds one only when a thread has to wait on it.

cassandra-driver makes a `threading.Event` for every request (`ResponseFuture._event`), to
wake a thread blocked in `result()`. An Event is a Condition over a lock, built in Python: some
6% of the client's CPU a read through the engine's session (py-spy: `Condition.__init__`,
`Event.__init__`, `Condition.__enter__` on set). The engine waits on no request: its answers
come through callbacks on the event loop (session.py), and only start-up, schema changes and
table scans call `result()` on worker threads. `install()` gives the driver's cluster module
this class in place of `threading.Event`: a flag, and a real Event made on the first wait.
"""

from __future__ import annotations

import threading

_MAKING = threading.Lock()  # a waiter's Event is made once, whoever waits first


class LazyEvent:
    """`threading.Event`'s is_set/set/clear/wait; a real Event exists only once waited on.

    A setter sets the flag before it looks for a waiter's Event, and a waiter looks at the flag
    again after making one: whichever comes second sees the other, so no wake-up is lost."""

    __slots__ = ("_event", "_flag")

    def __init__(self) -> None:
        self._flag = False
        self._event: threading.Event | None = None

    def is_set(self) -> bool:
        return self._flag

    isSet = is_set  # the old camel-case name Event still answers to

    def set(self) -> None:
        self._flag = True
        event = self._event
        if event is not None:
            event.set()

    def clear(self) -> None:
        self._flag = False
        event = self._event
        if event is not None:
            event.clear()

    def wait(self, timeout: float | None = None) -> bool:
        if self._flag:
            return True
        with _MAKING:
            if self._event is None:
                self._event = threading.Event()
        if self._flag:
            return True
        return self._event.wait(timeout)


def install() -> None:
    """Make the driver's cluster module build LazyEvent where it builds threading.Event."""
    import cassandra.cluster

    cassandra.cluster.Event = LazyEvent
