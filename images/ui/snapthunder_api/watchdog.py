"""Client-side deadlines on shard reads: a shard that stops answering cannot hold a request.

PostgreSQL's statement timeout runs on the server, so it cannot help when the
server itself is frozen (SIGSTOP, a hung node, a partition that drops
packets): a frozen server's kernel still acknowledges our packets, so TCP
keepalive sees nothing wrong, and libpq has no read timeout. The request
thread would wait on its socket for ever, and `/readyz` with it.

So every use of a shard connection is *watched*: one thread per worker
process keeps the deadlines, and when one passes it shuts the connection's
socket down. The blocked libpq read then returns at once with a lost
connection, the connection is discarded, and the caller asks `expired` to
report the real cause — the shard stopped answering — instead of libpq's
"server closed the connection unexpectedly". A watch is refreshed whenever
the shard gives something (or while we wait on the client instead), so the
deadline bounds the time the shard itself is silent.
"""

from __future__ import annotations

import socket
import threading
import time

import psycopg2
import psycopg2.extensions


class Watch:
    """One watched use of a connection: `refresh` while the shard delivers, `stop` when done."""

    def __init__(self, watchdog: "Watchdog", connection: psycopg2.extensions.connection, seconds: float) -> None:
        self.watchdog = watchdog
        self.connection = connection
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.expired = False

    def refresh(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def stop(self) -> None:
        """No severing after this returns: the connection may go back to its pool."""
        self.watchdog.forget(self)


class Watchdog:
    """The deadlines of one worker process, and the thread that enforces them."""

    TICK_SECONDS = 0.1

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: set[Watch] = set()
        self._thread: threading.Thread | None = None

    def watch(self, connection: psycopg2.extensions.connection, seconds: float) -> Watch:
        """Start watching `connection`: severed if the shard is silent for `seconds`."""
        watch = Watch(self, connection, seconds)
        with self._lock:
            self._watches.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="shard-watchdog", daemon=True)
                self._thread.start()
        return watch

    def forget(self, watch: Watch) -> None:
        with self._lock:
            self._watches.discard(watch)

    def _run(self) -> None:
        while True:
            time.sleep(self.TICK_SECONDS)
            now = time.monotonic()
            with self._lock:
                for watch in [watch for watch in self._watches if watch.deadline < now]:
                    self._watches.discard(watch)
                    watch.expired = True
                    sever(watch.connection)


def sever(connection: psycopg2.extensions.connection) -> None:
    """Shut the connection's socket down, so a read blocked on it returns now (libpq: connection lost)."""
    try:
        duplicate = socket.socket(fileno=socket.dup(connection.fileno()))
    except (OSError, psycopg2.Error):
        return   # closed meanwhile (psycopg2 raises InterfaceError for its fileno): nothing to sever
    try:
        duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        duplicate.close()
