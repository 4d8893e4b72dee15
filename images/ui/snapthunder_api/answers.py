"""Turning checked queries into a streamed answer: TSV or JSON, bounded, honest about its end.

The rows are the shards' COPY bytes, passed through untouched except for
cutting at the limit or a cap. An answer is one or more *parts* run one after
another (a GET is one part; a bulk `groups=` POST or a legacy JSON POST is
one part per query, in order; BED is one part per region), each streamed as
it runs. How an answer ends tells the client whether it is complete:

* complete: TSV ends after the last row; JSON's trailer says
  `"truncated": false, "error": null`.
* cut at a cap (`row_cap`, `byte_cap`, counted over the whole answer): TSV's
  last line is `#TRUNCATED <reason>`; JSON says `"truncated": true` and the reason.
* failed after rows were sent (shard lost, timeout): TSV's last line is
  `#ERROR <status> <message>`; JSON's `error` member holds it.

`limit=` is not a cap: an answer cut at the requested limit is complete.
Every shard the parts need is asked before the status line goes out, so a
shard that is down, or a statement that fails at once, is a real 503/504/500.
Every wait ends at the request's deadline (`request_seconds`, deadline.py).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Callable, Generator, Iterator

from flask import Response, current_app, g, request

from snapthunder import statements, wire
from snapthunder.features import FEATURES, Feature
from snapthunder.plan import ShardPlan
from snapthunder.query import Query, split_query_string
from snapthunder.region_sets import IndexedQuery

from snapthunder_api.access_log import RequestLog
from snapthunder_api.copy_stream import CopyTextDecoder, Failure, ShardReader, Streams
from snapthunder_api.deadline import Deadline
from snapthunder_api.errors import ApiError, marker_line
from snapthunder_api.shards import Served


@dataclasses.dataclass(frozen=True)
class Part:
    """One query of an answer: its rows' first column (`leading`), row form, and lines to print before them."""

    query: Query
    leading: str | None
    form: str = "tsv"
    preamble: bytes = b""


def serving(compilation: str) -> Served:
    """This worker's deployment as `compilation` sees it; a 404 listing the compilations it serves otherwise."""
    return current_app.extensions["snapthunder"].serving(compilation, g.deadline)


def request_parameters(deployment: Served, path_ids: str | None = None) -> list[tuple[str, str]]:
    """The request's (name, value) pairs, Snaptron-decoded, refused when oversize.

    A path after the endpoint (`/gtex/snaptron/5,6`) replaces the whole query
    string by `ids=<path>`, as Snaptron does.
    """
    if path_ids is not None and path_ids.strip("/"):
        return [("ids", path_ids.strip("/"))]
    raw, most = request.query_string, deployment.settings["max_request_bytes"]
    if len(raw) > most:
        raise ApiError(400, f"query string: {len(raw):,} bytes; at most {most:,} (send long queries as a POST)",
                       "query string")
    return split_query_string(raw)


def of_endpoint(endpoint_name: str, queries: list[Query]) -> list[Query]:
    """The queries, asking for the rows of the path's endpoint (`snaptron`, `genes`, `exons`: features.py)."""
    return [dataclasses.replace(query, feature=FEATURES[endpoint_name]) for query in queries]


def leading_column(deployment: Served, query: Query) -> str:
    """A row's first column: the group label in group mode, else `GTEx:I` (`GTEx:G`, `GTEx:E` for genes, exons)."""
    return query.group if query.group is not None else wire.data_source(deployment.compilation.data_source,
                                                                         query.feature.row_type)


def junctions(deployment: Served, query: Query, log: RequestLog) -> Response:
    """One query's rows from every shard that holds some, merged in (chromosome, start, end) order."""
    deadline = _request_deadline([query])
    if query.count_only:
        return _count_answer(_count(deployment, query, log, deadline), log, query)
    part = Part(query, leading_column(deployment, query), "json" if query.format == "json" else "tsv")
    if query.format == "json":
        streams = _open(deployment, [part], log, deadline)
        feed = RowFeed(streams, query.limit, deployment.settings, log)
        return _streamed(_json_body(feed, query), wire.JSON_CONTENT_TYPE, lambda: streams.close())
    header = "\t".join(query.output_columns) + "\n" if query.header else ""
    return in_order(deployment, [part], header.encode(), log)


def in_order(deployment: Served, parts: list[Part], header: bytes, log: RequestLog) -> Response:
    """Every part's rows one after another, after `header`, all parts' statements asked before answering.

    One reader per shard runs every part's statements on one connection,
    a few statements ahead of the client (copy_stream.UNITS_AHEAD): a bulk
    POST of 10,000 small queries then costs a statement per query, not a
    thread hand-over and a pool checkout each, waited for in turn.
    """
    deadline = _request_deadline([part.query for part in parts])
    streams = _open(deployment, parts, log, deadline)

    def body() -> Iterator[bytes]:
        if header:
            yield header
        for index, part in enumerate(parts):
            yield part.preamble
            if part.query.count_only:
                try:
                    yield f"{part.leading}\t{_total(streams.chunks(index))}\n".encode()
                except ApiError as error:
                    log.outcome = "error"
                    yield marker_line(error).encode()
                    return
                continue
            if (yield from _part_rows(streams, index, part.query.limit, deployment, log)):
                return
        log.outcome = "complete"

    return _streamed(body(), wire.TSV_CONTENT_TYPE, streams.close)


def parts_in_order(deployment: Served, streams: Streams, preambles: list[bytes], log: RequestLog) -> Response:
    """Part after part (keys `(index, …)`): its preamble, then its rows; an early ending is the answer's last line."""
    def body() -> Iterator[bytes]:
        for index, preamble in enumerate(preambles):
            yield preamble
            if (yield from _part_rows(streams, index, None, deployment, log)):
                return
        log.outcome = "complete"

    return _streamed(body(), wire.TSV_CONTENT_TYPE, streams.close)


def _part_rows(streams: Streams, index: int, limit: int | None, deployment: Served,
               log: RequestLog) -> Generator[bytes, None, bool]:
    """One part's rows and, if it ended early (a cap, a failure), its marker line; returns whether it did."""
    feed = RowFeed(streams, limit, deployment.settings, log, index)
    yield from feed
    ending = feed.ending()
    if ending:
        yield ending
    return bool(ending)


def text_answer(body: str, log: RequestLog) -> Response:
    """A small, complete TSV answer computed before responding (counts, browser links, timestamps)."""
    log.rows, log.outcome = body.count("\n"), "complete"
    return Response(body, content_type=wire.TSV_CONTENT_TYPE)


def streamed_rows(feed: "RowFeed", streams: Streams, header_needs_a_row: bool = False) -> Response:
    """A TSV answer that is the rows of one feed and, if it ended early, its marker line.

    `header_needs_a_row`: the feed's first line is a header that goes out
    only with a row after it (an sfilter that matches no sample answers an
    empty body, as Snaptron does).
    """
    def body() -> Iterator[bytes]:
        yield from _header_with_a_row(feed) if header_needs_a_row else feed
        yield feed.ending()

    return _streamed(body(), wire.TSV_CONTENT_TYPE, streams.close)


def _header_with_a_row(feed: "RowFeed") -> Iterator[bytes]:
    """The feed's lines, held back until a second line shows the first is not alone; nothing if it is."""
    chunks = iter(feed)
    held = b""
    for chunk in chunks:
        held += chunk
        if held.count(b"\n") > 1:
            yield held
            yield from chunks
            return
    feed.log.rows -= held.count(b"\n")        # the header alone was never sent
    feed.log.bytes -= len(held)


def open_streams(deployment: Served, makers: dict, deadline: Deadline) -> Streams:
    """Start one reader per shard and wait until each has begun (or failed: raised here, before any byte)."""
    settings = deployment.settings
    timeout = settings["statement_timeout_seconds"]
    readers = [ShardReader(deployment.pool(name), make, settings["client_stall_seconds"])
               for name, make in makers.items()]
    wait = timeout + settings["connect_timeout_seconds"] + settings["pool_wait_seconds"] + 5
    streams = Streams(readers, wait, deadline)
    streams.start(deployment.executor())
    return streams


def _request_deadline(queries: list[Query]) -> Deadline:
    """The request's deadline (g.deadline, started with the request), named by these queries' size."""
    g.deadline.describe(queries)
    return g.deadline


def _open(deployment: Served, parts: list[Part], log: RequestLog, deadline: Deadline) -> Streams:
    """The streams of the parts' rows (or counts): one COPY per part and chromosome, keyed (part, chromosome).

    Each shard's reader gets the statements of every part that needs it, in
    key order; they are built on the reader's thread, from each part's
    regions indexed once (region_sets).
    """
    plan = deployment.endpoints().plan()
    row_cap = deployment.settings["row_cap"]
    wanted: dict[str, list[tuple[int, tuple[str, ...] | None, Callable[[str], tuple]]]] = {}
    for index, part in enumerate(parts):
        select_for = _select_for(part, IndexedQuery(part.query), int(min(part.query.limit or math.inf, row_cap + 1)))
        for name, chromosomes in statements.shards_to_ask(part.query, plan).items():
            wanted.setdefault(name, []).append((index, chromosomes, select_for))
    log.shards = sorted(set(log.shards) | set(wanted))

    def statements_for(name: str, entries) -> Callable:
        def make(cursor):
            held: dict[Feature, list[str]] = {}
            made = []
            for index, chromosomes, select_for in entries:
                feature = parts[index].query.feature
                if chromosomes is None and feature not in held:
                    held[feature] = _held_chromosomes(cursor, plan, name, feature)
                if chromosomes is None and statements.counted_per_shard(parts[index].query):
                    if held[feature]:
                        select, parameters = select_for(tuple(held[feature]))
                        made.append(((index, held[feature][0]),
                                     cursor.mogrify(statements.copy_statement(select), parameters)))
                    continue
                for chromosome in held[feature] if chromosomes is None else chromosomes:
                    select, parameters = select_for(chromosome)
                    made.append(((index, chromosome), cursor.mogrify(statements.copy_statement(select), parameters)))
            return made
        return make

    return open_streams(deployment, {name: statements_for(name, entries) for name, entries in wanted.items()}, deadline)


def _select_for(part: Part, indexed: IndexedQuery, row_limit: int) -> Callable[[str], tuple]:
    """One chromosome's statement of a part: its count (`fields=rc`) or its rows in the part's form."""
    if part.query.count_only:
        return lambda chromosome: statements.count_statement(indexed, chromosome)
    return lambda chromosome: statements.select_statement(indexed, chromosome, part.leading, part.form, row_limit)


def _count(deployment: Served, query: Query, log: RequestLog, deadline: Deadline) -> int:
    """`fields=rc`: the number of rows, summed over the shards (computed before answering)."""
    streams = _open(deployment, [Part(query, None)], log, deadline)
    try:
        return _total(streams.chunks())
    finally:
        streams.close()


def _total(chunks: Iterator[bytes | Failure]) -> int:
    """The sum of counts, one per chromosome; a failure is raised."""
    items = list(chunks)
    for item in items:
        if isinstance(item, Failure):
            raise item.error
    return sum(int(line) for item in items for line in item.split())


def _held_chromosomes(cursor, plan: ShardPlan, shard: str, feature: Feature) -> list[str]:
    """The chromosomes `shard` holds `feature`'s rows of and the plan places there: a copy a re-shard left is not read."""
    cursor.execute(statements.held_chromosomes(feature))
    return sorted(name for (name,) in cursor.fetchall() if plan.shard_for(name) == shard)   # byte order: as merged


def _count_answer(total: int, log: RequestLog, query: Query) -> Response:
    """Snaptron prints the number alone; JSON is {"count": n}."""
    if query.format == "json":
        log.rows, log.outcome = 1, "complete"
        return Response(json.dumps({"count": total}) + "\n", content_type=wire.JSON_CONTENT_TYPE)
    return text_answer(f"{total}\n", log)


def _streamed(body: Iterator[bytes], content_type: str, close: Callable[[], object]) -> Response:
    """A streamed response whose readers stop when the server closes it, even if its body never ran (HEAD)."""
    response = Response(body, content_type=content_type)
    response.call_on_close(close)
    return response


class RowFeed:
    """Decoded row bytes of one part, cut at the limit or a cap; afterwards says how the part ended.

    The caps count the whole answer (the request log's rows and bytes), so a
    many-part answer is bounded like a single one. A feed of a whole answer
    (`part` None) frees the shard connections as soon as it ends; a part's
    feed leaves them to the parts after it. `escaped` False: the rows came
    with nothing to undo (statements.copy_lines_statement).
    """

    def __init__(self, streams: Streams, limit: int | None, settings, log: RequestLog,
                 part: int | None = None, escaped: bool = True) -> None:
        self.streams = streams
        self.escaped = escaped
        self.part = part
        self.row_cap = settings["row_cap"]
        self.byte_cap = settings["byte_cap"]
        self.stop_rows = log.rows + min(limit or math.inf, self.row_cap - log.rows)
        self.capped_by_rows = limit is None or limit > self.row_cap - log.rows
        self.log = log
        self.truncation: str | None = None
        self.failure: ApiError | None = None

    def __iter__(self) -> Iterator[bytes]:
        decoder = CopyTextDecoder()
        log = self.log
        try:
            for item in self.streams.chunks(self.part):
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
                    yield decoder.decode(chunk) if self.escaped else chunk
                if self.truncation is not None or (log.rows >= self.stop_rows and not self.capped_by_rows):
                    break
            log.outcome = "truncated" if self.truncation else "complete"
        finally:
            if self.part is None or self.failure is not None or self.truncation is not None:
                self.streams.close()

    def ending(self) -> bytes:
        """After the rows: the marker line saying why the part ended early, or nothing when it is complete."""
        if self.failure is not None:
            return marker_line(self.failure).encode()
        if self.truncation is not None:
            return f"#TRUNCATED {self.truncation}\n".encode()
        return b""

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
