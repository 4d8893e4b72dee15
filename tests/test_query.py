"""The query language on its own: every parameter, every refusal naming its parameter, the plan, the SQL."""

from __future__ import annotations

import dataclasses
import re

import pytest
from psycopg2 import sql

from snapthunder import posted_queries as posted
from snapthunder import query as q
from snapthunder import statements
from snapthunder.features import EXONS, GENES
from snapthunder.junctions import COLUMNS
from snapthunder.plan import plan_shards
from snapthunder.query import QueryError, RangeFilter, Region
from snapthunder.region_sets import IndexedQuery

MAX_ITEMS = 50


def parse(text: str) -> q.Query:
    return q.parse(q.split_query_string(text), MAX_ITEMS)


def test_query_strings_decode_as_snaptron_does_once_as_a_whole_quotes_gone_a_plus_stays_a_plus():
    assert q.split_query_string(b"rfilter=strand:+&regions=chr1%3A1-2&&fields='start'") == [
        ("rfilter", "strand:+"), ("regions", "chr1:1-2"), ("fields", "start")]
    # httpx encodes < > : and the whole string is decoded before it is split, as Snaptron does.
    assert q.split_query_string("rfilter=samples_count%3E%3A5%26rfilter%3Dstrand%3A-") == [
        ("rfilter", "samples_count>:5"), ("rfilter", "strand:-")]
    with pytest.raises(QueryError, match="^query string: is not valid UTF-8"):
        q.split_query_string("regions=%ff")
    with pytest.raises(QueryError, match="^'flag': has no value"):
        q.split_query_string("regions=chr1:1-2&flag")
    with pytest.raises(QueryError, match="^rfilter: 'samples_count>=5' contains '='"):
        q.split_query_string("rfilter=samples_count>=5")


def test_list_parameters_accumulate_and_the_others_keep_the_last_value():
    query = parse("regions=chr1:1-9&header=0&header=1&ids=4&id=5&rfilter=length>:3&rfilter=strand:+")
    assert query.header and query.selections[0].ids == (4, 5) and len(query.selections[0].filters) == 2


def test_sfilter_clauses_accumulate_take_phrases_and_yield_to_sids():
    query = parse("regions=chr1:1-9&sfilter=all:Skin%20-%20Sun%20Exposed,%20leg&sfilter=smrin<8.5")
    assert query.sample_filters == (q.SampleFilter("all", ":", "Skin - Sun Exposed, leg"),
                                    q.SampleFilter("smrin", "<", "8.5")) and not query.sids
    named = parse("regions=chr1:1-9&sids=Brain,Adipose_Tissue,Brain&sfilter=smts:lung")
    assert named.sample_groups == ("Brain", "Adipose_Tissue") and not named.sids and not named.sample_filters
    assert parse("sids=SRP012682").sample_groups == ("SRP012682",)   # genome-wide, like numbered sids
    both = parse("regions=chr1:1-9&sfilter=smts:brain&sids=4")
    assert both.sids == (4,) and both.sample_filters == ()
    assert parse("sfilter=smts:brain").sample_filters  # genome-wide, like sids alone
    assert posted.parse_bulk([{"regions": "chr1:1-2"}], [("sfilter", "smts:lung")], MAX_ITEMS).sample_filters


def test_gene_names_among_regions_are_kept_upper_cased_once_for_the_api_to_resolve():
    selection = parse("regions=cd99,chr1:1-9,CD99,HLA-A&contains=1").selections[0]
    assert selection.genes == ("CD99", "HLA-A") and selection.regions == (Region("chr1", 1, 9),)
    assert parse("regions=ALK&return_format=1").selections[0].genes == ("ALK",)
    legacy = posted.parse_legacy([{"genes": ["alk"]}], [], MAX_ITEMS)
    assert legacy[0].selections[0].genes == ("ALK",)


def test_snaptrons_other_parameters_are_accepted_with_their_meaning():
    assert parse("regions=chr1:1-9&result_count=0").count_only
    query = parse("regions=chr1:1-9&return_format=1&score_by=coverage_sum&label=x.1&calc=1&calc_op=sum")
    assert (query.return_format, query.score_by) == (1, "coverage_sum")
    query = parse("ids=5,6&return_format=2&coordinate_string=chr2:10-20")
    assert query.coordinate == Region("chr2", 10, 20)
    grouped = parse("group=r1&regions=chr1:1-9")
    assert grouped.group == "r1" and grouped.output_columns[0] == "Group"
    assert parse("rfilter=snaptron_id:5-7-9").selections[0].ids == (5, 7, 9)


def test_a_bulk_groups_post_is_base64_of_queries_each_with_its_label():
    import base64
    text = "group=r1&regions=chr1:5-9&sids=0,1|||regions=chr2:1-2|||group=b_2&ids=7"
    queries = posted.parse_groups(base64.b64encode(text.encode()).decode(), MAX_ITEMS)
    assert [query.group for query in queries] == ["r1", "r1", "b_2"]
    assert queries[0].sids == (0, 1) and queries[2].selections[0].ids == (7,)
    for bad, parameter in (("regions=chr1:1-2", "groups[0].group"), ("group=a b&regions=chr1:1-2", "groups[0].group")):
        with pytest.raises(QueryError, match=rf"^{re.escape(parameter)}: "):
            posted.parse_groups(base64.b64encode(bad.encode()).decode(), MAX_ITEMS)


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
    ("annotated!:0", RangeFilter("annotated", "<>", 0)),
    ("left_annotated!:0", RangeFilter("left_annotated", "<>", 0)),
    ("right_annotated:1", RangeFilter("right_annotated", "=", 1)),
])
def test_every_filter_field_and_operator(text, expected):
    assert parse(f"rfilter={text}").selections[0].filters == (expected,)


def test_a_gencode_gene_id_makes_itself_and_every_later_item_exact():
    selections = parse("regions=chr1:1-5,ensg00000171094.15,SYNG1,chr2:5-9&contains=1").selections
    assert [(selection.regions, selection.genes, selection.contains, selection.exact) for selection in selections] == [
        ((Region("chr1", 1, 5),), (), True, False),
        ((Region("chr2", 5, 9),), ("ENSG00000171094.15", "SYNG1"), True, True)]
    only, = parse("regions=ENSMUSG00000000001.4&rfilter=strand:+").selections
    assert only.genes == ("ENSMUSG00000000001.4",) and only.exact and len(only.filters) == 1
    unversioned, = parse("regions=ENSG00000171094,chr1:1-5").selections   # not an id: a symbol, no exact
    assert unversioned.genes == ("ENSG00000171094",) and not unversioned.exact


def test_filters_are_and_ed_from_commas_and_repeats():
    filters = parse("rfilter=samples_count>:5,strand:-&rfilter=length<100").selections[0].filters
    assert [rule.field for rule in filters] == ["samples_count", "strand", "length"]


@pytest.mark.parametrize("text, parameter, problem", [
    ("regions=chr1:1-5000;DRD4", "regions", "is not chrN:start-end"),
    ("regions=chr1:1,000,000-1,100,000", "regions", "commas separate regions"),
    ("regions=chr1:20-10", "regions", "start is after end"),
    ("regions=chr1:1-99999999999", "regions", "not chrN:start-end"),
    ("regions=chr1:1-3000000000", "regions", "coordinates go up to"),
    ("regions=chr1:1", "regions", "not chrN:start-end"),
    ("regions=chr1;drop:1-2", "regions", "not chrN:start-end"),
    ("regions=chr1:1-2&contains=yes", "contains", "not one of 0, 1"),
    ("regions=chr1:1-2&exact=2", "exact", "not one of 0, 1"),
    ("regions=chr1:1-2&either=3", "either", "not one of 0, 1, 2"),
    ("rfilter=samples_count", "rfilter", "is not field<op>value"),
    ("rfilter=depth>:5", "rfilter", "unknown field 'depth'"),
    ("rfilter=length>:1.5", "rfilter", "whole number for length"),
    ("rfilter=coverage_avg>:nan", "rfilter", "not a number for coverage_avg"),
    ("rfilter=coverage_avg>:1e999", "rfilter", "not a number for coverage_avg"),
    ("rfilter=strand>:+", "rfilter", "strand takes only : or !:"),
    ("rfilter=strand:x", "rfilter", "compared with one of + - ?"),
    ("rfilter=annotated:aC19", "rfilter", "compared with one of 0 1"),
    ("regions=chr1:1-2&sids=5,SRP012682", "sids", "not a sample id"),
    ("regions=chr1:1-2&sfilter=SMTS", "sfilter", "is not field<op>value"),
    ("regions=chr1:1-2&sfilter=smrin!:5", "sfilter", "sfilter has no !:"),
    ("regions=chr1:1-2&sfilter=smts:a:b", "sfilter", "hold none of : < > !"),
    ("regions=chr1:1-2&sfilter=smts:%20", "sfilter", "must be non-empty"),
    ("regions=chr1:1-2&sfilter=smts:a%00", "sfilter", "holds a NUL character"),
    ("regions=chr1:1-2&sids=Brain,a%00", "sids", "holds a NUL character"),
    ("regions=chr1:1-2&return_format=4", "return_format", "not one of 0, 1, 2"),
    ("rfilter=length>:5&return_format=1", "return_format", "give regions="),
    ("ids=5&return_format=2", "return_format", "coordinate_string"),
    ("regions=chr1:1-2&return_format=1&fields=rc", "return_format", "drop fields=rc"),
    ("regions=chr1:1-2&score_by=depth", "score_by", "unknown column"),
    ("ids=5&coordinate_string=chr1", "coordinate_string", "not chrN:start-end"),
    ("regions=chr1:1-2&label=a%20b", "label", "a label is"),
    ("regions=chr1:1-2&calc_op=max", "calc_op", "not one of"),
    ("rfilter=snaptron_id:5-x", "rfilter", "not a snaptron_id"),
    ("ids=1,x", "ids", "not a snaptron_id"),
    ("regions=chr1:1-2&fields=start,nope", "fields", "unknown field 'nope'"),
    ("regions=chr1:1-2&fields=start,start", "fields", "listed twice"),
    ("regions=chr1:1-2&fields=", "fields", "unknown field ''"),
    ("regions=chr1:1-2&fields=rc,start", "fields", "unknown field 'rc'"),
    ("regions=chr1:1-2&header=no", "header", "not one of 0, 1"),
    ("regions=chr1:1-2&limit=0", "limit", "not a whole number of rows"),
    ("regions=chr1:1-2&limit=-3", "limit", "not a whole number of rows"),
    ("regions=chr1:1-2&format=xml", "format", "not one of tsv, json"),
    ("regions=chr1:1-2&within=1", "'within'", "unknown parameter"),
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
    assert statements.shards_to_ask(parse("rfilter=coverage_sum>:10"), plan) == {name: None for name in plan.shards}
    assert statements.shards_to_ask(parse("ids=1,2"), plan) == {name: None for name in plan.shards}


def test_regions_ask_only_the_shards_holding_them_contigs_with_their_parent():
    plan = plan_shards(4)
    asked = statements.shards_to_ask(parse("regions=chr2:1-5,chr1:1-5,chr1_KI270706v1_random:1-9,chrUn_GL000220v1:1-9"), plan)
    expected: dict[str, set[str]] = {}
    for name in ("chr1", "chr1_KI270706v1_random", "chr2", "chrUn_GL000220v1"):
        expected.setdefault(plan.shard_for(name), set()).add(name)
    assert asked == {shard: tuple(sorted(names)) for shard, names in expected.items()}
    assert asked[plan.shard_for("chr1")][:2] == ("chr1", "chr1_KI270706v1_random")


def test_bulk_objects_take_get_names_or_snaptrons_legacy_keys_and_are_or_ed():
    objects = [{"regions": ["chr1:1-5", "chr2:3-4"], "contains": True, "rfilter": "strand:+"},
               {"intervals": ["chr3:7-8"], "samples_count": [{"op": ">:", "val": 5}], "ids": [4, 5]}]
    query = posted.parse_bulk(objects, q.split_query_string("fields=snaptron_id&sids=2"), MAX_ITEMS)
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
    ([{"regions": "chr1:1-2", "sfilter": "SMTS:Brain"}], "", "queries[0].'sfilter'"),
    ([{"regions": "chr1:1-2"}] * (MAX_ITEMS + 1), "", "queries"),
])
def test_bulk_refusals_name_the_query_and_its_key(objects, pairs, parameter):
    with pytest.raises(QueryError) as refused:
        posted.parse_bulk(objects, q.split_query_string(pairs), MAX_ITEMS)
    assert str(refused.value).startswith(f"{parameter}: ")


def test_samples_take_ids_all_or_check_for_update_and_a_path_replaces_the_query_string():
    assert q.parse_samples(q.split_query_string("ids=5,2,5"), MAX_ITEMS) == q.SamplesRequest("ids", (2, 5))
    assert q.parse_samples(q.split_query_string("all=1"), MAX_ITEMS).kind == "all"
    assert q.parse_samples(q.split_query_string("check_for_update=1"), MAX_ITEMS).kind == "update"
    assert q.parse_samples([("ids", "4")], MAX_ITEMS).rail_ids == (4,)
    for text, parameter in (("", "ids"), ("all=0", "ids"), ("regions=chr1:1-2", "regions"),
                            ("rfilter=length>:4", "rfilter")):
        with pytest.raises(QueryError, match=f"^{parameter}: "):
            q.parse_samples(q.split_query_string(text), MAX_ITEMS)
    search = q.parse_samples(q.split_query_string("sfilter=smts:Brain%20Cortex&sfilter=smrin>:8&header=0"), MAX_ITEMS)
    assert search == q.SamplesRequest("search", filters=(q.SampleFilter("smts", ":", "Brain Cortex"),
                                                         q.SampleFilter("smrin", ">:", "8")), header=False)
    assert q.parse_samples(q.split_query_string("sfilter=smts:x&ids=4"), MAX_ITEMS).kind == "ids"  # ids beat sfilter
    legacy = posted.parse_legacy_samples([{"ids": ["9", "5"], "sample_fields": "0,1,11"}], MAX_ITEMS)
    assert legacy == q.SamplesRequest("ids", (5, 9), (0, 1, 11))


def test_values_reach_the_sql_only_as_parameters():
    hostile = "chr1'; DROP TABLE intron; --"
    query = q.Query(selections=(q.Selection(regions=(Region(hostile, 1, 2),),
                                            filters=(RangeFilter("strand", "=", "'+"),)),), sids=(1,))
    statement, parameters = statements.select_statement(IndexedQuery(query), hostile, "gtex:I'--")
    text = _render(statement)
    assert "DROP" not in text and "'--" not in text and "'+" not in text
    assert hostile in parameters.values() and "gtex:I'--" in parameters.values()
    assert "%(p0)s" in text and "project_samples" in text


@pytest.mark.parametrize("feature", [GENES, EXONS])
def test_gene_and_exon_queries_read_their_own_table_and_its_longest_row(feature):
    query = dataclasses.replace(parse("regions=chr1:5-9,chr1:50-90"), feature=feature)
    overlap = _render(statements.select_statement(IndexedQuery(query), "chr1", "g:G")[0])
    assert f'FROM "{feature.table}" AS intron' in overlap and "FROM \"intron\"" not in overlap
    assert f'max_length FROM "{feature.stats_table}"' in overlap
    assert _render(statements.held_chromosomes(feature)) == f'SELECT chromosome FROM "{feature.stats_table}"'
    assert query.output_columns[10:12] == ("exon_count", "gene_id:gene_name:gene_type:bp_length")


def test_plain_overlap_is_bounded_by_the_longest_junction_and_modifiers_by_the_region():
    overlap = _render(statements.select_statement(IndexedQuery(parse("regions=chr1:5-9")), "chr1", "g:I")[0])
    assert 'max_length FROM "chromosome_stats"' in overlap and 'FROM "intron" AS intron' in overlap
    contained = _render(statements.select_statement(IndexedQuery(parse("regions=chr1:5-9&contains=1")), "chr1", "g:I")[0])
    assert "max_length" not in contained and 'intron."end" <= ' in contained
    json_rows = _render(statements.select_statement(IndexedQuery(parse("regions=chr1:5-9&limit=3")), "chr1", "g:I", "json",
                                                      row_limit=3)[0])
    assert json_rows.startswith("SELECT json_build_array(") and json_rows.endswith(
        'ORDER BY intron.start, intron."end" LIMIT %(p6)s')
    bed = _render(statements.select_statement(IndexedQuery(parse("regions=chr1:5-9&score_by=coverage_avg&sids=3")), "chr1", None,
                                              "bed")[0])
    assert bed.startswith("SELECT intron.chromosome, intron.start - 1, intron.\"end\", 'junc', "
                          "python_float_text(\"projected\".\"coverage_avg\"), intron.strand")


def _render(composed: sql.Composable) -> str:
    """SQL text with placeholders as %(name)s: what psycopg2 would send, minus the values."""
    if isinstance(composed, sql.Composed):
        return "".join(_render(part) for part in composed.seq)
    if isinstance(composed, sql.Placeholder):
        return f"%({composed.name})s"
    if isinstance(composed, sql.Literal):
        return str(composed.wrapped)
    if isinstance(composed, sql.Identifier):
        return ".".join('"' + name.replace('"', '""') + '"' for name in composed.strings)
    return composed.string


@pytest.mark.parametrize("modifier", ["", "&contains=1", "&either=1", "&either=2", "&exact=1"])
def test_a_chromosomes_statement_is_the_same_sql_for_two_regions_or_ten_thousand(modifier):
    """Regions travel as arrays, never as one OR branch each; overlapping ones are merged first.

    One region is tested without the arrays' per-row lookup (the common case, and twice as fast).
    """
    def statement(count: int):
        regions = ",".join(f"chr1:{start}-{start + 500}" for start in range(1, 1000 * count, 1000))
        query = q.parse(q.split_query_string(f"regions={regions}{modifier}"), 10_000)
        return statements.select_statement(IndexedQuery(query), "chr1", "g:I")
    (one, _), (two, _), (many, values) = statement(1), statement(2), statement(10_000)
    assert _render(two) == _render(many) and " OR " not in _render(many)
    assert "width_bucket" in _render(two) and "width_bucket" not in _render(one)
    assert max(len(value) for value in values.values() if isinstance(value, list)) == 10_000
    merged = IndexedQuery(parse("regions=chr1:1-10,chr1:5-20,chr1:21-30,chr1:40-50" + modifier))
    assert len(merged.on("chr1").windows) == (4 if "exact" in modifier else 2)  # exact reads each start alone


def test_a_query_with_unresolved_names_cannot_be_indexed_for_sql():
    for text in ("regions=CD99", "regions=chr1:1-9&sids=Brain", "regions=chr1:1-9&sfilter=smts:lung"):
        with pytest.raises(ValueError, match="must be resolved before it is indexed"):
            IndexedQuery(parse(text))
