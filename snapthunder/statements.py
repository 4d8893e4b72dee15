"""A checked Query (query.py) → which shards to ask, and the SQL each runs.

The same for junctions, genes and exons: the query's feature (features.py)
names the table (always aliased `intron` here) and its statistics table.

1. **Plan** (`shards_to_ask`): which shards hold the rows, and on each which
   chromosomes to read; `None` means every chromosome the shard holds (read
   with `held_chromosomes`), for queries that name no region.
2. **SQL** (`select_statement`, `count_statement`, `copy_statement`, the
   samples and registry statements): one statement per chromosome, built
   with `psycopg2.sql` and named parameters (run it with
   `cursor.execute(statement, parameters)`, or bind it with `cursor.mogrify`
   for COPY, which takes no server-side parameters). Rows come in (start,
   end) order straight from the (chromosome, start, end) index; one
   chromosome never spans two shards, so concatenating per chromosome in byte
   order of the names gives the global order.

Row forms: `tsv` is Snaptron's line (the leading `DataSource:Type` or group
label, then the requested columns as stored, which is the file's own text);
`json` one JSON array per row; `bed` UCSC BED (chromosome, start − 1, end,
`junc`, the score_by column, strand). `sids=` projects the sample lists on
the server (`project_samples`, 04-query.sql): measured on 30 k rows that is
as fast as doing it in Python on streamed rows, without holding the GIL or
shipping sample lists that the projection drops; its recomputed statistics
print as Snaptron prints them (`python_float_text`).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

from psycopg2 import sql

from snapthunder.features import Feature
from snapthunder.plan import ShardPlan
from snapthunder.filters import ANNOTATION_FIELDS, RangeFilter
from snapthunder.query import MAX_COORDINATE, Query, SamplesRequest
from snapthunder.region_sets import EXACT_KEY_FACTOR, PROBE_AND_CHECK, IndexedQuery, RegionTest

PROJECTED_COLUMNS = ("samples", "samples_count", "coverage_sum", "coverage_avg", "coverage_median")
RECOMPUTED_DECIMALS = ("coverage_avg", "coverage_median")
ROW_FORMS = ("tsv", "json", "bed")
# Below this many sids, a strpos() pre-check skips rows naming none of them
# before their lists are split: 5x faster for 1 sid, slower past ~20 (measured).
SIDS_PREFILTER_MAX = 16

REGISTRY_FIELDS = sql.SQL("SELECT name, type FROM sample_field ORDER BY position")
SAMPLES_LOADED_AT = sql.SQL("SELECT value FROM shard_metadata WHERE key = 'samples_loaded_at'")
SAMPLES_HEADER_VALUE = sql.SQL("(SELECT value FROM shard_metadata WHERE key = 'samples_header')")
# A region test's operands (region_sets.py): which column is searched for and which compared, per mode.
_TEST_COLUMNS = {"start": sql.SQL("intron.start"), "end": sql.SQL("intron.{}").format(sql.Identifier("end")),
                 "key": sql.SQL("(intron.start::bigint * {} + intron.{})").format(
                     sql.Literal(EXACT_KEY_FACTOR), sql.Identifier("end"))}


def held_chromosomes(feature: Feature) -> sql.Composed:
    """The chromosomes a shard holds rows of `feature` for, in no order: the API sorts them by bytes, the
    order it merges their streams in (answers.py)."""
    return sql.SQL("SELECT chromosome FROM {}").format(sql.Identifier(feature.stats_table))


def shards_to_ask(query: Query, plan: ShardPlan) -> dict[str, tuple[str, ...] | None]:
    """Shard → the chromosomes to read there, in byte order; None: every chromosome it holds."""
    if any(not selection.regions for selection in query.selections):
        return {name: None for name in plan.shards}
    chromosomes: dict[str, set[str]] = {}
    for selection in query.selections:
        for region in selection.regions:
            chromosomes.setdefault(plan.shard_for(region.chromosome), set()).add(region.chromosome)
    return {name: tuple(sorted(names)) for name, names in sorted(chromosomes.items())}


def select_statement(indexed: IndexedQuery, chromosome: str, leading: str | None,
                     form: str = "tsv", row_limit: int | None = None) -> tuple[sql.Composed, dict]:
    """The rows of a query on one chromosome, in (start, end) order, in one of ROW_FORMS.

    `leading` is the first column's text (`gtex:I`, or a group label); BED has none.
    The query comes indexed (region_sets.IndexedQuery, built once per query):
    each chromosome's statement then costs work in its own regions only.
    """
    query, parameters = indexed.query, Parameters()
    first = parameters.add(leading).name if form != "bed" else None
    select_list = _select_list(query.fields, bool(query.sids), form, first, query.score_by)
    statement = sql.SQL("SELECT {} {}").format(select_list, _from_where(indexed, chromosome, parameters, ordered=True))
    if row_limit is not None:
        statement = sql.SQL("{} LIMIT {}").format(statement, parameters.add(row_limit))
    return statement, parameters.values


def count_statement(indexed: IndexedQuery, chromosome: str | tuple[str, ...]) -> tuple[sql.Composed, dict]:
    """How many rows a query has on one chromosome (`fields=rc`), or on several (`counted_per_shard`).

    One statement for all of a shard's chromosomes reads the sample index's
    bitmap once, not once per chromosome, each time fetching every row of
    the sample to keep one chromosome's: `sids=17&fields=rc` at 31 M
    junctions, 4 shards, 950-1061 ms per chromosome vs 157-336 ms per shard.
    """
    parameters = Parameters()
    statement = sql.SQL("SELECT count(*) {}").format(_from_where(indexed, chromosome, parameters, ordered=False))
    return statement, parameters.values


def counted_per_shard(query: Query) -> bool:
    """A count whose selections name no region reads the same on every chromosome: one statement per shard."""
    return query.count_only and not any(selection.regions for selection in query.selections)


def samples_statement(request: SamplesRequest, data_source: str) -> tuple[sql.Composed, dict]:
    """The lines of a /samples answer, header first.

    `all`: samples.tsv verbatim. `ids`: Snaptron's form, `DataSource:Type` +
    the header, then `<data_source>` + each line in rail_id order, an unknown
    rail_id as its id and NA in every other column; `columns` keeps only
    those 0-based columns of each row (the legacy POST's sample_fields).
    """
    parameters = Parameters()
    if request.kind == "all":
        statement = sql.SQL("SELECT line FROM (SELECT 0 AS part, 0 AS rail_id, {} AS line UNION ALL "
                            "SELECT 1, rail_id, line FROM sample) AS lines WHERE line IS NOT NULL "
                            "ORDER BY part, rail_id").format(SAMPLES_HEADER_VALUE)
        return statement, parameters.values
    width = sql.SQL("array_length(string_to_array({}, E'\\t'), 1)").format(SAMPLES_HEADER_VALUE)
    line = sql.SQL("coalesce(sample.line, wanted.rail_id::text || repeat(E'\\tNA', {} - 1))").format(width)
    if request.columns is not None:
        line = sql.SQL("(SELECT string_agg(coalesce((string_to_array({}, E'\\t'))[picked.number + 1], 'NA'), "
                       "E'\\t' ORDER BY picked.position) FROM unnest({}::integer[]) WITH ORDINALITY "
                       "AS picked(number, position))").format(line, parameters.add(list(request.columns)))
    statement = sql.SQL(
        "SELECT line FROM (SELECT 0 AS part, 0 AS rail_id, {} || E'\\t' || {} AS line UNION ALL "
        "SELECT 1, wanted.rail_id, {} || E'\\t' || {} FROM unnest({}::integer[]) AS wanted(rail_id) "
        "LEFT JOIN sample ON sample.rail_id = wanted.rail_id) AS lines WHERE line IS NOT NULL "
        "ORDER BY part, rail_id").format(
        parameters.add("DataSource:Type"), SAMPLES_HEADER_VALUE, parameters.add(data_source), line,
        parameters.add(list(request.rail_ids)))
    return statement, parameters.values


def copy_statement(select: sql.Composable) -> sql.Composed:
    """`COPY (select) TO STDOUT`: the rows as tab-separated text, the fastest way out of PostgreSQL."""
    return sql.SQL("COPY ({}) TO STDOUT").format(select)


# The CSV delimiter and quote of copy_lines_statement.
LINE_SEPARATORS = (b"\x1f", b"\x1e")
# Bytes no sample line or header may hold (loaders/samples.py refuses them): with any of them, CSV would quote the line.
UNSENDABLE_BYTES = (*LINE_SEPARATORS, b"\r")


def copy_lines_statement(select: sql.Composable) -> sql.Composed:
    """`select`'s one column of lines, as COPY sends them with nothing escaped: each line and a newline.

    For /samples, whose lines hold tabs, which COPY's text format sends as
    `\\t` for the API to undo (18 of the 120 ms of a 2.4 MB answer: README).
    CSV quotes a value that holds the delimiter, the quote, a newline or a
    carriage return, or that is empty or `\\.`: the loader refuses the
    first three in a line (UNSENDABLE_BYTES), a line never holds a newline,
    and every line `select` gives starts with a rail_id, `rail_id` or a
    DataSource label and is never NULL, so nothing is ever quoted.
    """
    delimiter, quote = (sql.Literal(separator.decode()) for separator in LINE_SEPARATORS)
    return sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, DELIMITER {}, QUOTE {})").format(select, delimiter, quote)


class Parameters:
    """Hands out named placeholders (p0, p1, …) and collects their values."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> sql.Placeholder:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return sql.Placeholder(name)


def _from_where(indexed: IndexedQuery, chromosome: str | tuple[str, ...], parameters: Parameters,
                ordered: bool) -> sql.Composed:
    """FROM, WHERE and (when `ordered`) ORDER BY of one chromosome's rows; the SQL's size does not grow with regions.

    One window is one range scan. With several, each is one index probe of the rows starting in it,
    driven by the windows in order (`unnest … WITH ORDINALITY`): the nested
    loop keeps each probe's (start, end) index order, so `ORDER BY position`
    is the genomic order at no cost, where `ORDER BY start, end` over the
    join makes PostgreSQL sort every row (measured: 3x slower on one 25 Mb
    window, and nothing streams until the sort ends). Windows are disjoint
    and each reaches back no further than the previous one's end, so no row
    is read twice.
    """
    several = not isinstance(chromosome, str)
    query, reads = indexed.query, indexed.on(chromosome[0] if several else chromosome)
    table = sql.Identifier(query.feature.table)
    name = parameters.add(list(chromosome) if several else chromosome)
    conditions = []
    if query.cached_names_load is not None:
        # Regions from a worker's cached gene names: no row unless that load is still the shard's last
        # (04-query.sql; SQLSTATE gene_loci.NAMES_CHANGED otherwise). A constant condition, run once.
        conditions.append(sql.SQL("last_load_is({})").format(parameters.add(query.cached_names_load)))
    reach = (sql.SQL(" - (SELECT max_length FROM {} WHERE chromosome = {}) + 1").format(
                 sql.Identifier(query.feature.stats_table), name)
             if reads.windows and reads.reach_back else sql.SQL(""))
    if reads.windows is None or len(reads.windows) == 1:
        # One window is one plain range scan: the join below costs twice as much per row
        # (a 25 Mb count: 62 vs 114 ms for 618,859 rows, measured side by side).
        source = sql.SQL("FROM {} AS intron").format(table)
        conditions.append(sql.SQL("intron.chromosome = ANY ({}::text[])" if several else "intron.chromosome = {}"
                                  ).format(name))
        if reads.windows:
            [(low, high)] = reads.windows
            conditions.append(sql.SQL("intron.start >= {}{} AND intron.start <= {}").format(
                parameters.add(low), reach, parameters.add(high)))
        order = sql.SQL(" ORDER BY intron.start, intron.{}").format(sql.Identifier("end"))
    else:
        lows = [low for low, _ in reads.windows]
        source = sql.SQL(
            "FROM unnest({}::integer[], {}::integer[], {}::integer[]) WITH ORDINALITY "
            "AS wanted(low, high, previous, position) CROSS JOIN LATERAL (SELECT * FROM {} AS intron "
            "WHERE intron.chromosome = {} AND intron.start >= greatest(wanted.low{}, wanted.previous + 1) "
            "AND intron.start <= wanted.high ORDER BY intron.start, intron.{}) AS intron").format(
            parameters.add(lows), parameters.add([high for _, high in reads.windows]),
            parameters.add([-MAX_COORDINATE] + [high for _, high in reads.windows[:-1]]),
            table, name, reach, sql.Identifier("end"))
        order = sql.SQL(" ORDER BY wanted.position")
    if query.sids:
        sample_conditions, projected = _sample_conditions(query, reads.windows is None, ordered, parameters)
        conditions += sample_conditions
        if projected:
            source = sql.SQL("{} CROSS JOIN LATERAL project_samples(intron.samples, {}::integer[]) AS projected"
                             ).format(source, parameters.add(list(query.sids)))
    alternatives = [_test_condition(test, query, parameters) for test in reads.tests]
    alternatives += [_selection_condition(selection.filters, selection.ids, query, parameters)
                     for selection in reads.unplaced]
    conditions.append(_any_of(alternatives) if alternatives else sql.SQL("false"))
    return sql.SQL("{} WHERE {}{}").format(source, sql.SQL(" AND ").join(conditions),
                                           order if ordered else sql.SQL(""))


def _sample_conditions(query: Query, genome_wide: bool, ordered: bool,
                       parameters: Parameters) -> tuple[list[sql.Composable], bool]:
    """The conditions that keep the rows naming a wanted sid, and whether they read the projection.

    With no region, the sample index (GIN on sample_ids(samples), 02-schema.sql)
    finds the rows: `sids=17&fields=rc` at 1.5 M junctions in 2 ms instead of
    2.3-3.4 s splitting every list (one server); at 31 M through the API 286 ms,
    the original design's LIKE scan 14 s. Its test is exact, so a count whose
    filters read no recomputed column needs no projection at all. Within
    regions the region index reads fewer rows than the sample index would,
    and a strpos() pre-check is cheaper per row than sample_ids().
    """
    conditions = []
    if genome_wide:
        conditions.append(sql.SQL("sample_ids(intron.samples) && {}::integer[]").format(parameters.add(list(query.sids))))
    elif len(query.sids) <= SIDS_PREFILTER_MAX:
        conditions.append(sql.SQL("EXISTS (SELECT FROM unnest({}::text[]) AS needle "
                                  "WHERE strpos(intron.samples, needle) > 0)"
                                  ).format(parameters.add([f",{sid}:" for sid in query.sids])))
    reads_projection = any(rule.field in PROJECTED_COLUMNS
                           for selection in query.selections for rule in selection.filters)
    projected = ordered or reads_projection or not genome_wide
    if projected:
        conditions.append(sql.SQL("projected.samples_count > 0"))
    return conditions, projected


def _test_condition(test: RegionTest, query: Query, parameters: Parameters) -> sql.Composable:
    """A group's regions as one binary search (region_sets.py has the table), AND its filters and ids."""
    probe, check = (_TEST_COLUMNS[name] for name in PROBE_AND_CHECK[test.mode])
    kind = sql.SQL("bigint" if test.mode == "exact" else "integer")
    if len(test.lows) == 1:
        # The same test for one region, without the per-row array lookup: about 13 ms
        # less on a 25 Mb count of 618,859 rows (126 vs 113 ms through the join, measured
        # side by side; _from_where's plain range scan of one window does the rest).
        low = parameters.add(test.lows[0])
        high = low if test.mode == "exact" else parameters.add(test.highs[0])
        region = sql.SQL("({} >= {} AND {} <= {})").format(probe, low, check, high)
    else:
        lows = parameters.add(list(test.lows))
        highs = lows if test.mode == "exact" else parameters.add(list(test.highs))
        region = sql.SQL("{} <= ({}::{}[])[width_bucket({}, {}::{}[])]").format(check, highs, kind, probe, lows, kind)
    return _selection_condition(test.filters, test.ids, query, parameters, region)


def _selection_condition(filters: Sequence[RangeFilter], ids: Sequence[int], query: Query,
                         parameters: Parameters, region: sql.Composable | None = None) -> sql.Composable:
    conditions = [region] if region is not None else []
    conditions += [_filter_condition(rule, query, parameters) for rule in filters]
    if ids:
        conditions.append(sql.SQL("intron.snaptron_id = ANY ({}::bigint[])").format(parameters.add(list(ids))))
    return sql.SQL("({})").format(sql.SQL(" AND ").join(conditions)) if conditions else sql.SQL("true")


def _filter_condition(rule: RangeFilter, query: Query, parameters: Parameters) -> sql.Composable:
    column = _source_column(rule.field, bool(query.sids))
    if rule.field in ANNOTATION_FIELDS:
        # 0 means "no annotation source", 1 "any": the column holds 0, 1 or source codes.
        unannotated = (rule.value == 0) == (rule.operator == "=")
        return sql.SQL("{} {} '0'").format(column, sql.SQL("=" if unannotated else "<>"))
    return sql.SQL("{} {} {}").format(column, sql.SQL(rule.operator), parameters.add(rule.value))


@functools.lru_cache(maxsize=256)
def _select_list(fields: Sequence[str], projected: bool, form: str, first: str | None,
                 score_by: str) -> sql.Composable:
    """The output columns (cached: composing them is most of the cost of building a statement)."""
    if form == "bed":
        return sql.SQL("intron.chromosome, intron.start - 1, intron.{}, 'junc', {}, intron.strand").format(
            sql.Identifier("end"), _output_column(score_by, projected, "tsv"))
    listed = sql.SQL(", ").join([sql.Placeholder(first), *(_output_column(field, projected, form) for field in fields)])
    return sql.SQL("json_build_array({})").format(listed) if form == "json" else listed


def _output_column(field: str, projected: bool, form: str) -> sql.Composable:
    column = _source_column(field, projected)
    if projected and form != "json" and field in RECOMPUTED_DECIMALS:
        return sql.SQL("python_float_text({})").format(column)
    return column


@functools.lru_cache(maxsize=64)
def _source_column(field: str, projected: bool) -> sql.Composable:
    table = "projected" if projected and field in PROJECTED_COLUMNS else "intron"
    return sql.SQL("{}.{}").format(sql.Identifier(table), sql.Identifier(field))


def _any_of(conditions: Sequence[sql.Composable]) -> sql.Composable:
    return conditions[0] if len(conditions) == 1 else sql.SQL("({})").format(sql.SQL(" OR ").join(conditions))
