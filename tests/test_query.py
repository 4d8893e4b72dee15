"""The query language on its own: every parameter, every refusal naming its parameter, the plan, the SQL."""

from __future__ import annotations

import pytest
from psycopg2 import sql

from snapthunder import query as q
from snapthunder.junctions import COLUMNS
from snapthunder.plan import plan_shards
from snapthunder.query import QueryError, RangeFilter, Region

MAX_ITEMS = 50


def parse(text: str) -> q.Query:
    return q.parse(q.split_query_string(text), MAX_ITEMS)


def test_query_strings_decode_as_snaptron_does_a_plus_stays_a_plus():
    assert q.split_query_string(b"rfilter=strand:+&regions=chr1%3A1-2&&flag") == [
        ("rfilter", "strand:+"), ("regions", "chr1:1-2"), ("flag", "")]
    with pytest.raises(QueryError, match="^regions: is not valid UTF-8"):
        q.split_query_string("regions=%ff")


def test_regions_are_or_ed_from_commas_and_repeats_and_contigs_are_names_like_any_other():
    query = parse("regions=chr1:10-20, chr2:5-5&regions=chr1_KI270706v1_random:1-100")
    assert query.selections[0].regions == (Region("chr1", 10, 20), Region("chr2", 5, 5),
                                           Region("chr1_KI270706v1_random", 1, 100))
    assert query.fields == COLUMNS and query.header and query.format == "tsv" and query.limit is None


def test_modifiers_and_output_options_are_read():
    query = parse("regions=chr1:1-9&contains=1&exact=0&either=2&header=0&limit=7&format=json&sids=3,1,3&ids=9,8")
    selection = query.selections[0]
    assert (selection.contains, selection.exact, selection.either, selection.ids) == (True, False, 2, (9, 8))
    assert (query.header, query.limit, query.format, query.sids) == (False, 7, "json", (3, 1))
    assert parse("regions=chr1:1-9&fields=rc").count_only
    assert parse("regions=chr1:1-9&fields=start,snaptron_id").output_columns == (
        "DataSource:Type", "start", "snaptron_id")


@pytest.mark.parametrize("text, expected", [
    ("length>:100", RangeFilter("length", ">=", 100)),
    ("samples_count<:5", RangeFilter("samples_count", "<=", 5)),
    ("coverage_sum>7", RangeFilter("coverage_sum", ">", 7)),
    ("coverage_avg<2.5", RangeFilter("coverage_avg", "<", 2.5)),
    ("coverage_median:3", RangeFilter("coverage_median", "=", 3.0)),
    ("length!:-4", RangeFilter("length", "<>", -4)),
    ("strand:+", RangeFilter("strand", "=", "+")),
    ("strand!:?", RangeFilter("strand", "<>", "?")),
    ("annotated:1", RangeFilter("annotated", "=", 1)),
    ("left_annotated!:0", RangeFilter("left_annotated", "<>", 0)),
    ("right_annotated:1", RangeFilter("right_annotated", "=", 1)),
])
def test_every_filter_field_and_operator(text, expected):
    assert parse(f"rfilter={text}").selections[0].filters == (expected,)


def test_filters_are_and_ed_from_commas_and_repeats():
    filters = parse("rfilter=samples_count>:5,strand:-&rfilter=length<100").selections[0].filters
    assert [rule.field for rule in filters] == ["samples_count", "strand", "length"]


@pytest.mark.parametrize("text, parameter, problem", [
    ("regions=BRCA1", "regions", "gene symbols"),
    ("regions=chr1:20-10", "regions", "start is after end"),
    ("regions=chr1:1-99999999999", "regions", "not chrN:start-end"),
    ("regions=chr1:1-3000000000", "regions", "coordinates go up to"),
    ("regions=chr1:1", "regions", "not chrN:start-end"),
    ("regions=chr1;drop:1-2", "regions", "not chrN:start-end"),
    ("regions=chr1:1-2&contains=yes", "contains", "not one of 0, 1"),
    ("regions=chr1:1-2&exact=2", "exact", "not one of 0, 1"),
    ("regions=chr1:1-2&either=3", "either", "not one of 0, 1, 2"),
    ("rfilter=samples_count>=5", "rfilter", "is not a whole number"),
    ("rfilter=samples_count", "rfilter", "is not field<op>value"),
    ("rfilter=depth>:5", "rfilter", "unknown field 'depth'"),
    ("rfilter=length>:1.5", "rfilter", "whole number for length"),
    ("rfilter=coverage_avg>:nan", "rfilter", "not a number for coverage_avg"),
    ("rfilter=coverage_avg>:1e999", "rfilter", "not a number for coverage_avg"),
    ("rfilter=strand>:+", "rfilter", "strand takes only : or !:"),
    ("rfilter=strand:x", "rfilter", "compared with one of + - ?"),
    ("rfilter=annotated:aC19", "rfilter", "compared with one of 0 1"),
    ("regions=chr1:1-2&sids=SRP012682", "sids", "not a sample id"),
    ("ids=1,x", "ids", "not a snaptron_id"),
    ("regions=chr1:1-2&fields=start,nope", "fields", "unknown field 'nope'"),
    ("regions=chr1:1-2&fields=start,start", "fields", "listed twice"),
    ("regions=chr1:1-2&fields=", "fields", "unknown field ''"),
    ("regions=chr1:1-2&fields=rc,start", "fields", "unknown field 'rc'"),
    ("regions=chr1:1-2&header=no", "header", "not one of 0, 1"),
    ("regions=chr1:1-2&limit=0", "limit", "not a whole number of rows"),
    ("regions=chr1:1-2&limit=-3", "limit", "not a whole number of rows"),
    ("regions=chr1:1-2&format=xml", "format", "not one of tsv, json"),
    ("regions=chr1:1-2&group=x", "'group'", "unknown parameter"),
    ("regions=chr1:1-2&header=0&header=1", "header", "given more than once"),
    ("contains=1", "regions", "give regions="),
    ("regions=" + ",".join(f"chr1:{n}-{n}" for n in range(1, MAX_ITEMS + 2)), "regions", "at most 50"),
    ("rfilter=" + ",".join(["length>:1"] * (MAX_ITEMS + 1)), "rfilter", "at most 50"),
    ("regions=chr1:1-2" + "&sids=1" * (MAX_ITEMS + 1), "sids", "more than 50 times"),
])
def test_every_refusal_names_its_parameter(text, parameter, problem):
    with pytest.raises(QueryError) as refused:
        parse(text)
    assert str(refused.value).startswith(f"{parameter}: ") and problem in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_filter_only_query_is_genome_wide_and_asks_every_shard():
    plan = plan_shards(4)
    assert q.shards_to_ask(parse("rfilter=coverage_sum>:10"), plan) == {name: None for name in plan.shards}
    assert q.shards_to_ask(parse("ids=1,2"), plan) == {name: None for name in plan.shards}


def test_regions_ask_only_the_shards_holding_them_contigs_with_their_parent():
    plan = plan_shards(4)
    asked = q.shards_to_ask(parse("regions=chr2:1-5,chr1:1-5,chr1_KI270706v1_random:1-9,chrUn_GL000220v1:1-9"), plan)
    expected: dict[str, set[str]] = {}
    for name in ("chr1", "chr1_KI270706v1_random", "chr2", "chrUn_GL000220v1"):
        expected.setdefault(plan.shard_for(name), set()).add(name)
    assert asked == {shard: tuple(sorted(names)) for shard, names in expected.items()}
    assert asked[plan.shard_for("chr1")][:2] == ("chr1", "chr1_KI270706v1_random")


def test_bulk_objects_take_get_names_or_snaptrons_legacy_keys_and_are_or_ed():
    objects = [{"regions": ["chr1:1-5", "chr2:3-4"], "contains": True, "rfilter": "strand:+"},
               {"intervals": ["chr3:7-8"], "samples_count": [{"op": ">:", "val": 5}], "ids": [4, 5]}]
    query = q.parse_bulk(objects, q.split_query_string("fields=snaptron_id&sids=2"), MAX_ITEMS)
    first, second = query.selections
    assert first.regions == (Region("chr1", 1, 5), Region("chr2", 3, 4)) and first.contains
    assert second.filters == (RangeFilter("samples_count", ">=", 5),) and second.ids == (4, 5)
    assert query.fields == ("snaptron_id",) and query.sids == (2,)


@pytest.mark.parametrize("objects, pairs, parameter", [
    ({"regions": "chr1:1-2"}, "", "queries"),
    ([], "", "queries"),
    (["chr1:1-2"], "", "queries[0]"),
    ([{"regions": "chr1:1-2"}, {"colour": "red"}], "", "queries[1].'colour'"),
    ([{"regions": "chr1:1-2", "fields": "start"}], "", "queries[0].'fields'"),
    ([{"regions": [["chr1:1-2"]]}], "", "queries[0].'regions'"),
    ([{"contains": "1"}], "", "queries[0]"),
    ([{"regions": "chr1:2-1"}], "", "queries[0].regions"),
    ([{"regions": "chr1:1-2"}], "regions=chr1:1-2", "'regions'"),
    ([{"regions": "chr1:1-2"}] * (MAX_ITEMS + 1), "", "queries"),
])
def test_bulk_refusals_name_the_query_and_its_key(objects, pairs, parameter):
    with pytest.raises(QueryError) as refused:
        q.parse_bulk(objects, q.split_query_string(pairs), MAX_ITEMS)
    assert str(refused.value).startswith(f"{parameter}: ")


def test_samples_take_ids_or_all_but_not_both_nor_neither():
    assert q.parse_samples(q.split_query_string("ids=5,2,5"), MAX_ITEMS) == (5, 2)
    assert q.parse_samples(q.split_query_string("all=1"), MAX_ITEMS) is None
    for text in ("", "all=1&ids=3", "all=0"):
        with pytest.raises(QueryError, match="^ids: give either"):
            q.parse_samples(q.split_query_string(text), MAX_ITEMS)


def test_values_reach_the_sql_only_as_parameters():
    hostile = "chr1'; DROP TABLE intron; --"
    query = q.Query(selections=(q.Selection(regions=(Region(hostile, 1, 2),),
                                            filters=(RangeFilter("strand", "=", "'+"),)),), sids=(1,))
    statement, parameters = q.select_statement(query, hostile, "gtex:I'--")
    text = _render(statement)
    assert "DROP" not in text and "'--" not in text and "'+" not in text
    assert hostile in parameters.values() and "gtex:I'--" in parameters.values()
    assert "%(p0)s" in text and "project_samples" in text


def test_plain_overlap_is_bounded_by_the_longest_junction_and_modifiers_by_the_region():
    overlap = _render(q.select_statement(parse("regions=chr1:5-9"), "chr1", "g:I")[0])
    assert "max_length FROM chromosome_stats" in overlap
    contained = _render(q.select_statement(parse("regions=chr1:5-9&contains=1"), "chr1", "g:I")[0])
    assert "max_length" not in contained and 'intron."end" <= ' in contained
    json_rows = _render(q.select_statement(parse("regions=chr1:5-9&limit=3"), "chr1", "g:I", as_json=True,
                                           row_limit=3)[0])
    assert json_rows.startswith("SELECT json_build_array(") and json_rows.endswith("LIMIT %(p5)s")


def _render(composed: sql.Composable) -> str:
    """SQL text with placeholders as %(name)s: what psycopg2 would send, minus the values."""
    if isinstance(composed, sql.Composed):
        return "".join(_render(part) for part in composed.seq)
    if isinstance(composed, sql.Placeholder):
        return f"%({composed.name})s"
    if isinstance(composed, sql.Identifier):
        return ".".join('"' + name.replace('"', '""') + '"' for name in composed.strings)
    return composed.string
