"""The deployment one worker process serves: the endpoints document, its compilations and a pool per shard.

Every compilation is a schema of its own on each shard (snapthunder/compilations.py).
The compilations served are those the shards hold (their `compilations()`
function, read at most every SERVED_SECONDS): every one the document
configures once made, and any other loaded since, with the DataSource
label its load recorded. `Deployment.serving(name)` is the deployment as one
compilation sees it (`Served`): its connections have that compilation's
schema first on search_path, so every statement reads that compilation's
tables and no other's.

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

from psycopg2 import sql

from snapthunder import endpoints as endpoints_module
from snapthunder.compilations import Compilation, search_path_option
from snapthunder.endpoints import Endpoints, EndpointsError, Shard

from snapthunder_api.deadline import Deadline
from snapthunder_api.errors import ApiError, ShardUnavailable, shard_failure
from snapthunder_api.name_cache import GeneNameCache
from snapthunder_api.settings import SILENCE_FACTOR
from snapthunder_api.watchdog import Watch, Watchdog

COMPILATIONS_STATEMENT = "SELECT name, data_source, loaded FROM compilations()"
# How long a worker trusts its list of the compilations served, and their labels.
SERVED_SECONDS = 2.0
# How often a shard's backend checks, while it computes, that the API is still there.
CLIENT_CHECK_MILLISECONDS = 1000
# TCP keepalive on every shard connection: a peer that vanished (node lost,
# partition) is noticed in about 10 + 3 × 5 s, even on an idle pooled connection.
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


class ShardPool:
    """Connections to one shard as the reader role; `acquire` blocks for a free one."""

    def __init__(self, shard: Shard, endpoints: Endpoints, settings: Mapping[str, Any], watchdog: Watchdog,
                 compilation: str | None = None) -> None:
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
                    f"-c client_connection_check_interval={CLIENT_CHECK_MILLISECONDS}"
                    + (f" {search_path_option(compilation)}" if compilation else ""), **KEEPALIVE,
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
        return self.watchdog.watch(connection, self.silence_seconds if seconds is None else seconds)

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
        self._pools: dict[tuple[str, str | None], ShardPool] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._watchdog = Watchdog()
        self._served: tuple[float, dict[str, Compilation]] | None = None
        self._gene_names: dict[str, GeneNameCache] = {}

    def endpoints(self) -> Endpoints:
        with self._lock:
            if self._endpoints is None:
                try:
                    self._endpoints = endpoints_module.load(self.settings["endpoints"])
                except EndpointsError as error:
                    raise ApiError(503, f"the API has no deployment to serve: {error}") from None
            return self._endpoints

    def pool(self, shard_name: str, compilation: str | None = None) -> ShardPool:
        """The shard's connections seeing `compilation`'s tables (None: only the shared functions)."""
        endpoints = self.endpoints()
        key = (shard_name, compilation)
        with self._lock:
            if key not in self._pools:
                self._pools[key] = ShardPool(endpoints.shards[shard_name], endpoints, self.settings,
                                             self._watchdog, compilation)
            return self._pools[key]

    def served(self, fresh: bool = False, deadline: Deadline | None = None,
               read_seconds: float | None = None) -> dict[str, Compilation]:
        """Name → compilation, for every compilation the shards hold, in name order (a 503 if no shard answers).

        Read again when older than SERVED_SECONDS, or when `fresh`; the read
        bounded as first_answer's by `deadline` or `read_seconds`.
        """
        now = time.monotonic()
        with self._lock:
            if not fresh and self._served is not None and now - self._served[0] < SERVED_SECONDS:
                return self._served[1]
        endpoints = self.endpoints()
        found = {}
        for name, data_source, _ in self.first_answer(COMPILATIONS_STATEMENT, deadline=deadline,
                                                      read_seconds=read_seconds):
            configured = endpoints.configured(name)
            found[name] = Compilation(name, data_source or configured.data_source, configured.genome)
        with self._lock:
            self._served = (now, found)
        return found

    def loaded(self, deadline: Deadline | None = None) -> list[str]:
        """The compilations a load has committed to, in name order: what the registry lists."""
        return [name for name, _, loaded in self.first_answer(COMPILATIONS_STATEMENT, deadline=deadline) if loaded]

    def serving(self, name: str, deadline: Deadline | None = None) -> "Served":
        """The deployment as compilation `name` sees it; a 404 listing the compilations served otherwise.

        A name not known yet is looked up again at once: a compilation is
        served from the moment its first load commits. (One dropped since the
        last look is a 404 too: its statements find no table, errors.shard_failure.)
        Its small reads end at the request's `deadline`.
        """
        served = self.served(deadline=deadline)
        if name not in served:
            served = self.served(fresh=True, deadline=deadline)
        if name not in served:
            raise ApiError(404, f"no compilation {name!r} here; this server has "
                                f"{', '.join(served) or 'none loaded yet (load one with python -m loaders)'}")
        return Served(self, served[name], deadline)

    def gene_names(self, compilation: str) -> GeneNameCache:
        """This worker's cache of `compilation`'s gene names (name_cache.py)."""
        with self._lock:
            return self._gene_names.setdefault(compilation, GeneNameCache())

    def executor(self) -> ThreadPoolExecutor:
        """The threads that read the shards, kept between requests: at most one per shard per request thread."""
        shards = len(self.endpoints().shards)
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max(32, self.settings["threads"] * shards),
                                                    thread_name_prefix="shard-reader")
            return self._executor

    def first_answer(self, statement, non_empty: bool = False, parameters: dict | None = None,
                     compilation: str | None = None, deadline: Deadline | None = None,
                     read_seconds: float | None = None) -> list[tuple]:
        """The rows of a small read from the first shard that answers (with `non_empty`, that has rows).

        For what every shard holds alike (samples, their fields, the
        compilations) or what any one of them may record. A 503 when no
        shard answers. Within a request, a shard that sends nothing is waited
        on no longer than the request has left of its `deadline` (but at
        least the connect timeout, the health check's bound for a tiny read,
        and at most its silence bound); once the deadline has passed no other
        shard is asked, and a shard lost then is the request's 504. With
        `read_seconds`, each shard's read is bounded by that instead. (The
        wait for a free pooled connection, pool_wait_seconds, comes before
        and is not shortened.)
        """
        failure: ApiError | None = None
        rows: list[tuple] = []
        for name in sorted(self.endpoints().shards):
            pool = self.pool(name, compilation)
            try:
                with pool.reading(read_seconds or self._small_read_seconds(pool, deadline)) as connection, \
                        connection.cursor() as cursor:
                    cursor.execute(statement, parameters)
                    rows = cursor.fetchall()
            except ApiError as error:
                if deadline is not None and deadline.passed():   # no time left to ask another shard
                    raise (deadline.error() if isinstance(error, ShardUnavailable) else error) from None
                failure = error
                continue
            if rows or not non_empty:
                return rows
            failure = None
        if failure is not None and not rows:
            raise failure
        return rows

    def _small_read_seconds(self, pool: ShardPool, deadline: Deadline | None) -> float | None:
        if deadline is None:
            return None
        return min(pool.silence_seconds, max(deadline.remaining(), self.settings["connect_timeout_seconds"]))

    def readiness(self) -> list[dict[str, Any]]:
        """Each shard's status, checked in parallel: reachable, rows and sequences loaded (in all and per compilation), latency.

        With no shard answering, the compilations are the configured ones
        (and every shard's check fails on its own).
        """
        shards = list(self.endpoints().shards.values())
        try:
            names = list(self.served(read_seconds=self.settings["connect_timeout_seconds"]))
        except ApiError:
            names = list(self.endpoints().compilations)
        statement = ready_statement(names)
        with ThreadPoolExecutor(max_workers=len(shards)) as executor:
            return list(executor.map(lambda shard: self._shard_status(shard, statement, names), shards))

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()

    def _shard_status(self, shard: Shard, statement: sql.Composable, names: list[str]) -> dict[str, Any]:
        status: dict[str, Any] = {"shard": shard.name, "chromosomes": list(shard.chromosomes),
                                  "address": f"{shard.host}:{shard.port}"}
        started = time.monotonic()
        try:
            # A health check is a tiny read: bounded like a connection attempt, not like a query.
            with self.pool(shard.name).reading(self.settings["connect_timeout_seconds"]) as connection, \
                    connection.cursor() as cursor:
                cursor.execute(statement)
                found = {name: (rows, sequences) for name, rows, sequences in cursor.fetchall()}
        except ApiError as error:
            return {**status, "ready": False, "error": error.message}
        held = {name: found.get(name, (0, [])) for name in names}
        every = sorted({sequence for _, loaded in held.values() for sequence in loaded})
        return {**status, "ready": True, "rows": sum(rows for rows, _ in held.values()),
                "chromosomes_loaded": len(every), "sequences_loaded": every,
                "compilations": {name: {"rows": rows, "sequences_loaded": sorted(loaded)}
                                 for name, (rows, loaded) in held.items()},
                "milliseconds": round((time.monotonic() - started) * 1000, 1)}


class Served:
    """The deployment as one compilation sees it: what the blueprints are given (Deployment.serving).

    The same settings, document, executor and watchdog; pools and small
    reads whose sessions see only this compilation's tables.
    """

    def __init__(self, deployment: Deployment, compilation: Compilation, deadline: Deadline | None = None) -> None:
        self.deployment = deployment
        self.compilation = compilation
        self.settings = deployment.settings
        self.deadline = deadline

    def endpoints(self) -> Endpoints:
        return self.deployment.endpoints()

    def executor(self) -> ThreadPoolExecutor:
        return self.deployment.executor()

    def pool(self, shard_name: str) -> ShardPool:
        return self.deployment.pool(shard_name, self.compilation.name)

    def first_answer(self, statement, non_empty: bool = False, parameters: dict | None = None) -> list[tuple]:
        return self.deployment.first_answer(statement, non_empty, parameters, self.compilation.name, self.deadline)

    def gene_names(self) -> GeneNameCache:
        return self.deployment.gene_names(self.compilation.name)


def ready_statement(compilations: list[str]) -> sql.Composable:
    """Each compilation's rows and sequence names on a shard, one row per compilation it holds rows of.

    The sequences' names let the page explain an empty answer ("chr99 is not
    in this compilation; it has …").
    """
    if not compilations:
        return sql.SQL("SELECT NULL::text, NULL::bigint, NULL::text[] WHERE false")
    held = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}::text, chromosome, row_count FROM {}.chromosome_stats").format(
            sql.Literal(name), sql.Identifier(name)) for name in compilations)
    return sql.SQL("SELECT compilation, sum(row_count)::bigint, array_agg(DISTINCT chromosome) "
                   "FROM ({}) AS held (compilation, chromosome, row_count) GROUP BY compilation").format(held)


def _dropped(connection: psycopg2.extensions.connection) -> bool:
    """True for a connection the server closed while it sat idle in the pool.

    An idle, healthy connection has nothing to read; one the server ended has
    its termination notice or end-of-file waiting on the socket.
    """
    if connection.closed:
        return True
    readable, _, _ = select.select([connection.fileno()], [], [], 0)
    return bool(readable)
