"""The benchmark: a quick run end to end against real shards, and its HTTP side against a real server.

The quick run checks what a run must leave behind (files, CSV columns, the
report's sections) and that every peer answered every query with the same rows:
timings are not asserted, they belong in the report. The API is not part of
this test's environment, so its HTTP client and the service workload are
checked against a small real HTTP server speaking Snaptron's URLs.
"""

from __future__ import annotations

import csv
import dataclasses
import http.server
import json
import shutil
import threading
import urllib.parse
from pathlib import Path

import pytest

from bench import cli, genes, names, scale, service
from bench.api_client import ApiClient, ApiError
from bench.genes import GenesRow
from bench.load import FRACTIONS, LOADER, RAW_COPY, RAW_COPY_QUERYABLE, SHARD_COUNTS, LoadRow
from bench.names import NamesRow
from bench.paper import PaperRow
from bench.peers import SnapthunderApi
from bench.queries import SHAPES, WINDOW_ENDS, PaperQuery
from bench.service import ServiceAnswer, ServiceRow
from snapthunder import localenv
from snapthunder.synthetic_positions import expected_chr1_counts
from tests.conftest import scratch_directory

PEERS_WITHOUT_API = {"original_postgres", "original_sqlite", "tabix", "snapthunder_sql", "floor"}


@dataclasses.dataclass(frozen=True)
class QuickRun:
    directory: Path
    with_api: bool


@pytest.fixture(scope="module")
def quick_run() -> QuickRun:
    """One `--quick --load` run against four fresh shards (and their API when the environment starts one),
    configured for two compilations as the demo's are: the bench loads and measures the first."""
    root = scratch_directory("snapthunder-bench-")
    outputs = root / "endpoints.json"
    environment = localenv.up(shards=4, outputs=outputs, data_dir=root / "servers", compilations=("gtex", "tcga"),
                              durable=False)
    try:
        status = cli.main(["--outputs", str(outputs), "--quick", "--load", "--results", str(root / "results"),
                           "--data", str(root / "compilation")])
        assert status == 0
        (directory,) = (root / "results").iterdir()
        yield QuickRun(directory, environment.api_url is not None)
    finally:
        localenv.down(outputs)
        shutil.rmtree(root, ignore_errors=True)


def read_csv(path: Path, row_type: type) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == [field.name for field in dataclasses.fields(row_type)]
        return list(reader)


def test_a_run_leaves_its_description_tables_plots_and_report(quick_run):
    directory = quick_run.directory
    for name in ("run.json", "paper.csv", "paper.png", "service.csv", "load.csv", "load.png", "names.csv", "report.md"):
        assert (directory / name).stat().st_size > 0, name
    description = json.loads((directory / "run.json").read_text())
    assert description["commit"] and description["machine"]["cores"] >= 1
    assert description["versions"]["postgresql"].startswith("15")
    report = (directory / "report.md").read_text()
    for heading in ("## Goals", "## Paper", "## Service", "## Load", "## Names", "](paper.png)", "](load.png)"):
        assert heading in report
    service_rows = read_csv(directory / "service.csv", ServiceRow)
    if quick_run.with_api:
        assert (directory / "service.png").exists()
        assert {(row["server"], int(row["clients"])) for row in service_rows} == {
            (server, clients) for server in ("snapthunder", "original") for clients in service.CLIENT_LEVELS}
        assert all(int(row["errors"]) == 0 for row in service_rows)
    else:
        assert "no `api_url`" in report and service_rows == []


def test_the_genes_workload_asks_both_endpoints_the_same_gene_regions(quick_run):
    rows = read_csv(quick_run.directory / "genes.csv", GenesRow)
    report = (quick_run.directory / "report.md").read_text()
    assert "## Genes: `/genes` against `/snaptron`" in report
    if not quick_run.with_api:
        assert rows == [] and "no `api_url`" in report
        return
    assert [row["endpoint"] for row in rows] == ["genes", "snaptron"]
    assert all(int(row["regions"]) == genes.REGIONS and float(row["median_ms_per_request"]) > 0 for row in rows)
    assert all(float(row["rows_per_request"]) > 0 for row in rows)   # the genes' rows were loaded with --load
    assert float(rows[1]["ratio_to_snaptron"]) == 1.0
    (goal,) = [line for line in report.splitlines() if "`/genes` on gene-sized regions" in line]
    assert "not measured" not in goal


def test_the_service_workload_loads_the_original_design_it_started_and_both_answer_alike(quick_run):
    """Without --baseline-url the run starts the original design's server; the sample queries' row counts agree."""
    if not quick_run.with_api:
        pytest.skip("this environment starts no API: the service workload is skipped")
    answers: dict[str, dict[str, int]] = {}
    for row in read_csv(quick_run.directory / "service_answers.csv", ServiceAnswer):
        answers.setdefault(row["query"], {})[row["server"]] = int(row["rows"])
    assert len(answers) == service.SAMPLE_QUERIES
    for query, by_server in answers.items():
        assert set(by_server) == {"snapthunder", "original"}, query
        assert by_server["snapthunder"] == by_server["original"] >= 0, (query, by_server)
    assert any(by_server["original"] > 0 for by_server in answers.values())
    report = (quick_run.directory / "report.md").read_text().splitlines()
    for clients in service.CLIENT_LEVELS:
        (goal,) = [line for line in report if f"median latency with {clients} clients" in line]
        assert "not measured" not in goal


def test_every_peer_answers_every_paper_query_with_the_same_rows(quick_run):
    rows = read_csv(quick_run.directory / "paper.csv", PaperRow)
    peers = PEERS_WITHOUT_API | ({SnapthunderApi.name} if quick_run.with_api else set())
    answers: dict[tuple[str, str], dict[str, str]] = {}
    for row in rows:
        answers.setdefault((row["shape"], row["window_mb"]), {})[row["peer"]] = row["rows"]
    assert len(answers) == len(SHAPES) * len(WINDOW_ENDS)
    for query, by_peer in answers.items():
        assert set(by_peer) == peers, query
        assert len({count for count in by_peer.values() if count}) == 1, (query, by_peer)
    widest = answers[("simple", str(WINDOW_ENDS[-1] / 1e6))]["original_postgres"]
    expected, _ = expected_chr1_counts(WINDOW_ENDS[-1], scale=0.015)
    assert int(widest) == pytest.approx(expected, rel=0.03)


def test_the_load_workload_measures_every_contender_on_every_input_size(quick_run):
    rows = read_csv(quick_run.directory / "load.csv", LoadRow)
    contenders = {(RAW_COPY, "1"), (RAW_COPY_QUERYABLE, "1")} | {(LOADER, str(count)) for count in SHARD_COUNTS}
    for fraction in FRACTIONS:
        mine = [row for row in rows if float(row["fraction"]) == fraction]
        assert {(row["contender"], row["shards"]) for row in mine} == contenders
        assert len({row["rows"] for row in mine}) == 1
    whole = {int(row["rows"]) for row in rows if float(row["fraction"]) == 1.0}
    quarter = {int(row["rows"]) for row in rows if float(row["fraction"]) == 0.25}
    assert whole.pop() == pytest.approx(4 * quarter.pop(), abs=4)


def test_the_names_workload_times_every_sfilter_and_each_gene_four_ways_with_equal_answers(quick_run):
    rows = read_csv(quick_run.directory / "names.csv", NamesRow)
    clauses = [row["query"] for row in rows if row["measure"] == "sfilter"]
    assert len(clauses) == len(names.SFILTERS) and clauses[0] == names.SFILTERS[0] and "{" not in "".join(clauses)
    assert all(int(row["rows"]) > 0 and int(row["samples"]) == names.QUICK_SAMPLE_TOTAL for row in rows
               if row["measure"] == "sfilter")
    genes = [row for row in rows if row["measure"] == "gene"]
    assert len(genes) == 4 * names.GENES
    by_gene = [genes[index:index + 4] for index in range(0, len(genes), 4)]
    assert all(name["rows"] == coordinates["rows"] and gene_id["rows"] == span["rows"]
               for name, coordinates, gene_id, span in by_gene)
    report = (quick_run.directory / "report.md").read_text()
    assert "gene name within 1.1× of its coordinates" in report


@pytest.mark.parametrize("arguments", [
    ["--workloads", "paper,nonsense", "--outputs", "x.json"],
    ["--runs", "2", "--outputs", "x.json"],
    ["--workloads", "paper"],
    ["--peers", "original_postgres,nonsense", "--outputs", "x.json"],
])
def test_usage_errors_exit_2(arguments, capsys):
    assert cli.main(arguments) == 2
    assert "usage:" in capsys.readouterr().err


def test_the_peers_chosen_always_include_the_two_every_run_needs():
    arguments = cli.build_parser().parse_args(["--outputs", "x.json", "--peers", "snapthunder_api,tabix"])
    assert arguments.peers == ("original_postgres", "tabix", "snapthunder_sql", "snapthunder_api")
    assert cli.build_parser().parse_args(["--outputs", "x.json"]).peers == (
        "original_postgres", "original_sqlite", "tabix", "snapthunder_sql", "snapthunder_api")


def test_a_missing_endpoints_document_exits_1_with_one_line(tmp_path, capsys):
    assert cli.main(["--outputs", str(tmp_path / "absent.json"), "--workloads", "paper"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "make up" in error


class SnaptronStub(http.server.BaseHTTPRequestHandler):
    """Answers Snaptron's URLs: three junction lines under a header, `fields=rc` a count; can fail on request."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        parameters = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if "drop" in parameters:
            self._answer(200, b"DataSource:Type\tsnaptron_id\n")
            self.close_connection = True  # as a server closing an idle kept-alive connection, without saying so
        elif "fail" in parameters:
            self._answer(500, b"failed on purpose\n")
        elif "truncate" in parameters:
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"DataSource:Type\tsnaptron_id\n")
            self.close_connection = True
        elif parameters.get("fields") == ["rc"]:
            self._answer(200, b"DataSource:Type\tcount\ngtex:I\t7\n")
        else:
            self._answer(200, b"DataSource:Type\tsnaptron_id\n" + b"gtex:I\t1\n" * 3)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *arguments):
        pass


@pytest.fixture
def stub_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SnaptronStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_api_peer_counts_data_lines_and_reads_counts(stub_url):
    peer = SnapthunderApi(stub_url, "gtex")
    try:
        assert peer.run(PaperQuery("filter", WINDOW_ENDS[0])) == 3
        assert peer.run(PaperQuery("simplecount", WINDOW_ENDS[0])) == 7
    finally:
        peer.close()


def test_a_kept_alive_connection_the_server_dropped_is_replaced(stub_url):
    client = ApiClient(stub_url, "gtex")
    assert client.snaptron({"regions": "chr1:1-1000", "drop": "1"}).data_lines == 0
    assert client.snaptron({"regions": "chr1:1-1000"}).data_lines == 3
    client.close()


@pytest.mark.parametrize("failure", ["fail", "truncate"])
def test_a_failed_status_or_a_cut_short_body_is_an_error_and_the_next_request_works(stub_url, failure):
    client = ApiClient(stub_url, "gtex")
    with pytest.raises(ApiError, match="HTTP 500" if failure == "fail" else "IncompleteRead"):
        client.snaptron({"regions": "chr1:1-1000", failure: "1"})
    assert client.snaptron({"regions": "chr1:1-1000"}).data_lines == 3
    client.close()


def test_the_service_workload_loads_the_api_and_the_baseline_alike(stub_url):
    result = service.run(stub_url, stub_url, "gtex", sample_total=50, seconds=0.3, progress=False,
                         junctions=Path("unused"), work_dir=Path("unused"))
    assert [(row.server, row.clients) for row in result.rows] == [
        (server, clients) for clients in service.CLIENT_LEVELS for server in ("snapthunder", "original")]
    assert all(row.requests > 0 and row.errors == 0 and row.p50_ms <= row.p99_ms for row in result.rows)
    assert [answer.rows for answer in result.answers] == [3] * (2 * service.SAMPLE_QUERIES)


def test_the_service_workload_is_skipped_with_a_note_without_an_api():
    result = service.run(None, None, "gtex", sample_total=50, seconds=0.3, progress=False,
                         junctions=Path("unused"), work_dir=Path("unused"))
    assert result.rows == [] and "api_url" in result.notes[0]


def test_service_queries_are_seeded_snaptron_queries():
    first = service.random_queries(1, 100)
    again = service.random_queries(1, 100)
    queries = [next(first) for _ in range(200)]
    assert queries == [next(again) for _ in range(200)]
    assert 60 <= sum("rfilter" in query for query in queries) <= 140
    assert any("sids" in query for query in queries)
    for query in queries:
        chromosome, span = query["regions"].split(":")
        start, end = map(int, span.split("-"))
        assert 1 <= start <= end and end - start + 1 <= service.LONGEST_REGION


def _scale_rows(gene_ms: tuple[float, float], sample_ms: float, original_ms: float, filter_ms: float) -> list:
    rows = []
    for size, junctions, gene in zip(("1.5M", "31M"), (1_538_052, 31_258_105), gene_ms):
        rows.append(scale.ScaleRow(size, junctions, scale.GENE_QUERIES, gene, 3 * gene, 200))
        rows += [scale.ScaleRow(size, junctions, name, sample_ms, sample_ms, 9) for name in scale.SAMPLE_QUERIES]
        rows.append(scale.ScaleRow(size, junctions, scale.ORIGINAL_SAMPLE_COUNT, original_ms, original_ms, 9))
        rows += [scale.ScaleRow(size, junctions, name, filter_ms, filter_ms, 1) for name in scale.FILTER_QUERIES]
    return rows


def test_the_scale_report_gives_each_goal_its_verdict_with_the_figures(tmp_path):
    met = _scale_rows((7.0, 8.0), sample_ms=40.0, original_ms=25_000.0, filter_ms=90.0)
    assert [verdict for _, _, verdict in scale.goals(met)] == [True, True, True, True]
    missed = _scale_rows((7.0, 10.0), sample_ms=600.0, original_ms=25_000.0, filter_ms=1_500.0)
    assert [verdict for _, _, verdict in scale.goals(missed)] == [False, False, False, False]
    loads = [scale.LoadFigure("1.5M", 1_538_052, 20.0, 76_902.6), scale.LoadFigure("31M", 31_258_105, 400.0, 78_145.3)]
    path = scale.write(tmp_path, {"commit": "abc", "started": "now"}, missed, loads)
    text = path.read_text()
    assert "| gene-query p50 flat (within 1.3x) from 1.5M to 31M junctions | 7.0 ms -> 10.0 ms (1.43x) | missed |" in text
    assert (tmp_path / "scale.png").stat().st_size > 0
    with (tmp_path / "scale.csv").open() as handle:
        assert next(csv.reader(handle)) == ["size", "junctions", "measure", "median_ms", "p99_ms", "answer"]


def test_scale_sizes_outside_the_table_are_a_usage_error(capsys):
    assert scale.main(["--outputs", "x.json", "--sizes", "2M"]) == 2
    assert "choose from 1.5M,7.5M,31M" in capsys.readouterr().err
    assert scale.main(["--outputs", "x.json", "--sizes", "1.5M,31M", "--no-load"]) == 2
    assert "--no-load measures one size" in capsys.readouterr().err
