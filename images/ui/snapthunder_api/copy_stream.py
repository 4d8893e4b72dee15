"""Rows from the shards as bytes: COPY … TO STDOUT into bounded queues, read back in order.

One `ShardReader` per shard asked, run on the worker's reader threads (a
pool kept between requests: starting a thread per request costs more than
a small answer), runs that shard's statements one after another on one
pooled connection, each statement into its own bounded
queue of 64 KiB chunks. COPY hands psycopg2 one row at a time; a
`BufferedWriter` in front of the queue gathers them, so Python code runs once
per 64 KiB, never per row, and no row object is ever built. `Streams` starts
the readers together (the shards work in parallel), waits until each has
either sent its first bytes or failed — so that a shard that is down is a
503 *before* the status line goes out — and then yields the chunks of every
statement in the order of their keys (chromosome names in byte order: the
merge of per-chromosome streams is their concatenation; in a many-part
answer, (part, chromosome)), the whole answer's or one part's at a time.

Memory per answer is bounded: at most QUEUE_CHUNKS × CHUNK_BYTES waits per
statement, a reader finishes at most UNITS_AHEAD statements that the client
has not read yet, and a full queue blocks its reader (and PostgreSQL behind
it) until the client catches up. A client that takes nothing of the answer
for `client_stall_seconds` (from any shard) loses it. Closing the stream
early (client gone, limit or cap reached, client stalled) lets statements
that are ending finish and severs the connections of the others, which
PostgreSQL then ends. A shard that goes silent is cut off by its watch
(watchdog.py), and its answer ends with a 503 naming it.
"""

from __future__ import annotations

import dataclasses
import io
import queue
import threading
import time
from concurrent.futures import Executor
from typing import Callable, Iterator

import psycopg2
import psycopg2.extensions

from snapthunder_api.deadline import Deadline
from snapthunder_api.errors import ApiError
from snapthunder_api.shards import ShardPool
from snapthunder_api.watchdog import Watch, sever

CHUNK_BYTES = 1 << 16
QUEUE_CHUNKS = 8
PUT_POLL_SECONDS = 0.2
JOIN_SECONDS = 5.0
FINISH_GRACE_SECONDS = 0.05
END = object()
# Statements a reader may run to their end before the client has read them: a bulk answer of
# 10,000 small parts runs back to back on one connection, and memory stays bounded.
UNITS_AHEAD = 16

# Makes a shard's statements once it has a cursor: [(key, bound COPY statement)].
StatementMaker = Callable[[psycopg2.extensions.cursor], list[tuple[str, bytes]]]


@dataclasses.dataclass(frozen=True)
class Failure:
    """A statement that failed after its first bytes: the answer must end with the error marker."""

    error: ApiError


@dataclasses.dataclass
class Unit:
    key: str
    statement: bytes
    chunks: "queue.Queue[bytes | Failure | object]" = dataclasses.field(
        default_factory=lambda: queue.Queue(QUEUE_CHUNKS))
    abandoned: ApiError | None = None   # set when the client stopped reading: the statement was cancelled


class ShardReader:
    """Runs one shard's COPY statements in order, each into its own queue."""

    def __init__(self, pool: ShardPool, make_statements: StatementMaker, stall_seconds: float) -> None:
        self.pool = pool
        self.make_statements = make_statements
        self.stall_seconds = stall_seconds
        self.units: list[Unit] = []
        self.ahead = threading.Semaphore(UNITS_AHEAD)
        self.answer: Streams | None = None   # set by the Streams this reader belongs to
        self.started_event = threading.Event()
        self.failure: ApiError | None = None
        self.cancelled = threading.Event()
        self.closing = threading.Event()   # the answer is closed: produce nothing more
        self.finished = threading.Event()
        self._connection_lock = threading.Lock()
        self._connection: psycopg2.extensions.connection | None = None
        self._watch: Watch | None = None

    def run(self) -> None:
        if self.closing.is_set():   # the answer was closed before this reader's turn came
            self.started_event.set()
            self.finished.set()
            return
        try:
            connection = self.pool.acquire()
        except ApiError as error:
            self.failure = error
            self.started_event.set()
            self.finished.set()
            return
        with self._connection_lock:
            self._connection = connection
        self._watch = self.pool.watch(connection)
        broken, unit = False, None
        try:
            with connection.cursor() as cursor:
                self.units = [Unit(key, statement) for key, statement in self.make_statements(cursor)]
                for unit in self.units:
                    if not self._wait_turn(unit):
                        break
                    self._watch.refresh()
                    writer = io.BufferedWriter(_QueueSink(unit, self), CHUNK_BYTES)
                    cursor.copy_expert(unit.statement, writer, CHUNK_BYTES)
                    writer.flush()
                    self.started_event.set()
                    self.put(unit, END)
        except Exception as error:  # every failure is reported to the answer, none may kill the thread silently
            failure, broken = self.pool.failure(connection, self._watch, error)
            if not self.cancelled.is_set():
                if self.started_event.is_set() and unit is not None:
                    self.put(unit, Failure(failure))
                else:
                    self.failure = failure
        finally:
            self._watch.stop()
            with self._connection_lock:
                self._connection = None
            # A connection severed after its statement ended raised nothing, and is still unusable.
            self.pool.release(connection, broken or self.cancelled.is_set() or self._watch.expired)
            self.started_event.set()
            self.finished.set()

    def put(self, unit: Unit, item: object) -> None:
        """Queue an item, waiting while the queue is full; dropped once the answer is closing."""
        while not self.cancelled.is_set() and not self.closing.is_set():
            self._watch.refresh()  # waiting on the client, not on the shard
            try:
                unit.chunks.put(item, timeout=PUT_POLL_SECONDS)
                self._watch.refresh()
                return
            except queue.Full:
                self._abandon_if_stalled(unit)

    def _wait_turn(self, unit: Unit) -> bool:
        """Wait until the client is less than UNITS_AHEAD statements behind; False once closing."""
        while not self.cancelled.is_set() and not self.closing.is_set():
            self._watch.refresh()  # waiting on the client, not on the shard
            if self.ahead.acquire(timeout=PUT_POLL_SECONDS):
                return True
            self._abandon_if_stalled(unit)
        return False

    def _abandon_if_stalled(self, unit: Unit) -> None:
        """A client that takes nothing for `stall_seconds` loses its answer.

        The statement is cancelled, so the connection goes back to the pool
        instead of waiting on the client for ever (the statement timeout
        cannot help once PostgreSQL has produced every row). The clock is the
        client's last read from any shard: a reader waiting while the client
        reads another shard's rows is not stalled.
        """
        if self.answer is not None and time.monotonic() - self.answer.taken_at > self.stall_seconds:
            unit.abandoned = ApiError(504, f"the client took nothing of the answer for "
                                           f"{self.stall_seconds:g} s; the answer was abandoned")
            self.cancel()

    def cancel(self) -> None:
        """Stop: no new statements, and the running one ended by severing its connection.

        Not PQcancel: psycopg2 holds the GIL through it, and it waits for the
        server's answer, so a frozen shard would freeze every thread of the
        worker. A severed connection costs a reconnect, which only answers
        abandoned early pay; the server ends the statement when it next sends,
        or within `client_connection_check_interval` while it computes.
        """
        self.cancelled.set()
        with self._connection_lock:
            if self._connection is not None:
                sever(self._connection)


class _QueueSink(io.RawIOBase):
    """What the BufferedWriter flushes into: 64 KiB chunks onto the unit's queue."""

    def __init__(self, unit: Unit, reader: ShardReader) -> None:
        super().__init__()
        self.unit = unit
        self.reader = reader

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.reader.started_event.set()
        self.reader.put(self.unit, bytes(data))
        return len(data)


class Streams:
    """The readers of one answer: started together, read in key order, closed once."""

    def __init__(self, readers: list[ShardReader], wait_seconds: float, deadline: Deadline) -> None:
        self.readers = readers
        self.wait_seconds = wait_seconds
        self.deadline = deadline
        self.submitted: list[ShardReader] = []
        self.taken_at = time.monotonic()
        self._units: list[tuple[Unit, ShardReader]] | None = None
        self._position = 0   # units before it were read to their end
        for reader in readers:
            reader.answer = self

    def start(self, executor: Executor) -> None:
        """Start every reader and wait for its first bytes; raise the first failure, if any.

        The wait ends at the shard's own bound or at the request's deadline,
        whichever comes first, and the 504 names the one that ended it.
        """
        if self.deadline.passed():
            raise self.deadline.error()
        started = time.monotonic()
        for reader in self.readers:
            executor.submit(reader.run)
            self.submitted.append(reader)
        waited_until = started + min(self.wait_seconds, self.deadline.remaining())
        for reader in self.readers:
            if not reader.started_event.wait(max(0.0, waited_until - time.monotonic())):
                self.close()
                if self.deadline.passed():
                    raise self.deadline.error()
                raise ApiError(504, f"{reader.pool.shard.describe()} sent nothing for "
                                    f"{time.monotonic() - started:.0f} s after it was asked")
        failures = [reader.failure for reader in self.readers if reader.failure is not None]
        if failures:
            self.close()
            raise failures[0]

    def chunks(self, part: int | None = None) -> Iterator[bytes | Failure]:
        """Chunks in key order: every statement's, or those of one part (keys `(part, chromosome)`).

        A Failure is the last item when one occurs. Reading a part first
        reads what earlier parts left (a part cut at its limit), so that
        their readers go on.
        """
        if self._units is None:
            self._units = sorted(((unit, reader) for reader in self.readers for unit in reader.units),
                                 key=lambda pair: pair[0].key)
        while self._position < len(self._units):
            unit, reader = self._units[self._position]
            if part is not None and unit.key[0] > part:
                return
            for item in self._unit_chunks(unit, reader):
                if isinstance(item, Failure) or part is None or unit.key[0] == part:
                    yield item
                if isinstance(item, Failure):
                    return
            self._position += 1

    def _unit_chunks(self, unit: Unit, reader: ShardReader) -> Iterator[bytes | Failure]:
        """One statement's chunks up to its end (then its reader may run one more statement ahead)."""
        waited = 0.0
        while True:
            if self.deadline.passed():
                yield Failure(self.deadline.error())
                return
            try:
                item = unit.chunks.get(timeout=PUT_POLL_SECONDS)
            except queue.Empty:
                waited += PUT_POLL_SECONDS
                self.taken_at = time.monotonic()   # the client is waiting on a shard here: it is not stalled
                if unit.abandoned is not None:
                    yield Failure(unit.abandoned)
                    return
                if waited >= self.wait_seconds:
                    yield Failure(ApiError(504, f"{reader.pool.shard.describe()} sent nothing more for "
                                                f"{self.wait_seconds:g} s"))
                    return
                continue
            waited, self.taken_at = 0.0, time.monotonic()
            if item is END:
                reader.ahead.release()
                return
            yield item
            if isinstance(item, Failure):
                return

    def close(self) -> None:
        """Let readers whose statements are ending finish, sever the rest, and wait for them all.

        Closing drops whatever the readers still produce; a statement about
        to end by itself (an answer cut at its SQL limit) ends within the
        grace and keeps its connection for the pool, anything longer is cut.
        """
        for reader in self.submitted:
            reader.closing.set()
        grace_ends = time.monotonic() + FINISH_GRACE_SECONDS
        for reader in self.submitted:
            if not reader.finished.wait(max(0.0, grace_ends - time.monotonic())):
                reader.cancel()
        for reader in self.submitted:
            reader.finished.wait(JOIN_SECONDS)


class CopyTextDecoder:
    """Undoes COPY's text escapes (`\\\\`, `\\t`, `\\n`, …) across chunk boundaries.

    Junction rows never contain them (the loader rejects such lines), so the
    common case is one `in` test per chunk; JSON rows (`\\"`) and sample lines
    (tabs) do.
    """

    ESCAPES = ((b"\\t", b"\t"), (b"\\n", b"\n"), (b"\\r", b"\r"), (b"\\b", b"\b"), (b"\\f", b"\f"), (b"\\v", b"\v"))

    def __init__(self) -> None:
        self.carry = b""

    def decode(self, chunk: bytes) -> bytes:
        chunk, self.carry = self.carry + chunk, b""
        if b"\\" not in chunk:
            return chunk
        if (len(chunk) - len(chunk.rstrip(b"\\"))) % 2:
            chunk, self.carry = chunk[:-1], b"\\"
        parts = chunk.split(b"\\\\")
        for escaped, character in self.ESCAPES:
            parts = [part.replace(escaped, character) for part in parts]
        return b"\\".join(parts)
