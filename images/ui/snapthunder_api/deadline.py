"""Every request's wall-time bound (`request_seconds`), and the 504 that names the request as the cause.

Shard statements have their own bound (statement_timeout_seconds), but a
request can run many of them (10,000 contigs, a 10,000-query bulk POST), and
its own work between them counts too. The deadline starts with the request;
the answer's waits end at it, and what it says when it passes names the
request and its size, so that a client splits its request instead of
blaming a shard that was never slow.
"""

from __future__ import annotations

import time
from typing import Sequence

from snapthunder.query import Query

from snapthunder_api.errors import ApiError


class Deadline:
    """When the request must be finished; `error()` is its 504."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.request = "this request"

    def describe(self, queries: Sequence[Query]) -> None:
        """Name the request by its size in the message: its queries, regions or ids."""
        regions = sum(len(selection.regions) for query in queries for selection in query.selections)
        ids = sum(len(selection.ids) for query in queries for selection in query.selections)
        sizes = [f"{len(queries):,} queries"] if len(queries) > 1 else []
        sizes += [f"{count:,} {name}{'s' if count > 1 else ''}" for count, name in ((regions, "region"), (ids, "id"))
                  if count]
        self.request = f"this request ({', '.join(sizes)})" if sizes else "this request"

    def remaining(self) -> float:
        return max(0.0, self.ends - time.monotonic())

    def passed(self) -> bool:
        return time.monotonic() >= self.ends

    def error(self) -> ApiError:
        return ApiError(504, f"{self.request} ran past its {self.seconds:g} s bound (request_seconds); "
                             "split it into smaller requests")
