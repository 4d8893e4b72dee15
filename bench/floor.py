"""The floor: the shard's server alone producing the paper query's result.

What no client can beat, so the report can say how close each peer gets to the
limit. Two ways, chosen by what the target lets us do:

* `COPY (query) TO '/dev/null'`, as the local environment's superuser (the
  endpoints document's `local.superuser`): the server plans, executes and
  formats every row as text, exactly the work it does for a client, and writes
  it to nowhere, so no network, driver or client time is in it. Writing a
  server-side file needs the superuser, which only a local environment hands out.
* otherwise `EXPLAIN (ANALYZE, TIMING OFF)`, as the reader: it executes the plan
  and discards the rows without formatting them, so it is a little lower than
  the first (formatting is a real part of producing the result); TIMING OFF
  keeps the per-row clock reads out of it.

Both are timed by the wall clock around one round trip, like every peer.
"""

from __future__ import annotations

import psycopg2
from psycopg2 import sql

from bench.peers import SHARD_TABLE
from bench.queries import PaperQuery
from snapthunder.endpoints import Credentials, Endpoints, Shard

NULL_SINK_METHOD = "COPY (query) TO '/dev/null' as the local superuser: execute and format every row, send nothing"
EXPLAIN_METHOD = "EXPLAIN (ANALYZE, TIMING OFF) as the reader: execute, discard rows unformatted (no superuser here)"


def local_superuser(endpoints: Endpoints) -> Credentials | None:
    """The superuser the local environment records in its document; a stack has none."""
    local = endpoints.extra.get("local")
    superuser = local.get("superuser") if isinstance(local, dict) else None
    if not isinstance(superuser, dict):
        return None
    return Credentials(superuser["user"], superuser["password"])


class QueryFloor:
    name = "floor"
    label = "floor: the server alone"

    def __init__(self, shard: Shard, superuser: Credentials | None, reader: Credentials, compilation: str) -> None:
        self.to_null_sink = superuser is not None
        self.method = NULL_SINK_METHOD if self.to_null_sink else EXPLAIN_METHOD
        self.connection = psycopg2.connect(**shard.connect_arguments(superuser or reader, compilation))
        self.connection.autocommit = True

    def run(self, query: PaperQuery) -> int | None:
        """Rows produced (None for counts: the count itself went to the sink)."""
        statement = query.statement(SHARD_TABLE)
        with self.connection.cursor() as cursor:
            if self.to_null_sink:
                cursor.execute(sql.SQL("COPY ({}) TO '/dev/null'").format(statement))
                return None if query.counts else cursor.rowcount
            cursor.execute(sql.SQL("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {}").format(statement))
            plan = cursor.fetchone()[0][0]["Plan"]
            return None if query.counts else int(plan["Actual Rows"])

    def close(self) -> None:
        self.connection.close()
