"""Conformance with Snaptron's wire protocol, one test per form, over HTTP against the real API.

Every request goes to the API the local environment started (nginx and gunicorn on
real shards), with the exact headers each Snaptron client sends: R's httr
(snapcount), Python 2's urllib2 (query_snaptron.py) and httpx (SnapMine,
snaptron_mcp). Expectations are written from the protocol (docs/API.md's
compatibility table), not from our code: the registry is parsed the way
snapcount parses it, bulk bodies are built the way the Python client builds
them. Where R and httr are installed (.ci/run installs them), snapcount's
own calls run in R too (tests/clients/httr_client.R).
"""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import subprocess
from pathlib import Path
from typing import Iterator
from urllib.parse import quote, urlencode, urlsplit

import httpx
import psycopg2
import pytest
from psycopg2 import sql

from loaders.cli import main as load
from snapthunder.junctions import COLUMNS

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import COMPILATION, DATA_SOURCE, expected_tsv  # noqa: E402 (registered first)
from tests.conftest import DATA, in_compilation  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

HTTR = {"User-Agent": "libcurl/7.88.1 r-curl/5.0.0 httr/1.4.5", "Accept-Encoding": "gzip, deflate",
        "Accept": "application/json, text/xml, application/xml, */*"}
URLLIB2 = {"Accept-Encoding": "identity", "User-Agent": "Python-urllib/2.7", "Connection": "close"}
CLIENTS = {"httr": HTTR, "urllib2": URLLIB2}
REAL_FORMS = DATA / "junctions_real_forms.tsv"
REAL_CONTIG = "chr22_KI270731v1_random"
HEADER = "\t".join(("DataSource:Type", *COLUMNS))


class Answer:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self) -> str:
        return self.body.decode()

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")


def send(base: str, path: str, headers: dict[str, str] = HTTR, method: str = "GET", body: bytes | None = None,
         content_type: str | None = None) -> Answer:
    """One request with exactly these headers (plus Host and, for a body, its length and type)."""
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Type", content_type or "application/x-www-form-urlencoded")
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


@pytest.fixture(scope="module")
def base(api_environment) -> str:
    return api_environment.api_url


@pytest.fixture(scope="module")
def real_forms(api_environment, tmp_path_factory) -> Iterator[list[str]]:
    """Rows written the way real compilations write them, loaded on a contig of their own."""
    scratch = tmp_path_factory.mktemp("real-forms")
    assert load([str(REAL_FORMS), "--outputs", str(api_environment.extra["outputs"]), "--quiet",
                 "--rejects", str(scratch / "rejects.tsv")]) == 0
    assert not (scratch / "rejects.tsv").exists(), "every real form must load"
    yield REAL_FORMS.read_text().splitlines()
    # Other modules compare whole-genome answers with the generated file: take the contig away again.
    shard = api_environment.shards[api_environment.plan().shard_for(REAL_CONTIG)]
    with psycopg2.connect(**in_compilation(api_environment, shard)) as connection, connection.cursor() as cursor:
        for table in ("intron", "chromosome_stats"):
            cursor.execute(sql.SQL("DELETE FROM {} WHERE chromosome = %s").format(sql.Identifier(table)),
                           (REAL_CONTIG,))
    connection.close()


# §3 Content type and negotiation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("client", CLIENTS)
def test_every_tsv_answer_is_exactly_text_plain_whatever_the_client_accepts(base, client):
    for path in (f"/{COMPILATION}/snaptron?regions=chr1:1000000-1100000",
                 f"/{COMPILATION}/snaptron?regions=chr1:1000000-1100000&fields=rc",
                 f"/{COMPILATION}/samples?all=1", f"/{COMPILATION}/samples?ids=1,2",
                 f"/{COMPILATION}/samples?check_for_update=1",
                 f"/{COMPILATION}/snaptron?regions=BAD", f"/{COMPILATION}/snaptron?within=1", "/nope/snaptron?ids=1"):
        answer = send(base, path, CLIENTS[client])
        assert answer.content_type == "text/plain", (path, answer.content_type)
        assert answer.headers.get_all("Content-Type") == ["text/plain"]
        assert answer.headers.get("Content-Encoding") is None


def test_json_only_when_the_request_says_format_json(base, api_dataset):
    text = "regions=chr1:1000000-1100000"
    assert send(base, f"/{COMPILATION}/snaptron?{text}").text == expected_tsv(api_dataset.reference, text)
    answer = send(base, f"/{COMPILATION}/snaptron?{text}&format=json")
    assert answer.content_type == "application/json" and json.loads(answer.body)["fields"][0] == "DataSource:Type"


@pytest.mark.parametrize("path", [f"/{COMPILATION}/snaptron?regions=chr1:1000000-1100000",
                                  f"//{COMPILATION}/samples?all=1", f"/{COMPILATION}/samples?ids=3",
                                  f"/{COMPILATION}/snaptron/5,6", "//snaptron/registry"])
def test_head_works_on_every_data_endpoint(base, path):
    answer = send(base, path, HTTR, method="HEAD")
    assert answer.status == 200 and answer.body == b""
    assert answer.content_type == ("application/json" if "registry" in path else "text/plain")


# §1 URL layout -----------------------------------------------------------------------------------------------------

def test_double_slashes_collapse_anywhere_in_the_path(base, api_dataset):
    text = "regions=chr1:1000000-1100000"
    expected = expected_tsv(api_dataset.reference, text)
    for path in (f"//{COMPILATION}/snaptron?{text}", f"/{COMPILATION}//snaptron?{text}",
                 f"///{COMPILATION}///snaptron?{text}"):
        assert send(base, path).text == expected, path


def test_a_path_after_the_endpoint_replaces_the_query_string_by_ids(base):
    by_query = send(base, f"/{COMPILATION}/snaptron?ids=5,6").text
    assert by_query.count("\n") == 3
    assert send(base, f"/{COMPILATION}/snaptron/5,6").text == by_query
    assert send(base, f"/{COMPILATION}/snaptron/5,6?header=0").text == by_query  # Snaptron drops the query
    assert send(base, f"/{COMPILATION}/snaptron?id=5&id=6").text == by_query
    assert send(base, f"/{COMPILATION}/samples/10").text == send(base, f"/{COMPILATION}/samples?ids=10").text


def test_snaptrons_parameters_are_accepted_and_unknown_ones_are_a_clear_400(base):
    text = "regions=chr1:1000000-1100000&rfilter=samples_count>:5"
    count = send(base, f"/{COMPILATION}/snaptron?{text}&fields=rc").text
    assert send(base, f"/{COMPILATION}/snaptron?{text}&result_count=0").text == count
    assert send(base, f"/{COMPILATION}/snaptron?{text}&fields=rc&label=x&calc_op=sum&header=0&header=1").text == count
    refused = send(base, f"/{COMPILATION}/snaptron?regions=chr1:1-2&within=1")
    assert refused.status == 400 and refused.text.count("\n") == 1
    assert refused.text.startswith("#ERROR 400 'within': unknown parameter; known here: regions, ids, id, sids")


# §2 Registry -------------------------------------------------------------------------------------------------------

def test_the_registry_is_7_bytes_of_status_then_one_json_object_of_field_types(base, api_dataset):
    for path in ("/snaptron/registry", "//snaptron/registry", "/snaptron/registry?x=1"):
        answer = send(base, path)
        assert answer.status == 200 and answer.content_type == "application/json"
        assert answer.body[:7] == b"200 OK\n" and answer.body.endswith(b"}\n") and answer.body.count(b"\n") == 2
        registry = json.loads(answer.body[7:])  # what snapcount does
        assert list(registry) == [COMPILATION]
        fields = registry[COMPILATION]
        assert list(fields) == api_dataset.samples_header.split("\t") + ["all"]
        assert fields["rail_id"] == "i" and fields["all"] == "t" and set(fields.values()) <= {"t", "i", "f", "n"}
        assert fields["smts"] == "t" and fields["smrin"] == "f" and fields["study"] == "t"


# §7 /samples -------------------------------------------------------------------------------------------------------

def test_samples_by_ids_use_snaptrons_header_and_row_forms_and_name_unknown_ids(base, api_dataset):
    lines = send(base, f"/{COMPILATION}/samples?ids=42,7,42,9999999").text.splitlines()
    width = api_dataset.samples_header.count("\t") + 1
    assert lines == ["DataSource:Type\t" + api_dataset.samples_header, "GTEx:S\t" + api_dataset.sample_lines[7],
                     "GTEx:S\t" + api_dataset.sample_lines[42], "GTEx:S\t9999999" + "\tNA" * (width - 1)]


def test_samples_all_is_samples_tsv_verbatim(base, api_dataset):
    assert send(base, f"//{COMPILATION}/samples?all=1").body == api_dataset.samples_path.read_bytes()


def test_the_legacy_samples_post_cuts_rows_to_the_asked_columns(base, api_dataset):
    form = urlencode({"fields": json.dumps([{"ids": ["7", "3"], "sample_fields": "0,2"}])}).encode()
    lines = send(base, f"/{COMPILATION}/samples", method="POST", body=form).text.splitlines()
    assert lines[0] == "DataSource:Type\t" + api_dataset.samples_header
    assert lines[1:] == ["GTEx:S\t" + "\t".join(api_dataset.sample_lines[rail_id].split("\t")[i] for i in (0, 2))
                         for rail_id in (3, 7)]


def test_check_for_update_is_a_float_that_moves_when_samples_are_reloaded(base, api_environment, api_dataset,
                                                                          real_forms, tmp_path):
    before = send(base, f"/{COMPILATION}/samples?check_for_update=1", URLLIB2).text
    assert before.endswith("\n") and float(before) > 1.7e9 and "." in before
    assert load([str(REAL_FORMS), "--outputs", str(api_environment.extra["outputs"]), "--quiet",
                 "--samples", str(api_dataset.samples_path), "--rejects", str(tmp_path / "rejects.tsv")]) == 0
    after = send(base, f"/{COMPILATION}/samples?check_for_update=1", URLLIB2).text
    assert float(after) > float(before)


# §8 Bulk -------------------------------------------------------------------------------------------------------------

def bulk_form(queries: list[str]) -> bytes:
    """The Python client's bulk body: base64 of the queries joined by |||, form-encoded."""
    return urlencode({"groups": base64.b64encode("|||".join(queries).encode()).decode()}).encode()


def test_a_bulk_groups_post_answers_in_query_order_with_each_label_first(base, api_dataset):
    queries = ["group=r1&regions=chr1:1000000-1030000&rfilter=samples_count>:3",
               "regions=chr1:1020000-1040000",                      # no group=: keeps r1
               "group=second.2&regions=chr1:1000000-1030000&rfilter=samples_count>:3"]
    answer = send(base, f"/{COMPILATION}/snaptron", URLLIB2, method="POST", body=bulk_form(queries))
    assert answer.status == 200 and answer.content_type == "text/plain"
    lines = answer.text.splitlines()
    assert lines[0] == "\t".join(("Group", *COLUMNS)) and lines.count(lines[0]) == 1
    expected = []
    for label, text in (("r1", queries[0]), ("r1", queries[1]), ("second.2", queries[2])):
        rows = expected_tsv(api_dataset.reference, text.split("&", 1)[1] if text.startswith("group=") else text)
        expected += [label + line[len(DATA_SOURCE):] for line in rows.splitlines()[1:]]
    assert lines[1:] == expected
    first = [line for line in expected if line.startswith("r1\t")][0]
    assert first.replace("r1", "second.2", 1) in lines  # overlapping queries repeat rows: no de-duplication


def test_a_get_with_group_answers_in_group_mode(base, api_dataset):
    lines = send(base, f"/{COMPILATION}/snaptron?group=g1&regions=chr1:1000000-1010000").text.splitlines()
    expected = expected_tsv(api_dataset.reference, "regions=chr1:1000000-1010000").splitlines()
    assert lines[0].split("\t")[0] == "Group" and lines[1:] == ["g1" + line[len(DATA_SOURCE):] for line in expected[1:]]


def test_the_legacy_json_post_runs_clauses_in_order_under_one_header_and_the_datatypes_line(base, api_dataset):
    clauses = [{"intervals": ["chr1:1000000-1030000"], "samples_count": [{"op": ">:", "val": 5}]},
               {"ids": ["5", "6"]}]
    answer = send(base, f"/{COMPILATION}/snaptron", method="POST",
                  body=urlencode({"fields": json.dumps(clauses)}).encode())
    lines = answer.text.splitlines()
    assert lines[0] == HEADER
    assert lines[1] == "datatypes:str\tint\tstr\tint\tint\tint\tstr\tbool\tstr\tstr\tstr\tstr\tstr\tint\tint\tfloat\tfloat\tstr"
    reference = api_dataset.reference
    expected = (expected_tsv(reference, "regions=chr1:1000000-1030000&rfilter=samples_count>:5").splitlines()[1:]
                + expected_tsv(reference, "ids=5,6").splitlines()[1:])
    assert lines[2:] == expected


def test_a_post_with_neither_form_is_a_400_naming_both(base):
    answer = send(base, f"/{COMPILATION}/snaptron", method="POST", body=b"colour=red")
    assert answer.status == 400 and 'no "fields" or "groups" parameter in POST' in answer.text


# §5 return_format, score_by, coordinate_string -------------------------------------------------------------------------

def test_return_format_1_is_ucsc_bed_per_region_with_0_based_starts(base, api_dataset):
    regions = "chr1:1000000-1010000,chr2:1000000-1400000"
    lines = send(base, f"/{COMPILATION}/snaptron?regions={regions}&return_format=1&score_by=coverage_sum"
                       "&header=0").text.splitlines()
    expected = []
    for region in regions.split(","):
        expected += [f"browser position {region}",
                     'track name="Snaptron" visibility=2 description="Snaptron Exported Splice Junctions" '
                     'color=100,50,0 useScore=1']
        for line in expected_tsv(api_dataset.reference, f"regions={region}").splitlines()[1:]:
            row = dict(zip(["DataSource:Type", *COLUMNS], line.split("\t")))
            expected.append("\t".join((row["chromosome"], str(int(row["start"]) - 1), row["end"], "junc",
                                       row["coverage_sum"], row["strand"])))
    assert lines == expected and len(lines) > 10


def test_return_format_2_links_the_ucsc_browser_to_this_servers_own_bed(base):
    path = f"/{COMPILATION}/snaptron?regions=chr11:82970135-82997450&rfilter=samples_count>:100&return_format=2"
    lines = send(base, path).text.splitlines()
    track = quote("regions=chr11:82970135-82997450&rfilter=samples_count>:100&return_format=1", safe="/")
    assert lines == ["DataSource:Type\tcoordinate_string\tURL",
                     "GTEx:U\tchr11:82970135-82997450\thttp://genome.ucsc.edu/cgi-bin/hgTracks?db=hg38&position="
                     f"chr11:82970135-82997450&hgct_customText={base}/{COMPILATION}//snaptron?{track}"]
    ids = send(base, f"/{COMPILATION}/snaptron?ids=5&return_format=2&coordinate_string=chr1:10-20&header=0").text
    assert ids.startswith("GTEx:U\tchr1:10-20\thttp://genome.ucsc.edu/cgi-bin/hgTracks?db=hg38&position=chr1:10-20")


# §5 rfilter forms ------------------------------------------------------------------------------------------------------

def test_rfilter_forms_raw_encoded_comma_joined_and_snaptron_id_lists(base, api_dataset):
    text = "regions=chr1:1000000-1100000&rfilter=samples_count>:5&rfilter=coverage_avg<:40"
    expected = expected_tsv(api_dataset.reference, text)
    assert send(base, f"/{COMPILATION}/snaptron?{text}").text == expected
    assert send(base, f"/{COMPILATION}/snaptron?regions=chr1:1000000-1100000"
                      "&rfilter=samples_count>:5,coverage_avg<:40").text == expected
    with httpx.Client(base_url=base) as client:   # httpx percent-encodes < > : and ,
        answer = client.get(f"/{COMPILATION}/snaptron", params=[
            ("regions", "chr1:1000000-1100000"), ("rfilter", "samples_count>:5"), ("rfilter", "coverage_avg<:40")])
        assert answer.headers["content-type"] == "text/plain" and answer.text == expected
        assert "%3E%3A5" in str(answer.request.url)
    by_ids = send(base, f"/{COMPILATION}/snaptron?regions=chr1:1-250000000&rfilter=snaptron_id:5-6-7").text
    assert by_ids == expected_tsv(api_dataset.reference, "regions=chr1:1-250000000&ids=5,6,7")


# §12 Real files ----------------------------------------------------------------------------------------------------------

def test_real_forms_load_and_come_back_as_the_files_lines_byte_for_byte(base, real_forms):
    answer = send(base, f"/{COMPILATION}/snaptron?regions={REAL_CONTIG}:1-5000")
    assert answer.text == "".join(line + "\n" for line in [HEADER] + [f"{DATA_SOURCE}\t{row}" for row in real_forms])


def test_list_valued_annotated_counts_as_annotated(base, real_forms):
    def ids(rfilter: str) -> list[str]:
        text = send(base, f"/{COMPILATION}/snaptron?regions={REAL_CONTIG}:1-2500&rfilter={rfilter}&fields=snaptron_id")
        return [line.split("\t")[1] for line in text.text.splitlines()[1:]]

    assert ids("annotated:1") == ["9000000001", "9000000003"]
    assert ids("annotated:0") == ids("annotated!:1") == ["9000000002", "9000000004"]
    unknown_strand = send(base, f"/{COMPILATION}/snaptron?regions={REAL_CONTIG}:1-2500&rfilter=strand:%3F"
                                "&fields=snaptron_id,left_motif").text.splitlines()[1:]
    assert unknown_strand == [f"{DATA_SOURCE}\t9000000002\tGT"]


def test_a_projection_prints_recomputed_statistics_as_python_2_prints_floats(base, real_forms):
    lines = send(base, f"/{COMPILATION}/snaptron?regions={REAL_CONTIG}:1-2500&sids=2,9,4"
                       "&fields=snaptron_id,samples,samples_count,coverage_sum,coverage_avg,coverage_median"
                 ).text.splitlines()[1:]
    assert lines == [f"{DATA_SOURCE}\t9000000001\t,2:7,9:1\t2\t8\t4.0\t4.0",
                     f"{DATA_SOURCE}\t9000000003\t,2:4,4:10\t2\t14\t7.0\t7.0",
                     f"{DATA_SOURCE}\t9000000004\t,9:2\t1\t2\t2.0\t2.0"]
    thirds = send(base, f"/{COMPILATION}/snaptron?regions={REAL_CONTIG}:1-2500&sids=5,2,9"
                        "&fields=coverage_avg,coverage_median").text.splitlines()[1:]
    assert thirds[0] == f"{DATA_SOURCE}\t3.66666666667\t3.0"


def test_projected_counts_that_sum_past_2_to_the_63_still_answer(base, real_forms):
    answer = send(base, f"/{COMPILATION}/snaptron?regions={REAL_CONTIG}:3000-3100&sids=1,2,3,4,5,6,7,8,9,10"
                        "&fields=snaptron_id,samples_count,coverage_sum,coverage_avg,coverage_median"
                        "&rfilter=coverage_sum>:999999999999999999")
    assert answer.status == 200
    assert answer.text.splitlines()[1:] == [f"{DATA_SOURCE}\t9000000005\t10\t9999999999999999990\t1e+18\t1e+18"]


def test_deeply_nested_json_in_a_post_is_a_400(base):
    nested = "[" * 1000 + "]" * 1000
    for body, content_type in ((nested.encode(), "application/json"),
                               (urlencode({"fields": nested}).encode(), None)):
        answer = send(base, f"/{COMPILATION}/snaptron", method="POST", body=body, content_type=content_type)
        assert answer.status == 400 and "nested too deeply" in answer.text, answer.text


# §1 Errors ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("query, parameter", [("regions=chr1:20-10", "regions"), ("rfilter=length>=5", "rfilter"),
                                              ("regions=chr1:1-2&sids=Brian", "sids"),
                                              ("regions=chr1:1-2&return_format=4", "return_format")])
def test_a_request_wrong_before_any_row_is_a_real_400_with_one_line_naming_the_parameter(base, query, parameter):
    answer = send(base, f"/{COMPILATION}/snaptron?{query}")
    assert answer.status == 400 and answer.content_type == "text/plain"
    assert answer.text.startswith(f"#ERROR 400 {parameter}: ") and answer.text.count("\n") == 1


# snapcount itself: R's httr and jsonlite, as snapcount calls them ------------------------------------------------------------

def test_snapcounts_calls_work_from_r(base, api_dataset):
    if shutil.which("Rscript") is None or subprocess.run(
            ["Rscript", "-e", "library(httr); library(jsonlite)"], capture_output=True).returncode != 0:
        pytest.skip("needs R with httr and jsonlite (Debian: apt-get install r-cran-httr r-cran-jsonlite)")
    script = Path(__file__).parent / "clients" / "httr_client.R"
    result = subprocess.run(["Rscript", str(script), base, COMPILATION], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    found = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    rows = expected_tsv(api_dataset.reference, "regions=chr1:1000000-1100000&rfilter=samples_count>:5").splitlines()
    fewest = min(int(row.split("\t")[COLUMNS.index("samples_count") + 1]) for row in rows[1:])
    assert found == {"prefix": "200 OK ", "compilations": f"{COMPILATION} ", "field_types": "i t ",
                     "rows": f"{len(rows) - 1} ", "first_column": "DataSource:Type ", "min_samples_count": f"{fewest} ",
                     "samples": f"{len(api_dataset.sample_lines)} ", "head": "200 text/plain "}
