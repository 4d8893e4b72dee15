"""The API in-process against real shards: Snaptron's semantics, checked against the reference evaluator.

Many random queries (seeded) cover every mode, every filter operator, sids
projections, ids, fields, limits, multi-shard regions and genome-wide
filter-only queries; each answer must equal the reference's, line for line.
Then the formats, the bulk POST, /samples, caps and the error marker, the
error shape, SQL injection in every parameter and fuzzed query strings.
"""

from __future__ import annotations

import base64
import json
import random
import time
from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings, strategies

from snapthunder import posted_queries
from snapthunder import query as query_language
from snapthunder import statements
from snapthunder.junctions import COLUMNS
from snapthunder.plan import plan_shards
from snapthunder.region_sets import IndexedQuery
from snapthunder_api import create_app
from snapthunder_api.settings import markdown_table

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import COMPILATION, expected_tsv, random_query, typed  # noqa: E402 (registered first)
from tests.conftest import in_compilation  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

URL = f"/{COMPILATION}/snaptron"
HEADER = "\t".join(("DataSource:Type", *COLUMNS))


def answer(client, text: str, **options):
    response = client.get(URL, query_string=text, **options)
    assert response.status_code == 200, (text, response.get_data(as_text=True)[:300])
    return response.get_data(as_text=True)


def test_random_queries_answer_exactly_what_the_reference_does(client, api_dataset):
    generator = random.Random(20180501)
    reference = api_dataset.reference
    nonempty = 0
    for _ in range(120):
        text = random_query(generator, reference)
        expected = expected_tsv(reference, text)
        assert answer(client, text) == expected, text
        nonempty += expected.count("\n") > 1
    assert nonempty > 60, "most random queries should find rows"


def test_a_plain_region_gives_the_files_own_lines_under_snaptrons_header(client, api_dataset):
    body = answer(client, "regions=chr1:1000000-1100000")
    lines = body.splitlines()
    assert lines[0] == HEADER and len(lines) > 100
    assert lines[1:] == expected_tsv(api_dataset.reference, "regions=chr1:1000000-1100000").splitlines()[1:]


def test_regions_on_several_shards_merge_in_chromosome_then_position_order(client, api_dataset):
    text = "regions=chrX:1-3000000,chr1:1-200000,chr10:1-3000000,chr2:1-3000000"
    rows = [line.split("\t") for line in answer(client, text).splitlines()[1:]]
    keys = [(row[2], int(row[3]), int(row[4])) for row in rows]
    assert keys == sorted(keys) and {key[0] for key in keys} == {"chr1", "chr10", "chr2", "chrX"}


def test_a_genome_wide_filter_only_query_reads_every_shard(client, api_dataset):
    text = "rfilter=samples_count>:8000&fields=chromosome,start,samples_count"
    body = answer(client, text)
    assert body == expected_tsv(api_dataset.reference, text)
    assert len({line.split("\t")[1] for line in body.splitlines()[1:]}) > 5


def test_count_only_json_and_content_negotiation(client, api_dataset):
    text = "regions=chr1:500000-700000&rfilter=samples_count>:3"
    lines = expected_tsv(api_dataset.reference, text).splitlines()[1:]
    assert answer(client, text + "&fields=rc") == f"{len(lines)}\n"
    assert json.loads(answer(client, text + "&fields=rc&format=json")) == {"count": len(lines)}
    document = json.loads(answer(client, text + "&format=json"))
    assert document["fields"] == ["DataSource:Type", *COLUMNS] and document["row_count"] == len(lines)
    assert (document["truncated"], document["error"]) == (False, None)
    assert document["rows"] == [[typed(name, value) for name, value in zip(document["fields"], line.split("\t"))]
                                for line in lines]
    # Accept is ignored, as Snaptron ignores it: snapcount asks for JSON first and then requires text/plain.
    negotiated = client.get(URL, query_string=text, headers={"Accept": "application/json"})
    assert negotiated.headers["Content-Type"] == "text/plain"
    assert negotiated.get_data(as_text=True) == expected_tsv(api_dataset.reference, text)


def test_bulk_post_ors_its_queries_with_each_row_once(client, api_dataset):
    queries = [{"regions": "chr1:200000-300000", "rfilter": "samples_count>:20"},
               {"intervals": ["chr1:250000-350000", "chr2:1-2000000"], "contains": True},
               {"ids": [5, 6, 7]}]
    by_json = client.post(URL + "?fields=snaptron_id,chromosome,start,end", json=queries)
    reference = api_dataset.reference
    parsed = posted_queries.parse_bulk(queries, [("fields", "snaptron_id,chromosome,start,end")], 100)
    expected = "".join(line + "\n" for line in ["\t".join(parsed.output_columns)] + reference.lines(parsed))
    assert by_json.get_data(as_text=True) == expected
    ids = [line.split("\t")[1] for line in expected.splitlines()[1:]]
    assert len(ids) == len(set(ids)) > 50


def test_samples_by_ids_or_all(client, api_dataset):
    body = client.get(f"/{COMPILATION}/samples?ids=42,7,42").get_data(as_text=True)
    assert body.splitlines() == ["DataSource:Type\t" + api_dataset.samples_header,
                                 "GTEx:S\t" + api_dataset.sample_lines[7], "GTEx:S\t" + api_dataset.sample_lines[42]]
    every = client.get(f"/{COMPILATION}/samples?all=1").get_data(as_text=True).splitlines()
    assert every[1:] == [api_dataset.sample_lines[rail_id] for rail_id in sorted(api_dataset.sample_lines)]
    assert client.get(f"/{COMPILATION}/samples").status_code == 400


def test_caps_end_the_answer_with_an_explicit_marker_and_a_limit_does_not(api_environment):
    app = create_app({"endpoints": str(api_environment.extra["outputs"]), "row_cap": 25, "byte_cap": 100_000})
    client = app.test_client()
    try:
        lines = answer(client, "regions=chr1:1-25000000&fields=snaptron_id").splitlines()
        assert len(lines) == 27 and lines[-1].startswith("#TRUNCATED row_cap=25 reached")
        assert answer(client, "regions=chr1:1-25000000&fields=snaptron_id&limit=25").splitlines()[-1] == "GTEx:I\t24"
        document = json.loads(answer(client, "regions=chr1:1-25000000&fields=snaptron_id&format=json"))
        assert document["truncated"] and len(document["rows"]) == 25
        wide = answer(client, "regions=chr1:1-25000000&rfilter=samples_count>:2000").splitlines()
        assert wide[-1].startswith("#TRUNCATED byte_cap=100,000 reached") and len(wide) < 25
        exact = answer(client, "regions=chr1:1-25000000&rfilter=samples_count>:9400&fields=snaptron_id")
        assert "#" not in exact, "an answer of at most the cap is complete"
    finally:
        app.extensions["snapthunder"].close()


def test_clients_that_stop_reading_lose_their_answer_and_free_their_shard_connections(api_environment):
    app = create_app({"endpoints": str(api_environment.extra["outputs"]), "pool_size": 2, "pool_wait_seconds": 1.0,
                      "client_stall_seconds": 1.0})
    client = app.test_client()
    stalled = []
    try:
        for _ in range(2):  # as many as the pool has connections to chr1's shard, each read once, then left
            response = client.get(URL, query_string="regions=chr1:1-25000000", buffered=False)
            chunks = iter(response.response)
            next(chunks)
            stalled.append((response, chunks))
        time.sleep(2.5)
        assert client.get(URL, query_string="regions=chr1:1-20000&fields=rc").status_code == 200
        response, chunks = stalled[0]
        rest = b"".join(chunks).decode()
        assert rest.splitlines()[-1] == ("#ERROR 504 the client took nothing of the answer for 1 s; "
                                         "the answer was abandoned")
    finally:
        for response, _ in stalled:
            response.close()
        app.extensions["snapthunder"].close()


def test_a_failure_after_rows_were_sent_ends_the_stream_with_the_error_marker(api_environment):
    app = create_app({"endpoints": str(api_environment.extra["outputs"]), "statement_timeout_seconds": 0.5})
    try:
        response = app.test_client().get(URL, query_string="rfilter=length>:0", buffered=False)
        assert response.status_code == 200
        chunks = iter(response.response)
        first = next(chunks)
        time.sleep(1.5)
        body = (first + b"".join(chunks)).decode()
        response.close()
        assert body.startswith(HEADER) and body.count("\n") > 100
        assert body.splitlines()[-1].startswith("#ERROR 504 shard-") and "statement timeout of 0.5 s" in body
    finally:
        app.extensions["snapthunder"].close()


@pytest.mark.parametrize("path, text, status, parameter", [
    (URL, "regions=chr1:5-1", 400, "regions"),
    (URL, "regions=chr1:1-5&rfilter=depth>:1", 400, "rfilter"),
    (URL, "regions=chr1:1-5&fields=bogus", 400, "fields"),
    (URL, "regions=chr1:1-5&nonsense=1", 400, "'nonsense'"),
    (URL, "regions=chr1:1-5&sids=" + ",".join(["1"] * 600_000), 400, "query string"),
    (URL, "regions=chr1:1-5&sids=" + ",".join(["1"] * 20_000), 400, "sids"),
    ("/elsewhere/snaptron", "regions=chr1:1-5", 404, None),
], ids=["region", "filter", "fields", "unknown", "oversize", "too-many", "compilation"])
def test_one_error_shape_text_or_json_naming_the_parameter(client, path, text, status, parameter):
    plain = client.get(path, query_string=text)
    assert plain.status_code == status and plain.mimetype == "text/plain"
    line = plain.get_data(as_text=True)
    assert line.startswith(f"#ERROR {status} ") and line.count("\n") == 1
    as_json = client.get(path, query_string=text + "&format=json")
    if status == 400 and parameter != "'nonsense'":
        error = json.loads(as_json.data)["error"]
        assert error["status"] == status and error["parameter"] == parameter
        assert error["message"].startswith(f"{parameter}: ")
    if parameter:
        assert f" {parameter}: " in line


INJECTIONS = ("1'; DROP TABLE intron; --", "1 OR 1=1", "chr1:1-2' UNION SELECT * FROM pg_shadow --",
              "$$; DELETE FROM sample; $$", "0);TRUNCATE intron;--", "\\x27; COMMIT; DROP TABLE sample",
              "samples_count>:1;DELETE FROM intron")
PARAMETERS = ("regions", "contains", "exact", "either", "rfilter", "sids", "ids", "fields", "header", "limit", "format")


@pytest.mark.parametrize("parameter", PARAMETERS)
def test_sql_injection_in_every_parameter_is_a_400_and_leaves_the_data_alone(client, api_environment, parameter):
    base = "" if parameter == "regions" else "regions=chr1:1-100000&"
    for attempt in INJECTIONS:
        response = client.get(URL, query_string=f"{base}{parameter}={quote(attempt)}")
        assert response.status_code == 400, (parameter, attempt)
        assert f" {parameter}: " in response.get_data(as_text=True)
    bulk = client.post(URL, json=[{"regions": "chr1:1-100", "rfilter": INJECTIONS[0], "ids": INJECTIONS[1]}])
    assert bulk.status_code == 400
    assert client.get(f"/{COMPILATION}/samples", query_string="ids=" + quote(INJECTIONS[3])).status_code == 400
    for shard in api_environment.shards.values():
        with psycopg2.connect(**in_compilation(api_environment, shard, api_environment.reader)) as connection:
            with connection.cursor() as cursor:
                cursor.execute("SELECT (SELECT count(*) FROM intron) > 0, (SELECT count(*) FROM sample) > 0")
                assert cursor.fetchone() == (True, True)
        connection.close()


FUZZ_ALPHABET = "abcdefghijklmnopqrstuvwxyz_0123456789=&,:-+<>!%.;'\"\\ ?é\x00"
PARAMETER_NAMES = strategies.sampled_from(PARAMETERS + ("id", "all", ""))


@pytest.fixture(scope="module")
def capped_client(api_environment):
    """Fuzzed queries that happen to be valid may ask for the whole genome: keep their answers short."""
    app = create_app({"endpoints": str(api_environment.extra["outputs"]), "row_cap": 50})
    yield app.test_client()
    app.extensions["snapthunder"].close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=strategies.text(FUZZ_ALPHABET, max_size=80),
       pairs=strategies.lists(strategies.tuples(PARAMETER_NAMES, strategies.text(FUZZ_ALPHABET, max_size=30)),
                              max_size=4))
def test_fuzzed_query_strings_never_get_a_5xx_or_a_traceback(capped_client, raw, pairs):
    for text in (raw, "&".join(f"{name}={value}" for name, value in pairs)):
        response = capped_client.get(URL, query_string=text)
        body = response.get_data(as_text=True)
        assert response.status_code < 500, (text, body)
        assert "Traceback" not in body


def test_the_settings_table_in_the_docs_is_the_one_the_code_renders():
    repository = Path(__file__).resolve().parent.parent
    assert markdown_table() in (repository / "docs" / "API.md").read_text()
    readme = (repository / "README.md").read_text()
    assert markdown_table() in readme, "README's settings table is stale: paste markdown_table() again"


def _complete_answer(client, text: str, method: str = "get", **options) -> str:
    """The whole answer, which must be complete: a 200 and no marker line."""
    response = getattr(client, method)(URL, query_string=text, **options)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "\n#" not in body, body[-300:]
    return body


@pytest.mark.parametrize("modifier", ["", "contains=1", "either=1", "either=2", "exact=1"])
def test_ten_thousand_regions_on_one_chromosome_merge_and_answer_like_their_distinct_ones(client, api_dataset,
                                                                                         modifier):
    """Repeats, regions inside others and neighbours merge: the answer is each row once, in order."""
    generator = random.Random(9)
    reference = api_dataset.reference
    anchors = generator.sample(reference.by_chromosome["chr1"], 100)
    distinct = [f"chr1:{anchor.key[1]}-{anchor.key[2]}" for anchor in anchors]
    inner = [f"chr1:{anchor.key[1] + 1}-{anchor.key[2] - 1}" for anchor in anchors if anchor.key[2] - anchor.key[1] > 2]
    regions = (distinct + inner) * (10_000 // len(distinct + inner))
    regions += distinct[:10_000 - len(regions)]
    generator.shuffle(regions)
    parameters = "&".join(filter(None, [modifier, "fields=snaptron_id,chromosome,start,end"]))
    body = _complete_answer(client, "", "post", data={"groups": base64.b64encode(
        f"group=g&{parameters}&regions={','.join(regions)}".encode()).decode()})
    expected = expected_tsv(reference, f"{parameters}&regions={','.join(distinct + inner)}").splitlines()[1:]
    assert len(regions) == 10_000 and len(expected) >= 100
    assert body.splitlines()[1:] == ["g" + line[len("GTEx:I"):] for line in expected]


def test_ten_thousand_contigs_answer_and_plan_in_time_linear_in_their_number(client, api_dataset):
    """Each contig's statement is built from its own regions: 10x the contigs is about 10x the work, not 100x."""
    real = "chr1:1000000-1010000,chr2:1000000-1010000"
    contigs = lambda count: ",".join(f"chrUn_c{index}v1:1-1000" for index in range(count))
    body = _complete_answer(client, "", "post", data={"groups": base64.b64encode(
        f"group=g&regions={contigs(9_998)},{real}".encode()).decode()})
    expected = expected_tsv(api_dataset.reference, f"regions={real}").splitlines()[1:]
    assert body.splitlines()[1:] == ["g" + line[len("GTEx:I"):] for line in expected] and expected

    plan = plan_shards(4)

    def planning_seconds(count: int) -> float:
        query = query_language.parse(query_language.split_query_string(f"regions={contigs(count)}"), 10_000)
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            indexed = IndexedQuery(query)
            for chromosomes in statements.shards_to_ask(query, plan).values():
                for chromosome in chromosomes:
                    statements.select_statement(indexed, chromosome, "GTEx:I")
            best = min(best, time.process_time() - started)
        return best

    small, large = planning_seconds(1_000), planning_seconds(10_000)
    assert large < 30 * small, f"1,000 contigs: {small:.3f} s; 10,000: {large:.3f} s (linear is ~10x)"


def test_a_bulk_post_of_ten_thousand_queries_answers_in_order_with_each_querys_bytes(client, api_dataset):
    reference = api_dataset.reference
    anchors = random.Random(4).sample(reference.by_chromosome["chr2"], 50)
    texts = [f"regions=chr2:{anchor.key[1]}-{anchor.key[1] + 5_000}" for anchor in anchors]
    queries = [f"group=q{index}&{texts[index % len(texts)]}" for index in range(10_000)]
    body = _complete_answer(client, "", "post", data={"groups": base64.b64encode(
        "|||".join(queries).encode()).decode()})
    rows = {text: expected_tsv(reference, text).splitlines(keepends=True)[1:] for text in texts}
    expected = "".join(["\t".join(("Group", *COLUMNS)) + "\n"] + [
        f"q{index}" + line[len("GTEx:I"):] for index in range(10_000) for line in rows[texts[index % len(texts)]]])
    assert body == expected


def test_a_request_past_its_own_bound_gets_a_504_naming_the_request_not_a_shard(api_environment):
    app = create_app({"endpoints": str(api_environment.extra["outputs"]), "request_seconds": 1e-6})
    try:
        text = "regions=" + ",".join(f"chr1:{start}-{start + 10}" for start in range(1, 30_001, 10))
        response = app.test_client().get(URL, query_string=text)
        assert response.status_code == 504
        assert response.get_data(as_text=True) == (
            "#ERROR 504 this request (3,000 regions) ran past its 1e-06 s bound (request_seconds); "
            "split it into smaller requests\n")
    finally:
        app.extensions["snapthunder"].close()


def test_a_request_past_its_bound_after_rows_ends_with_the_marker_naming_it(api_environment):
    app = create_app({"endpoints": str(api_environment.extra["outputs"]), "request_seconds": 1.0})
    try:
        response = app.test_client().get(URL, query_string="regions=chr1:1-25000000", buffered=False)
        assert response.status_code == 200
        chunks = iter(response.response)
        first = b""
        while first.count(b"\n") <= 100:  # the header, then the first rows (the answer has 124 k)
            first += next(chunks)
        time.sleep(1.5)
        body = (first + b"".join(chunks)).decode()
        response.close()
        assert body.startswith(HEADER) and body.count("\n") > 100
        assert body.splitlines()[-1] == ("#ERROR 504 this request (1 region) ran past its 1 s bound "
                                         "(request_seconds); split it into smaller requests")
    finally:
        app.extensions["snapthunder"].close()


def test_a_client_reading_one_shards_rows_slowly_is_not_stalled_on_the_next_shard(api_environment, api_dataset):
    """The stall clock is the client's last read from any shard: chr2's reader waits while chr1 is read."""
    app = create_app({"endpoints": str(api_environment.extra["outputs"]), "client_stall_seconds": 1.0})
    text = "regions=chr1:1-10000000,chr2:1-250000000&fields=snaptron_id,chromosome,start,end,samples"
    try:
        response = app.test_client().get(URL, query_string=text, buffered=False)
        started, pieces = time.monotonic(), []
        for piece in response.response:
            pieces.append(piece)
            if time.monotonic() - started < 3.0:
                time.sleep(0.02)
        response.close()
        body = b"".join(pieces).decode()
        assert time.monotonic() - started > 1.5, "the client must read for longer than the stall bound"
        assert body == expected_tsv(api_dataset.reference, text)
    finally:
        app.extensions["snapthunder"].close()
