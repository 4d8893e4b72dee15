"""The paper workload's peers: every way of answering the paper's query, each as its users run it.

1. `original_postgres` — the original snapthunder design, re-created by the
   bench: one table of all chromosomes (the shard's column types), a btree on
   (chromosome, start, end), the original SQL, psycopg2 `fetchall`. It lives in
   the public schema of the chr1 shard, which the loader role may create in,
   so it shares that server with peer 4, and is dropped when the run ends.
2. `original_sqlite` — the same on SQLite, as the paper also measured.
3. `tabix` — Snaptron's region store: a tabix scan of the bgzipped file (pysam),
   filtered line by line as Snaptron does.
4. `snapthunder_sql` — snapthunder's shard table queried directly, as the API
   does: counts answered by the index, rows streamed as bytes by COPY, never
   built into Python tuples.
5. `snapthunder_api` — snapthunder through its HTTP API: what users get.

Each peer's `run(query)` returns the rows (or the count) it produced, so the
workload can check that all of them answer the same thing.
"""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path

import psycopg2
import pysam
from psycopg2 import sql

from bench.api_client import ApiClient
from bench.queries import CHROMOSOME, PaperQuery
from snapthunder.endpoints import Credentials, Shard
from snapthunder.junctions import COLUMNS

SHARD_TABLE = "intron"
ORIGINAL_TABLE = "bench_original_junctions"
COPY_BUFFER = 1 << 18
SQLITE_AFFINITY = {
    **{name: "INTEGER" for name in ("snaptron_id", "start", "end", "length", "annotated", "samples_count",
                                     "coverage_sum", "source_dataset_id")},
    **{name: "REAL" for name in ("coverage_avg", "coverage_median")},
}
SQLITE_INSERT_BATCH = 10_000
END_FIELD = COLUMNS.index("end")
SAMPLES_COUNT_FIELD = COLUMNS.index("samples_count")


class OriginalPostgres:
    name = "original_postgres"
    label = "1 original design (PostgreSQL, fetchall)"

    def __init__(self, shard: Shard, junctions_path: Path, compilation: str) -> None:
        self.connection = psycopg2.connect(**shard.connect_arguments(compilation=compilation))
        self.connection.autocommit = True
        table = sql.Identifier(ORIGINAL_TABLE)
        with self.connection.cursor() as cursor, gzip.open(junctions_path, "rb") as junctions:
            cursor.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
            cursor.execute(sql.SQL("CREATE TABLE {} (LIKE {})").format(table, sql.Identifier(SHARD_TABLE)))
            cursor.copy_expert(sql.SQL("COPY {} FROM STDIN").format(table), junctions, COPY_BUFFER)
            cursor.execute(sql.SQL('CREATE INDEX ON {} (chromosome, start, "end")').format(table))
            cursor.execute(sql.SQL("VACUUM (ANALYZE) {}").format(table))

    def run(self, query: PaperQuery) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(query.statement(ORIGINAL_TABLE))
            rows = cursor.fetchall()
        return rows[0][0] if query.counts else len(rows)

    def close(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(ORIGINAL_TABLE)))
        self.connection.close()


class OriginalSqlite:
    name = "original_sqlite"
    label = "2 original design (SQLite, fetchall)"

    def __init__(self, junctions_path: Path, database_path: Path) -> None:
        database_path.unlink(missing_ok=True)
        self.connection = sqlite3.connect(database_path)
        columns = ", ".join(f'"{name}" {SQLITE_AFFINITY.get(name, "TEXT")}' for name in COLUMNS)
        self.connection.execute("PRAGMA journal_mode = OFF")
        self.connection.execute("PRAGMA synchronous = OFF")
        self.connection.execute(f'CREATE TABLE "{ORIGINAL_TABLE}" ({columns})')
        insert = f'INSERT INTO "{ORIGINAL_TABLE}" VALUES ({", ".join("?" * len(COLUMNS))})'
        with gzip.open(junctions_path, "rt", encoding="ascii") as junctions:
            batch = []
            for line in junctions:
                batch.append(line.rstrip("\n").split("\t"))
                if len(batch) == SQLITE_INSERT_BATCH:
                    self.connection.executemany(insert, batch)
                    batch = []
            self.connection.executemany(insert, batch)
        self.connection.execute(f'CREATE INDEX "{ORIGINAL_TABLE}_region" ON "{ORIGINAL_TABLE}" (chromosome, start, "end")')
        self.connection.execute("ANALYZE")
        self.connection.commit()

    def run(self, query: PaperQuery) -> int:
        rows = self.connection.execute(*query.sqlite_statement(ORIGINAL_TABLE)).fetchall()
        return rows[0][0] if query.counts else len(rows)

    def close(self) -> None:
        self.connection.close()


class Tabix:
    name = "tabix"
    label = "3 tabix over the bgzipped file (pysam)"

    def __init__(self, junctions_path: Path) -> None:
        self.file = pysam.TabixFile(str(junctions_path))

    def run(self, query: PaperQuery) -> int:
        lines = self.file.fetch(CHROMOSOME, 0, query.window_end)
        kept = (line for line in lines if query.keeps(*_end_and_samples_count(line)))
        return sum(1 for _ in kept) if query.counts else len(list(kept))

    def close(self) -> None:
        self.file.close()


def _end_and_samples_count(line: str) -> tuple[int, int]:
    fields = line.split("\t", SAMPLES_COUNT_FIELD + 1)
    return int(fields[END_FIELD]), int(fields[SAMPLES_COUNT_FIELD])


class SnapthunderSql:
    name = "snapthunder_sql"
    label = "4 snapthunder, direct SQL on the shard"

    def __init__(self, shard: Shard, reader: Credentials, compilation: str) -> None:
        self.connection = psycopg2.connect(**shard.connect_arguments(reader, compilation))
        self.connection.autocommit = True

    def run(self, query: PaperQuery) -> int:
        with self.connection.cursor() as cursor:
            if query.counts:
                cursor.execute(query.statement(SHARD_TABLE))
                return cursor.fetchone()[0]
            sink = LineCounter()
            cursor.copy_expert(sql.SQL("COPY ({}) TO STDOUT").format(query.statement(SHARD_TABLE)), sink, COPY_BUFFER)
            return sink.lines

    def close(self) -> None:
        self.connection.close()


class LineCounter:
    """A write-only file that keeps nothing but the number of lines written to it."""

    def __init__(self) -> None:
        self.lines = 0

    def write(self, data: bytes) -> int:
        self.lines += data.count(b"\n")
        return len(data)


class SnapthunderApi:
    name = "snapthunder_api"
    label = "5 snapthunder through the HTTP API"

    def __init__(self, api_url: str, compilation: str) -> None:
        self.client = ApiClient(api_url, compilation)

    def run(self, query: PaperQuery) -> int:
        response = self.client.snaptron(query.snaptron_parameters())
        return response.count() if query.counts else response.data_lines

    def close(self) -> None:
        self.client.close()
