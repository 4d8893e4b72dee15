"""sfilter (SNAPTRON-WIRE.md §6) over HTTP against the real API (nginx, gunicorn) and shards, checked against plain Python.

The generated compilation's samples.tsv has GTEx's shape (`smts` tissue,
`smtsd` detailed tissue, `smrin` a float): `matching` below is the rule of
docs/API.md written without SQL — a text clause is its words, lowercased,
found in order and adjacent among the cell's words; a numeric clause
compares the cell as a number; clauses AND-ed — and every answer must be
exactly the samples it names: on /samples in Snaptron's row form, and on
/snaptron as the projection `sids=` gives for the same rail_ids.
"""

from __future__ import annotations

import base64
import dataclasses
import operator
import re
from urllib.parse import quote

import httpx
import psycopg2
import pytest

from snapthunder import sample_search
from snapthunder.filters import SampleFilter
from snapthunder.query import parse_samples, split_query_string
from snapthunder.wire import python_float_text

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import COMPILATION, expected_tsv  # noqa: E402 (registered first)
from tests.conftest import in_compilation, query_all_shards  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

COMPARISONS = {":": operator.eq, ">:": operator.ge, "<:": operator.le, ">": operator.gt, "<": operator.lt}
REGION = "regions=chr1:1000000-1400000"


@pytest.fixture(scope="module")
def http(api_environment):
    with httpx.Client(base_url=api_environment.api_url, timeout=60) as client:
        yield client


def words(text: str) -> list[str]:
    return re.findall(r"[0-9a-z]+", text.lower())


def has_phrase(cell: str, value: str) -> bool:
    """A value with no words (`-`) matches no cell, as in Snaptron, whose Lucene query of it has no terms."""
    found, wanted = words(cell), words(value)
    return bool(wanted) and any(found[index:index + len(wanted)] == wanted for index in range(len(found) - len(wanted) + 1))


def matching(dataset, *clauses: str) -> list[int]:
    """The rail_ids every clause takes, in order, by the rule in the module docstring."""
    names = dataset.samples_header.split("\t")
    chosen = []
    for rail_id, line in sorted(dataset.sample_lines.items()):
        cells = dict(zip(names, line.split("\t")))
        # `all` searches the whole line; the generated ids (GTEX-…) come before the words these tests look for.
        cells["all"] = " ".join(line.split("\t")[2:])
        keep = True
        for clause in clauses:
            field, op, value = re.fullmatch(r"(\w+)(>:|<:|:|>|<)(.*)", clause).groups()
            if field in ("smrin", "rail_id"):
                keep &= COMPARISONS[op](float(cells[field]), float(value))
            else:
                keep &= has_phrase(cells[field], value)
        if keep:
            chosen.append(rail_id)
    return chosen


def query_string(*clauses: str) -> str:
    return "&".join("sfilter=" + quote(clause, safe=":<>") for clause in clauses)


def sample_filters(*clauses: str) -> tuple[SampleFilter, ...]:
    """The clauses as the API parses them (query.parse_samples)."""
    return parse_samples(split_query_string(query_string(*clauses)), 100).filters


@pytest.mark.parametrize("clauses", [
    ("smts:brain",), ("smts:BRAIN",), ("smtsd:sun%20exposed",), ("smtsd:Lower Leg",), ("all:cortex",),
    ("all:brain brain cortex",),             # a phrase across columns: `all` is the line's words in order
    ("smrin>:9.5",), ("smrin<5",), ("rail_id:42",), ("rail_id<:20",), ("smts:brain", "smrin>8"),
    ("study:SRP012682", "smtsd:cortex", "rail_id>5000"),
])
def test_samples_sfilter_answers_snaptrons_rows_for_exactly_the_matching_samples(http, api_dataset, clauses):
    clauses = tuple(clause.replace("%20", " ") for clause in clauses)
    expected = matching(api_dataset, *clauses)
    assert expected, "each case must match some sample"
    answer = http.get(f"/{COMPILATION}/samples?{query_string(*clauses)}")
    assert answer.status_code == 200 and answer.headers["content-type"] == "text/plain"
    header, *rows = answer.text.splitlines()
    assert header == "DataSource:Type\tLucene TF-IDF Score\t" + api_dataset.samples_header
    numeric_only = all(re.match(r"\w+", clause).group(0) in ("smrin", "rail_id") for clause in clauses)
    found = {}
    for row in rows:
        data_source, score, line = row.split("\t", 2)
        assert data_source == "GTEx:S" and float(score) > 0
        assert score == python_float_text(round(float(score), 6)), row     # 6 decimals, as Python 2 prints them
        assert score == "1.0" or not numeric_only, row
        found[int(line.split("\t", 1)[0])] = (float(score), line)
    assert sorted(found) == expected and len(found) == len(rows)
    assert all(line == api_dataset.sample_lines[rail_id] for rail_id, (_, line) in found.items())
    order = [(-score, rail_id) for rail_id, (score, _) in found.items()]
    assert [rail_id for _, rail_id in sorted(order)] == [int(row.split("\t")[2]) for row in rows]


TEXT_CLAUSES = [("smts:brain",), ("smtsd:sun exposed",), ("smtsd:Lower Leg",), ("smtsd:leg lower",),
                ("all:cortex",), ("smtsd:brain - cortex",), ("smts:brain", "smtsd:cortex"), ("smts:-",)]


@pytest.mark.parametrize("cells_indexed", [True, False], ids=["cell index", "schema before it"])
@pytest.mark.parametrize("clauses", TEXT_CLAUSES)
def test_a_text_clause_takes_the_same_samples_through_the_cell_index_and_without_it(api_environment, api_dataset,
                                                                                     clauses, cells_indexed):
    """The tagged cell index (sample_cell_words) and a schema without it, each checked against plain Python."""
    shard = next(iter(api_environment.shards.values()))
    rows = query_all_shards(api_environment, sample_search.FIELDS)
    fields = {name: dataclasses.replace(field, cells_indexed=cells_indexed)
              for name, field in sample_search.sample_fields(rows[shard.name]).items()}
    assert all(field.cells_indexed for field in sample_search.sample_fields(rows[shard.name]).values())
    statement, parameters = sample_search.rail_ids_statement(sample_filters(*clauses), fields)
    with psycopg2.connect(**in_compilation(api_environment, shard, api_environment.reader)) as connection, \
            connection.cursor() as cursor:
        cursor.execute(statement, parameters)
        found = [rail_id for (rail_id,) in cursor.fetchall()]
    connection.close()
    assert found == matching(api_dataset, *clauses)


@pytest.mark.parametrize("clause, rechecked", [("smts:brain", False), ("smtsd:brain - cortex", True)])
def test_a_field_clause_is_answered_by_the_cell_index_and_one_word_needs_no_recheck(api_environment, clause,
                                                                                    rechecked):
    """What the speed rests on: the planner uses sample_cell_words and folds a one-word value's recheck away."""
    shard = next(iter(api_environment.shards.values()))
    fields = sample_search.sample_fields(query_all_shards(api_environment, sample_search.FIELDS)[shard.name])
    statement, parameters = sample_search.rail_ids_statement(sample_filters(clause), fields)
    with psycopg2.connect(**in_compilation(api_environment, shard, api_environment.reader)) as connection, \
            connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")     # a small table: only whether the index can serve
        cursor.execute(b"EXPLAIN " + cursor.mogrify(statement, parameters))
        plan = "\n".join(line for (line,) in cursor.fetchall())
    connection.close()
    assert "Bitmap Index Scan on sample_cell_words" in plan and "sample_words" not in plan, plan
    assert ("to_tsvector" in plan) is rechecked, plan


def test_the_cell_index_finds_words_that_hold_tsquery_syntax_only_in_their_own_cell(api_environment):
    """Lexemes of paths, addresses and file names (`/usr/x`, `x@y.com`, `f.txt`) quoted into sample_cell_query."""
    shard = next(iter(api_environment.shards.values()))
    line = "7\tx@y.com or /usr/x\tC:\\dir\\f.txt"
    with psycopg2.connect(**in_compilation(api_environment, shard, api_environment.reader)) as connection, \
            connection.cursor() as cursor:
        cursor.execute("SELECT sample_cell_words(%s)::text", (line,))
        assert cursor.fetchone() == ("'1.7' '2./usr/x' '2.or' '2.x@y.com' '3.c' '3.dir' '3.f.txt'",)
        for cell, value, found in ((2, "X@Y.com", True), (2, "/usr/x or", True), (3, "f.txt", True),
                                   (3, "x@y.com", False), (2, "-", False)):
            cursor.execute("SELECT sample_cell_words(%s) @@ sample_cell_query(%s, %s)", (line, cell, value))
            assert cursor.fetchone() == (found,), (cell, value)
        # A word to_tsvector keeps (2,046 bytes) but too long once tagged: left out, not cut short.
        long = "y" * 2046
        cursor.execute("SELECT sample_cell_words(%s)::text, sample_cell_words(%s) @@ sample_cell_query(2, %s)",
                       (f"7\t{long}", f"7\t{long}", long))
        assert cursor.fetchone() == ("'1.7'", False)
    connection.close()


def test_samples_sfilter_honours_header_0_and_answers_nothing_at_all_when_nothing_matches(http, api_dataset):
    with_header = http.get(f"/{COMPILATION}/samples?sfilter=smts:liver").text.splitlines()
    assert http.get(f"/{COMPILATION}/samples?sfilter=smts:liver&header=0").text.splitlines() == with_header[1:]
    for path in (f"/{COMPILATION}/samples?sfilter=smts:nowhere", f"/{COMPILATION}/snaptron?{REGION}&sfilter=smts:nowhere"):
        answer = http.get(path)
        assert (answer.status_code, answer.text) == (200, ""), path


@pytest.mark.parametrize("clauses, fields", [
    (("smts:brain",), ""), (("smts:brain", "smrin>:8"), "&fields=snaptron_id,samples,samples_count,coverage_avg"),
    (("rail_id:42",), "&rfilter=coverage_sum>:2"), (("all:skin",), "&limit=7"),
])
def test_an_sfilter_projects_junctions_exactly_as_sids_of_the_same_samples(http, api_dataset, clauses, fields):
    sids = ",".join(map(str, matching(api_dataset, *clauses)))
    expected = expected_tsv(api_dataset.reference, f"{REGION}&sids={sids}{fields}")
    assert expected.count("\n") > 1, "the case must have rows"
    answer = http.get(f"/{COMPILATION}/snaptron?{REGION}&{query_string(*clauses)}{fields}")
    assert answer.headers["content-type"] == "text/plain" and answer.text == expected
    assert http.get(f"/{COMPILATION}/snaptron?{REGION}&{query_string(*clauses)}&sids=7").text == expected_tsv(
        api_dataset.reference, f"{REGION}&sids=7")                     # sids win, as in Snaptron


def test_a_bulk_groups_query_with_an_sfilter_projects_only_that_query(http, api_dataset):
    queries = ["group=a&regions=chr1:1000000-1100000&sfilter=smts:lung", "group=b&regions=chr1:1000000-1100000"]
    body = {"groups": base64.b64encode("|||".join(queries).encode()).decode()}
    lines = http.post(f"/{COMPILATION}/snaptron", data=body).text.splitlines()
    lung = ",".join(map(str, matching(api_dataset, "smts:lung")))
    expected = [row.replace("GTEx:I", label, 1) for label, text in
                (("a", f"regions=chr1:1000000-1100000&sids={lung}"), ("b", "regions=chr1:1000000-1100000"))
                for row in expected_tsv(api_dataset.reference, text).splitlines()[1:]]
    assert lines[1:] == expected


@pytest.mark.parametrize("clause, message", [
    ("smtz:brain", "unknown sample field 'smtz'; did you mean smts, smtsd?"),
    ("rail_id:8.5", "rail_id holds whole numbers: '8.5' is not one"),
    ("smrin>:high", "smrin holds numbers: 'high' is not one"),
    ("smts>:brain", "smts is text: compare it with : (a word or phrase), not >:"),
    ("smrin!:8", "sfilter has no !:"),
])
def test_a_wrong_sfilter_is_a_400_naming_the_clause_and_the_fix(http, clause, message):
    for path in (f"/{COMPILATION}/samples?sfilter={quote(clause, safe=':<>')}",
                 f"/{COMPILATION}/snaptron?{REGION}&sfilter={quote(clause, safe=':<>')}"):
        answer = http.get(path)
        assert answer.status_code == 400 and answer.text.startswith("#ERROR 400 sfilter: "), answer.text
        assert message in answer.text


# §5 sample groups: sids=<group names>, through the compilation's samples.groups.tsv --------------------------------

def groups(dataset) -> dict[str, list[int]]:
    """The generated samples.groups.tsv (loaded with the samples, from beside samples.tsv)."""
    lines = dataset.samples_path.with_name("samples.groups.tsv").read_text().splitlines()[1:]
    return {line.split("\t")[0]: [int(rail_id) for rail_id in line.split("\t")[3].split(",")] for line in lines}


def test_sids_naming_groups_project_on_the_union_of_their_samples(http, api_dataset):
    named = groups(api_dataset)
    assert named["Brain"] == matching(api_dataset, "smts:brain") and "Adipose_Tissue" in named
    union = ",".join(map(str, sorted(set(named["Brain"]) | set(named["Liver"]))))
    expected = expected_tsv(api_dataset.reference, f"{REGION}&sids={union}&fields=snaptron_id,samples,samples_count")
    assert expected.count("\n") > 1
    for sids in ("Brain,Liver", "Liver,Brain,Liver"):
        answer = http.get(f"/{COMPILATION}/snaptron?{REGION}&sids={sids}&fields=snaptron_id,samples,samples_count")
        assert answer.text == expected, sids
    # Group names are sids: they win over an sfilter, as numbered sids do.
    assert http.get(f"/{COMPILATION}/snaptron?{REGION}&sids=Brain,Liver&sfilter=smts:lung"
                    "&fields=snaptron_id,samples,samples_count").text == expected


@pytest.mark.parametrize("sids, message", [
    ("Brian", "unknown sample group 'Brian'; did you mean Brain, Breast?"),
    ("Liver,brain", "unknown sample group 'brain'; did you mean Brain"),
    ("Brain,5", "unknown sample group '5'"),
])
def test_an_unknown_group_is_a_400_naming_it_and_the_nearest_names(http, sids, message):
    answer = http.get(f"/{COMPILATION}/snaptron?{REGION}&sids={sids}")
    assert answer.status_code == 400 and answer.text.startswith("#ERROR 400 sids: ") and message in answer.text
