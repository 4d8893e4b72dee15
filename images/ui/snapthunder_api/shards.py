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

import select
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping

import psycopg2
import psycopg2.extensions

from snapthunder import endpoints as endpoints_module
from snapthunder.endpoints import Endpoints, EndpointsError, Shard

from snapthunder_api.errors import ApiError, ShardUnavailable, shard_failure

# The loaded sequences' names let the page explain an empty answer ("chr99 is not in this compilation; it has …").
READY_STATEMENT = ("SELECT coalesce(sum(row_count), 0)::bigint, count(*), "
                   "coalesce(array_agg(chromosome ORDER BY chromosome), '{}') FROM chromosome_stats")


class ShardPool:
    """Connections to one shard as the reader role; `acquire` blocks for a free one."""

    def __init__(self, shard: Shard, endpoints: Endpoints, settings: Mapping[str, Any]) -> None:
        self.shard = shard
        self.size = settings["pool_size"]
        self.wait_seconds = settings["pool_wait_seconds"]
        self.arguments = shard.connect_arguments(endpoints.reader)
        self.arguments.update(
            application_name="snapthunder-api", connect_timeout=settings["connect_timeout_seconds"],
            options=f"-c statement_timeout={round(settings['statement_timeout_seconds'] * 1000)}",
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
                self._pools[shard_name] = ShardPool(endpoints.shards[shard_name], endpoints, self.settings)
            return self._pools[shard_name]

    def executor(self) -> ThreadPoolExecutor:
        """The threads that read the shards, kept between requests: at most one per shard per request thread."""
        shards = len(self.endpoints().shards)
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max(32, self.settings["threads"] * shards),
                                                    thread_name_prefix="shard-reader")
            return self._executor

    def first_answer(self, statement, non_empty: bool = False) -> list[tuple]:
        """The rows of a small read from the first shard that answers (with `non_empty`, that has rows).

        For what every shard holds alike (samples, their fields) or what any
        one of them may record (the compilation loaded). A 503 when no shard answers.
        """
        failure: ApiError | None = None
        rows: list[tuple] = []
        for name in sorted(self.endpoints().shards):
            pool = self.pool(name)
            try:
                connection = pool.acquire()
            except ApiError as error:
                failure = error
                continue
            broken = False
            try:
                with connection.cursor() as cursor:
                    cursor.execute(statement)
                    rows = cursor.fetchall()
            except psycopg2.Error as error:
                broken = isinstance(error, (psycopg2.OperationalError, psycopg2.InterfaceError))
                failure = shard_failure(pool.shard, error, self.settings["statement_timeout_seconds"])
                continue
            finally:
                pool.release(connection, broken)
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
            pool = self.pool(shard.name)
            connection = pool.acquire()
        except ApiError as error:
            return {**status, "ready": False, "error": error.message}
        broken = False
        try:
            with connection.cursor() as cursor:
                cursor.execute(READY_STATEMENT)
                rows, chromosomes_loaded, sequences = cursor.fetchone()
        except psycopg2.Error as error:
            broken = isinstance(error, (psycopg2.OperationalError, psycopg2.InterfaceError))
            failure = shard_failure(shard, error, self.settings["statement_timeout_seconds"])
            return {**status, "ready": False, "error": failure.message}
        finally:
            pool.release(connection, broken)
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
