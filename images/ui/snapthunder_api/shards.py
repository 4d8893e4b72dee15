"""The deployment one worker process serves: the endpoints document and a pool per shard.

Nothing connects when the app is created: the document is read, and each
shard's pool opened, on the first request that needs them (flaskr's rule), so
a worker starts even while a shard is down and `/healthz` answers at once.
Every connection is made as the document's read-only `reader` role, with the
statement timeout set for the whole session.

A pool opens connections on demand, keeps up to `pool_size` of them open
between requests, hands out at most that many and makes a request wait up to
`pool_wait_seconds` for one. (psycopg2.pool does not fit: it opens `minconn`
connections at once — failing when a shard is down — closes every returned
connection beyond `minconn`, and refuses instead of waiting.) A pooled connection the server has closed meanwhile (a restarted shard) is
noticed before use — the server's goodbye is waiting on its socket — and
replaced, so a shard that comes back is used again without a failed request.
"""

from __future__ import annotations

import contextlib
import select
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator, Mapping

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from snapthunder import endpoints as endpoints_module
from snapthunder.endpoints import Endpoints, EndpointsError, Shard

from snapthunder_api.errors import ApiError, ShardUnavailable, shard_failure
from snapthunder_api.settings import SILENCE_FACTOR
from snapthunder_api.watchdog import Watch, Watchdog

# The loaded sequences' names let the page explain an empty answer ("chr99 is not in this compilation; it has …").
READY_STATEMENT = ("SELECT coalesce(sum(row_count), 0)::bigint, count(*), "
                   "coalesce(array_agg(chromosome ORDER BY chromosome), '{}') FROM chromosome_stats")
# How often a shard's backend checks, while it computes, that the API is still there.
CLIENT_CHECK_MILLISECONDS = 1000
# TCP keepalive on every shard connection: a peer that vanished (node lost,
# partition) is noticed in about 10 + 3 × 5 s, even on an idle pooled connection.
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


class ShardPool:
    """Connections to one shard as the reader role; `acquire` blocks for a free one."""

    def __init__(self, shard: Shard, endpoints: Endpoints, settings: Mapping[str, Any], watchdog: Watchdog) -> None:
        self.shard = shard
        self.size = settings["pool_size"]
        self.wait_seconds = settings["pool_wait_seconds"]
        self.timeout_seconds = settings["statement_timeout_seconds"]
        self.silence_seconds = self.timeout_seconds * SILENCE_FACTOR
        self.watchdog = watchdog
        self.arguments = shard.connect_arguments(endpoints.reader)
        self.arguments.update(
            application_name="snapthunder-api", connect_timeout=settings["connect_timeout_seconds"],
            # The server checks that we are still there while it computes, so a
            # statement whose answer was abandoned (its connection severed) stops.
            options=f"-c statement_timeout={round(self.timeout_seconds * 1000)} "
                    f"-c lock_timeout={round(settings['lock_wait_seconds'] * 1000)} "
                    f"-c client_connection_check_interval={CLIENT_CHECK_MILLISECONDS}", **KEEPALIVE,
        )
        self._free = threading.BoundedSemaphore(self.size)
        self._lock = threading.Lock()
        self._idle: list[psycopg2.extensions.connection] = []

    def acquire(self) -> psycopg2.extensions.connection:
        if not self._free.acquire(timeout=self.wait_seconds):
            raise ApiError(503, f"{self.shard.describe()}: all {self.size} connections of this worker stayed busy "
                                f"for {self.wait_seconds:g} s; try again")
        with self._lock:
            connection = self._idle.pop() if self._idle else None
        if connection is not None and not _dropped(connection):
            return connection
        if connection is not None:
            connection.close()
        try:
            connection = psycopg2.connect(**self.arguments)
        except psycopg2.Error as error:
            self._free.release()
            raise ShardUnavailable(self.shard, str(error)) from None
        connection.autocommit = True
        return connection

    def release(self, connection: psycopg2.extensions.connection, broken: bool = False) -> None:
        """Back to the pool, or closed when it failed at the connection level."""
        if broken or connection.closed:
            connection.close()
        else:
            with self._lock:
                self._idle.append(connection)
        self._free.release()

    def watch(self, connection: psycopg2.extensions.connection, seconds: float | None = None) -> Watch:
        """Sever `connection` if this shard is silent for `seconds` (default: past its statement timeout)."""
        return self.watchdog.watch(connection, seconds or self.silence_seconds)

    def failure(self, connection: psycopg2.extensions.connection, watch: Watch,
                error: BaseException) -> tuple[ApiError, bool]:
        """What a failed read means to the client, and whether the connection is broken.

        A connection the watchdog severed, or one that died under the read
        (a killed server sends no goodbye: psycopg2 then raises a bare
        DatabaseError, "no message from the libpq"), is the shard being
        unavailable: a 503 naming it, never a 500.
        """
        if watch.expired:
            return ShardUnavailable(self.shard, f"it sent nothing for {watch.seconds:g} s; "
                                                "it is stopped, overloaded or unreachable"), True
        lost = connection.closed or (connection.info.transaction_status
                                     == psycopg2.extensions.TRANSACTION_STATUS_UNKNOWN)
        if lost and isinstance(error, psycopg2.Error):
            return ShardUnavailable(self.shard, f"the connection was lost mid-answer: {error}"), True
        # A statement or lock timeout (OperationalErrors both) leaves the connection usable.
        broken = (isinstance(error, (psycopg2.OperationalError, psycopg2.InterfaceError))
                  and not isinstance(error, (psycopg2.errors.QueryCanceled, psycopg2.errors.LockNotAvailable)))
        return shard_failure(self.shard, error, self.timeout_seconds), broken

    @contextlib.contextmanager
    def reading(self, seconds: float | None = None) -> Iterator[psycopg2.extensions.connection]:
        """A watched connection for one small read; its failures raised as the ApiError they mean."""
        connection = self.acquire()
        watch = self.watch(connection, seconds)
        broken = False
        try:
            yield connection
        except psycopg2.Error as error:
            failure, broken = self.failure(connection, watch, error)
            raise failure from None
        finally:
            watch.stop()
            self.release(connection, broken or watch.expired)

    def close(self) -> None:
        with self._lock:
            for connection in self._idle:
                connection.close()
            self._idle.clear()


class Deployment:
    """Settings, the endpoints document (read on first use) and the shard pools (opened on first use)."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._endpoints: Endpoints | None = None
        self._pools: dict[str, ShardPool] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._watchdog = Watchdog()

    def endpoints(self) -> Endpoints:
        with self._lock:
            if self._endpoints is None:
                try:
                    self._endpoints = endpoints_module.load(self.settings["endpoints"])
                except EndpointsError as error:
                    raise ApiError(503, f"the API has no deployment to serve: {error}") from None
            return self._endpoints

    def pool(self, shard_name: str) -> ShardPool:
        endpoints = self.endpoints()
        with self._lock:
            if shard_name not in self._pools:
                self._pools[shard_name] = ShardPool(endpoints.shards[shard_name], endpoints, self.settings,
                                                    self._watchdog)
            return self._pools[shard_name]

    def executor(self) -> ThreadPoolExecutor:
        """The threads that read the shards, kept between requests: at most one per shard per request thread."""
        shards = len(self.endpoints().shards)
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max(32, self.settings["threads"] * shards),
                                                    thread_name_prefix="shard-reader")
            return self._executor

    def first_answer(self, statement, non_empty: bool = False, parameters: dict | None = None) -> list[tuple]:
        """The rows of a small read from the first shard that answers (with `non_empty`, that has rows).

        For what every shard holds alike (samples, their fields) or what any
        one of them may record (the compilation loaded). A 503 when no shard answers.
        """
        failure: ApiError | None = None
        rows: list[tuple] = []
        for name in sorted(self.endpoints().shards):
            try:
                with self.pool(name).reading() as connection, connection.cursor() as cursor:
                    cursor.execute(statement, parameters)
                    rows = cursor.fetchall()
            except ApiError as error:
                failure = error
                continue
            if rows or not non_empty:
                return rows
            failure = None
        if failure is not None and not rows:
            raise failure
        return rows

    def readiness(self) -> list[dict[str, Any]]:
        """Each shard's status, checked in parallel: reachable, rows and chromosomes loaded, latency."""
        shards = list(self.endpoints().shards.values())
        with ThreadPoolExecutor(max_workers=len(shards)) as executor:
            return list(executor.map(self._shard_status, shards))

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()

    def _shard_status(self, shard: Shard) -> dict[str, Any]:
        status: dict[str, Any] = {"shard": shard.name, "chromosomes": list(shard.chromosomes),
                                  "address": f"{shard.host}:{shard.port}"}
        started = time.monotonic()
        try:
            # A health check is a tiny read: bounded like a connection attempt, not like a query.
            with self.pool(shard.name).reading(self.settings["connect_timeout_seconds"]) as connection, \
                    connection.cursor() as cursor:
                cursor.execute(READY_STATEMENT)
                rows, chromosomes_loaded, sequences = cursor.fetchone()
        except ApiError as error:
            return {**status, "ready": False, "error": error.message}
        return {**status, "ready": True, "rows": rows, "chromosomes_loaded": chromosomes_loaded,
                "sequences_loaded": sequences, "milliseconds": round((time.monotonic() - started) * 1000, 1)}


def _dropped(connection: psycopg2.extensions.connection) -> bool:
    """True for a connection the server closed while it sat idle in the pool.

    An idle, healthy connection has nothing to read; one the server ended has
    its termination notice or end-of-file waiting on the socket.
    """
    if connection.closed:
        return True
    readable, _, _ = select.select([connection.fileno()], [], [], 0)
    return bool(readable)
