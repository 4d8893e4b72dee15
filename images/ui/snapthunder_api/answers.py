"""Turning a checked query into a streamed answer: TSV or JSON, bounded, honest about its end.

The rows are the shards' COPY bytes, passed through untouched except for
cutting at the limit or a cap. How an answer ends tells the client whether
it is complete:

* complete: TSV ends after the last row; JSON's trailer says
  `"truncated": false, "error": null`.
* cut at a cap (`row_cap`, `byte_cap`): TSV's last line is
  `#TRUNCATED <reason>`; JSON says `"truncated": true` and the reason.
* failed after rows were sent (shard lost, timeout): TSV's last line is
  `#ERROR <status> <message>`; JSON's `error` member holds it.

`limit=` is not a cap: an answer cut at the requested limit is complete.
"""

from __future__ import annotations

import json
import math
from typing import Iterator

from flask import Response, current_app, request

from snapthunder import query as query_language
from snapthunder.query import Query

from snapthunder_api.access_log import RequestLog
from snapthunder_api.copy_stream import CopyTextDecoder, Failure, ShardReader, Streams
from snapthunder_api.errors import ApiError, marker_line
from snapthunder_api.shards import Deployment

TSV = "text/plain; charset=utf-8"
JSON = "application/json"


def serving(compilation: str) -> Deployment:
    """This worker's deployment, if it serves `compilation`; a 404 naming the one it serves otherwise."""
    deployment = current_app.extensions["snapthunder"]
    served = deployment.endpoints().compilation
    if compilation != served:
        raise ApiError(404, f"no compilation {compilation!r} here; this server has {served!r}")
    return deployment


def request_parameters(deployment: Deployment) -> list[tuple[str, str]]:
    """The query string's (name, value) pairs, Snaptron-decoded, refused when oversize."""
    raw, most = request.query_string, deployment.settings["max_request_bytes"]
    if len(raw) > most:
        raise ApiError(400, f"query string: {len(raw):,} bytes; at most {most:,}", "query string")
    return query_language.split_query_string(raw)


def junctions(deployment: Deployment, query: Query, log: RequestLog) -> Response:
    """The rows of `query` from every shard that holds some, merged in (chromosome, start, end) order."""
    settings = deployment.settings
    data_source = f"{deployment.endpoints().compilation}:I"
    row_limit = min(query.limit or math.inf, settings["row_cap"] + 1)

    def statements_for(chromosomes):
        def make(cursor):
            names = chromosomes
            if names is None:
                cursor.execute(query_language.HELD_CHROMOSOMES)
                names = [name for (name,) in cursor.fetchall()]
            made = []
            for chromosome in names:
                if query.count_only:
                    select, parameters = query_language.count_statement(query, chromosome)
                else:
                    select, parameters = query_language.select_statement(
                        query, chromosome, data_source, query.format == "json", row_limit)
                made.append((chromosome, cursor.mogrify(query_language.copy_statement(select), parameters)))
            return made
        return make

    plan = query_language.shards_to_ask(query, deployment.endpoints().plan())
    log.shards = sorted(plan)
    streams = open_streams(deployment, {name: statements_for(chromosomes) for name, chromosomes in plan.items()})
    if query.count_only:
        return _count(streams, query, log)
    feed = RowFeed(streams, query.limit, settings["row_cap"], settings["byte_cap"], log)
    if query.format == "json":
        return _streamed(_json_body(feed, query), JSON, streams)
    header = "\t".join(query.output_columns).encode() + b"\n" if query.header else b""
    return _streamed(_tsv_body(feed, header), TSV, streams)


def samples(deployment: Deployment, rail_ids: tuple[int, ...] | None, log: RequestLog) -> Response:
    """samples.tsv's header and the asked-for lines, from the first shard that answers (all hold them all)."""
    select, parameters = query_language.samples_statement(rail_ids)

    def make(cursor):
        return [("", cursor.mogrify(query_language.copy_statement(select), parameters))]

    failure = None
    for name in sorted(deployment.endpoints().shards):
        try:
            streams = open_streams(deployment, {name: make})
        except ApiError as error:
            failure = error
            continue
        log.shards = [name]
        feed = RowFeed(streams, None, deployment.settings["row_cap"], deployment.settings["byte_cap"], log)
        return _streamed(_tsv_body(feed, b""), TSV, streams)
    raise failure


def _streamed(body: Iterator[bytes], mimetype: str, streams: Streams) -> Response:
    """A streamed response whose readers stop when the server closes it, even if its body never ran (HEAD)."""
    response = Response(body, mimetype=mimetype)
    response.call_on_close(streams.close)
    return response


def open_streams(deployment: Deployment, makers: dict) -> Streams:
    """Start one reader per shard and wait until each has begun (or failed: raised here, before any byte)."""
    settings = deployment.settings
    timeout = settings["statement_timeout_seconds"]
    readers = [ShardReader(deployment.pool(name), make, timeout) for name, make in makers.items()]
    wait = timeout + settings["connect_timeout_seconds"] + settings["pool_wait_seconds"] + 5
    streams = Streams(readers, wait)
    streams.start(deployment.executor())
    return streams


class RowFeed:
    """Decoded row bytes, cut at the limit or a cap; afterwards says how the answer ended."""

    def __init__(self, streams: Streams, limit: int | None, row_cap: int, byte_cap: int, log: RequestLog) -> None:
        self.streams = streams
        self.stop_rows = min(limit or math.inf, row_cap)
        self.capped_by_rows = limit is None or limit > row_cap
        self.row_cap = row_cap
        self.byte_cap = byte_cap
        self.log = log
        self.truncation: str | None = None
        self.failure: ApiError | None = None

    def __iter__(self) -> Iterator[bytes]:
        decoder = CopyTextDecoder()
        log = self.log
        try:
            for item in self.streams.chunks():
                if isinstance(item, Failure):
                    self.failure = item.error
                    log.outcome = "error"
                    return
                if log.rows >= self.stop_rows:
                    self.truncation = self._row_cap_reached()
                    break
                chunk = self._cut(item)
                log.rows += chunk.count(b"\n")
                log.bytes += len(chunk)
                if chunk:
                    yield decoder.decode(chunk)
                if self.truncation is not None or (log.rows >= self.stop_rows and not self.capped_by_rows):
                    break
            log.outcome = "truncated" if self.truncation else "complete"
        finally:
            self.streams.close()

    def _cut(self, chunk: bytes) -> bytes:
        """The part of `chunk` within the row stop and the byte cap, ending at a row's end."""
        remaining_rows = self.stop_rows - self.log.rows
        if chunk.count(b"\n") >= remaining_rows:
            end = -1
            for _ in range(int(remaining_rows)):
                end = chunk.index(b"\n", end + 1)
            if end + 1 < len(chunk) and self.capped_by_rows:
                self.truncation = self._row_cap_reached()
            chunk = chunk[:end + 1]
        if self.log.bytes + len(chunk) > self.byte_cap:
            chunk = chunk[:chunk.rfind(b"\n", 0, self.byte_cap - self.log.bytes) + 1]
            self.truncation = f"byte_cap={self.byte_cap:,} reached: the answer has more rows; narrow the query"
        return chunk

    def _row_cap_reached(self) -> str:
        return f"row_cap={self.row_cap:,} reached: the answer has more rows; narrow the query or fetch it in parts"


def _tsv_body(feed: RowFeed, header: bytes) -> Iterator[bytes]:
    if header:
        yield header
    yield from feed
    if feed.failure is not None:
        yield marker_line(feed.failure).encode()
    elif feed.truncation is not None:
        yield f"#TRUNCATED {feed.truncation}\n".encode()


def _json_body(feed: RowFeed, query: Query) -> Iterator[bytes]:
    """`{"fields": [...], "rows": [[...], ...], "row_count": n, "truncated": …, "error": …}`, streamed.

    Each row arrives as a JSON array and a newline; rows are joined by turning
    every newline into `,\\n` and holding the last comma back until the next
    row shows it was not the last.
    """
    yield b'{"fields": ' + json.dumps(list(query.output_columns)).encode() + b', "rows": [\n'
    held = b""
    for piece in feed:
        joined = held + piece.replace(b"\n", b",\n")
        held = b",\n" if joined.endswith(b",\n") else b""
        if len(joined) > len(held):
            yield joined[:len(joined) - len(held)]
    trailer = {"row_count": feed.log.rows, "truncated": feed.truncation is not None, "truncation": feed.truncation,
               "error": feed.failure.as_json() if feed.failure else None}
    yield b"\n], " + json.dumps(trailer).encode()[1:] + b"\n"


def _count(streams: Streams, query: Query, log: RequestLog) -> Response:
    """`fields=rc`: Snaptron prints the number alone; JSON is {"count": n}. Computed before answering."""
    counts = b"".join(item if isinstance(item, bytes) else b"" for item in _all_or_raise(streams))
    total = sum(int(line) for line in counts.split())
    log.rows, log.outcome = 1, "complete"
    if query.format == "json":
        return Response(json.dumps({"count": total}) + "\n", mimetype=JSON)
    return Response(f"{total}\n", mimetype=TSV)


def _all_or_raise(streams: Streams) -> list[bytes]:
    try:
        items = list(streams.chunks())
    finally:
        streams.close()
    for item in items:
        if isinstance(item, Failure):
            raise item.error
    return items
