"""Which indexes the intron table gets: each candidate measured on the same loaded shard.

    python -m bench.index_choice --outputs PATH [--shard NAME] [--runs 7]

For each candidate index set the script rebuilds the indexes of the shard's
intron table (inside a transaction it rolls back, so the shard is unchanged),
then times, as the server's own execution time (EXPLAIN ANALYZE, so client
transfer does not blur the comparison), the three query shapes the schema
must serve: (a) the paper's windows, (b) gene-sized overlap queries bounded
by the chromosome's max junction length (and, to show what the bound buys,
without it), (c) counts with a samples_count
filter. It prints medians and each candidate's ratio to the first; the
chosen set (`create_intron_indexes` in 02-schema.sql) is the first row.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

import psycopg2

from snapthunder import endpoints as endpoints_module

CANDIDATES = {
    "(chromosome, start, end) INCLUDE (samples_count)":
        ['CREATE INDEX candidate ON intron (chromosome, start, "end") INCLUDE (samples_count)'],
    "(chromosome, start, end)":
        ['CREATE INDEX candidate ON intron (chromosome, start, "end")'],
    "(chromosome, start)":
        ["CREATE INDEX candidate ON intron (chromosome, start)"],
    "(chromosome, start) + (chromosome, end)":
        ["CREATE INDEX candidate ON intron (chromosome, start)", 'CREATE INDEX candidate2 ON intron (chromosome, "end")'],
}
PAPER = 'SELECT * FROM intron WHERE chromosome = %s AND start >= 0 AND start <= %s AND "end" <= %s'
PAPER_FILTER_COUNT = ('SELECT count(*) FROM intron WHERE chromosome = %s AND start >= 0 AND start <= %s '
                      'AND "end" <= %s AND samples_count >= 100')
OVERLAP = 'SELECT * FROM intron WHERE chromosome = %s AND "end" >= %s AND start <= %s AND start >= %s'
OVERLAP_UNBOUNDED = 'SELECT * FROM intron WHERE chromosome = %s AND "end" >= %s AND start <= %s'


def measure(connection, runs: int, seed: int = 7) -> dict[str, float]:
    """Median server execution time (ms) of each query shape on the current indexes."""
    random.seed(seed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT max_length FROM chromosome_stats WHERE chromosome = 'chr1'")
        (max_length,) = cursor.fetchone()
        shapes = {
            "paper simple 2.5 Mb": (PAPER, ("chr1", 2_500_000, 2_500_000)),
            "paper simple 25 Mb": (PAPER, ("chr1", 25_000_000, 25_000_000)),
            "paper filtercount 25 Mb": (PAPER_FILTER_COUNT, ("chr1", 25_000_000, 25_000_000)),
        }
        overlaps = []
        for _ in range(20):
            start = random.randrange(1, 200_000_000)
            end = start + random.randrange(10_000, 100_000)
            overlaps.append(("chr1", start, end, start - max_length + 1))
        results = {}
        for name, (statement, parameters) in shapes.items():
            results[name] = statistics.median(_execution_ms(cursor, statement, parameters) for _ in range(runs))
        results["overlap 10-100 kb (x20)"] = statistics.median(
            sum(_execution_ms(cursor, OVERLAP, parameters) for parameters in overlaps) for _ in range(runs))
        results["same, without the max_length bound"] = statistics.median(
            sum(_execution_ms(cursor, OVERLAP_UNBOUNDED, parameters[:3]) for parameters in overlaps) for _ in range(runs))
    return results


def _execution_ms(cursor, statement: str, parameters: tuple) -> float:
    cursor.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + statement, parameters)
    return cursor.fetchone()[0][0]["Execution Time"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.index_choice", description=__doc__.split("\n\n")[0])
    parser.add_argument("--outputs", required=True, help="endpoints document of a loaded deployment")
    parser.add_argument("--shard", help="shard to measure on (default: the one holding chr1)")
    parser.add_argument("--runs", type=int, default=7)
    arguments = parser.parse_args(argv)
    deployment = endpoints_module.load(arguments.outputs)
    shard = deployment.shards[arguments.shard or deployment.plan().shard_for("chr1")]
    connection = psycopg2.connect(**shard.connect_arguments(compilation=deployment.first_compilation))
    table = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX intron_region")
            for name, statements in CANDIDATES.items():
                cursor.execute("SAVEPOINT candidate")
                started = time.monotonic()
                for statement in statements:
                    cursor.execute(statement)
                build_seconds = time.monotonic() - started
                cursor.execute("ANALYZE intron")
                table[name] = (build_seconds, measure(connection, arguments.runs))
                cursor.execute("ROLLBACK TO SAVEPOINT candidate")
    finally:
        connection.rollback()
        connection.close()
    _print(table)
    return 0


def _print(table: dict) -> None:
    first_name = next(iter(table))
    shapes = list(table[first_name][1])
    print("| index | build s | " + " | ".join(f"{shape} ms (ratio)" for shape in shapes) + " |")
    print("|---|---|" + "---|" * len(shapes))
    for name, (build, results) in table.items():
        cells = [f"{results[shape]:.1f} ({results[shape] / table[first_name][1][shape]:.2f})" for shape in shapes]
        print(f"| {name} | {build:.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
