"""Snaptron's query language: parse and check a request, plan it per shard, build its SQL.

Three separate steps, so that the API and the bench's direct-SQL peer share
every one of them:

1. **Parse** (`split_query_string`, `parse`, `parse_bulk`): the request's
   parameters become a checked `Query`. Anything wrong raises
   `QueryError(parameter, problem)`, which the API turns into a 400 naming the
   parameter. The semantics are Snaptron's (SNAPTRON.md); the extensions are
   filter-only queries with no region, `limit=` and `format=json`.
2. **Plan** (`shards_to_ask`): which shards hold the rows, and on each which
   chromosomes to read; `None` means every chromosome the shard holds (read
   with `HELD_CHROMOSOMES`), for queries that name no region.
3. **SQL** (`select_statement`, `count_statement`, `copy_statement`): one
   statement per chromosome, built with `psycopg2.sql` and named parameters
   (run it with `cursor.execute(statement, parameters)`, or bind it with
   `cursor.mogrify` for COPY, which takes no server-side parameters). Rows
   come in (start, end) order straight from the (chromosome, start, end)
   index; one chromosome never spans two shards, so concatenating per
   chromosome in byte order of the names gives Snaptron's global order.

The TSV select list is Snaptron's output line: `DataSource:Type`, then the
requested columns, coverage values printed as the file prints them
(`snaptron_decimal`, 04-query.sql). `sids=` projects the sample lists on the
server (`project_samples`): measured on 30 k rows that is as fast as doing it in
Python on streamed rows, without holding the GIL or shipping sample lists
that the projection drops.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import unquote

from psycopg2 import sql

from snapthunder.junctions import COLUMNS
from snapthunder.plan import ShardPlan

DATA_SOURCE_COLUMN = "DataSource:Type"
FORMATS = ("tsv", "json")
SELECTION_PARAMETERS = ("regions", "contains", "exact", "either", "rfilter", "ids")
OUTPUT_PARAMETERS = ("sids", "fields", "header", "limit", "format")
SAMPLES_PARAMETERS = ("ids", "all")
LIST_PARAMETERS = ("regions", "rfilter", "ids", "sids")
# Snaptron's rfilter operators, longest first so that `>:` is not read as `>`.
OPERATORS = {">:": ">=", "<:": "<=", "!:": "<>", ":": "=", ">": ">", "<": "<"}
NUMERIC_FIELDS = {"length": int, "samples_count": int, "coverage_sum": int,
                  "coverage_avg": float, "coverage_median": float}
TEXT_FIELDS = ("strand", "annotated", "left_annotated", "right_annotated")
FILTER_FIELDS = tuple(NUMERIC_FIELDS) + TEXT_FIELDS
PROJECTED_COLUMNS = ("samples", "samples_count", "coverage_sum", "coverage_avg", "coverage_median")
DECIMAL_COLUMNS = ("coverage_avg", "coverage_median")
# Legacy bulk objects give range filters as {"samples_count": [{"op": ">:", "val": 5}]}.
LEGACY_RANGE_KEYS = tuple(NUMERIC_FIELDS)
MAX_COORDINATE = 2**31 - 1
# Below this many sids, a strpos() pre-check skips rows naming none of them
# before their lists are split: 5x faster for 1 sid, slower past ~20 (measured).
SIDS_PREFILTER_MAX = 16

HELD_CHROMOSOMES = sql.SQL("SELECT chromosome FROM chromosome_stats ORDER BY chromosome")

_REGION = re.compile(r"([A-Za-z0-9_.\-]{1,255}):(\d{1,10})-(\d{1,10})")
_FILTER = re.compile(r"([A-Za-z_]+)(" + "|".join(map(re.escape, OPERATORS)) + r")(.*)", re.DOTALL)
_INTEGER = re.compile(r"-?\d{1,18}")
_DECIMAL = re.compile(r"-?\d{1,300}(?:\.\d{0,300})?(?:[eE][-+]?\d{1,3})?")
_ID = re.compile(r"\d{1,18}")
_SAMPLE_ID = re.compile(r"\d{1,9}")


class QueryError(ValueError):
    """A request the language does not allow; `parameter` names the part at fault."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter
        self.problem = problem


@dataclasses.dataclass(frozen=True)
class Region:
    chromosome: str
    start: int
    end: int


@dataclasses.dataclass(frozen=True)
class RangeFilter:
    field: str
    operator: str      # the SQL operator: = <> >= <= > <
    value: int | float | str


@dataclasses.dataclass(frozen=True)
class Selection:
    """One query's rows: regions (OR-ed, each with the modifiers) AND filters AND ids."""

    regions: tuple[Region, ...] = ()
    contains: bool = False
    exact: bool = False
    either: int = 0
    filters: tuple[RangeFilter, ...] = ()
    ids: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Query:
    """A checked request: selections OR-ed (one for GET, several for bulk) and the output asked for."""

    selections: tuple[Selection, ...]
    sids: tuple[int, ...] = ()
    fields: tuple[str, ...] = COLUMNS
    count_only: bool = False
    header: bool = True
    limit: int | None = None
    format: str = "tsv"

    @property
    def output_columns(self) -> tuple[str, ...]:
        """The header line's names: `DataSource:Type` and the requested columns."""
        return (DATA_SOURCE_COLUMN, *self.fields)


def split_query_string(raw: str | bytes) -> list[tuple[str, str]]:
    """`a=1&b=2` → [(a, 1), (b, 2)], percent-decoded the way Snaptron does: `+` stays a plus.

    Snaptron clients write `rfilter=strand:+` unencoded; form decoding would
    turn it into a space.
    """
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise QueryError("query string", "is not UTF-8") from None
    pairs = []
    for piece in text.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        name = _decode(name, "parameter name")
        pairs.append((name, _decode(value, name)))
    return pairs


def parse(pairs: Iterable[tuple[str, str]], max_items: int) -> Query:
    """A GET request's parameters → Query."""
    grouped = _group(pairs, SELECTION_PARAMETERS + OUTPUT_PARAMETERS, "", max_items)
    selection = _selection(grouped, "", max_items)
    query = _output(grouped, (selection,), max_items)
    if not (selection.regions or selection.ids or selection.filters or query.sids):
        raise QueryError("regions", "give regions=chrN:start-end, or ids=, rfilter= or sids= "
                                    "(queries with no region read every shard)")
    return query


def parse_bulk(objects: Any, pairs: Iterable[tuple[str, str]], max_items: int) -> Query:
    """A bulk POST: a JSON list of query objects (OR-ed); output options come from the URL."""
    if not isinstance(objects, list) or not objects:
        raise QueryError("queries", "expected a non-empty JSON list of query objects")
    if len(objects) > max_items:
        raise QueryError("queries", f"{len(objects):,} queries; at most {max_items:,} per request")
    selections = []
    for index, entry in enumerate(objects):
        where = f"queries[{index}]."
        grouped = _group(_object_pairs(entry, where), SELECTION_PARAMETERS, where, max_items)
        selection = _selection(grouped, where, max_items)
        if not (selection.regions or selection.ids or selection.filters):
            raise QueryError(f"queries[{index}]", "give regions, ids or a range filter")
        selections.append(selection)
    return _output(_group(pairs, OUTPUT_PARAMETERS, "", max_items), tuple(selections), max_items)


def shards_to_ask(query: Query, plan: ShardPlan) -> dict[str, tuple[str, ...] | None]:
    """Shard → the chromosomes to read there, in byte order; None: every chromosome it holds."""
    if any(not selection.regions for selection in query.selections):
        return {name: None for name in plan.shards}
    chromosomes: dict[str, set[str]] = {}
    for selection in query.selections:
        for region in selection.regions:
            chromosomes.setdefault(plan.shard_for(region.chromosome), set()).add(region.chromosome)
    return {name: tuple(sorted(names)) for name, names in sorted(chromosomes.items())}


def select_statement(query: Query, chromosome: str, data_source: str,
                     as_json: bool = False, row_limit: int | None = None) -> tuple[sql.Composed, dict]:
    """The rows of `query` on one chromosome, in (start, end) order, as Snaptron's columns.

    TSV (through COPY): one column per output field. JSON: one json array per row.
    """
    parameters = _Parameters()
    select_list = _select_list(query.fields, bool(query.sids), as_json, parameters.add(data_source).name)
    statement = sql.SQL("SELECT {} {} ORDER BY intron.start, intron.{}").format(
        select_list, _from_where(query, chromosome, parameters), sql.Identifier("end"))
    if row_limit is not None:
        statement = sql.SQL("{} LIMIT {}").format(statement, parameters.add(row_limit))
    return statement, parameters.values


def count_statement(query: Query, chromosome: str) -> tuple[sql.Composed, dict]:
    """How many rows `query` has on one chromosome (`fields=rc`)."""
    parameters = _Parameters()
    statement = sql.SQL("SELECT count(*) {}").format(_from_where(query, chromosome, parameters))
    return statement, parameters.values


def parse_samples(pairs: Iterable[tuple[str, str]], max_items: int) -> tuple[int, ...] | None:
    """`/samples` parameters → the rail_ids asked for, or None for `all=1`."""
    grouped = _group(pairs, SAMPLES_PARAMETERS, "", max_items)
    every_sample = _choice(grouped, "all", ("0", "1"), "") == "1"
    rail_ids = tuple(dict.fromkeys(_number(item, _SAMPLE_ID, "ids", "a sample id (rail_id)")
                                   for item in _items(grouped, "ids", "", max_items)))
    if every_sample == bool(rail_ids):
        raise QueryError("ids", "give either ids=rail_id,... or all=1")
    return None if every_sample else rail_ids


def samples_statement(rail_ids: tuple[int, ...] | None) -> tuple[sql.Composed, dict]:
    """The samples.tsv header line, then the lines of `rail_ids` (None: every sample) by rail_id."""
    parameters = _Parameters()
    header = sql.SQL("SELECT 0 AS part, 0 AS rail_id, value AS line FROM shard_metadata WHERE key = {}"
                     ).format(parameters.add("samples_header"))
    lines = sql.SQL("SELECT 1, rail_id, line FROM sample")
    if rail_ids is not None:
        lines = sql.SQL("{} WHERE rail_id = ANY ({}::integer[])").format(lines, parameters.add(list(rail_ids)))
    statement = sql.SQL("SELECT line FROM ({} UNION ALL {}) AS lines ORDER BY part, rail_id").format(header, lines)
    return statement, parameters.values


def copy_statement(select: sql.Composable) -> sql.Composed:
    """`COPY (select) TO STDOUT`: the rows as tab-separated text, the fastest way out of PostgreSQL."""
    return sql.SQL("COPY ({}) TO STDOUT").format(select)


class _Parameters:
    """Hands out named placeholders (p0, p1, …) and collects their values."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> sql.Placeholder:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return sql.Placeholder(name)


def _from_where(query: Query, chromosome: str, parameters: _Parameters) -> sql.Composed:
    source = sql.SQL("FROM intron")
    conditions = [sql.SQL("intron.chromosome = {}").format(parameters.add(chromosome))]
    if query.sids:
        source = sql.SQL("FROM intron CROSS JOIN LATERAL project_samples(intron.samples, {}::integer[]) AS projected"
                         ).format(parameters.add(list(query.sids)))
        if len(query.sids) <= SIDS_PREFILTER_MAX:
            conditions.append(sql.SQL("EXISTS (SELECT FROM unnest({}::text[]) AS needle "
                                      "WHERE strpos(intron.samples, needle) > 0)"
                                      ).format(parameters.add([f",{sid}:" for sid in query.sids])))
        conditions.append(sql.SQL("projected.samples_count > 0"))
    alternatives = [_selection_condition(selection, chromosome, query, parameters)
                    for selection in query.selections
                    if not selection.regions or any(r.chromosome == chromosome for r in selection.regions)]
    conditions.append(_any_of(alternatives) if alternatives else sql.SQL("false"))
    return sql.SQL("{} WHERE {}").format(source, sql.SQL(" AND ").join(conditions))


def _selection_condition(selection: Selection, chromosome: str, query: Query,
                         parameters: _Parameters) -> sql.Composable:
    conditions = []
    regions = [region for region in selection.regions if region.chromosome == chromosome]
    if regions:
        conditions.append(_any_of([_region_condition(region, selection, parameters) for region in regions]))
    conditions += [_filter_condition(rule, query, parameters) for rule in selection.filters]
    if selection.ids:
        conditions.append(sql.SQL("intron.snaptron_id = ANY ({}::bigint[])").format(parameters.add(list(selection.ids))))
    return sql.SQL("({})").format(sql.SQL(" AND ").join(conditions)) if conditions else sql.SQL("true")


def _region_condition(region: Region, selection: Selection, parameters: _Parameters) -> sql.Composable:
    """Snaptron's overlap, AND-ed with each modifier asked for; bounds on start ride the index.

    Plain overlap (end >= qstart) has no lower bound on start: the longest
    junction of the chromosome (chromosome_stats) gives one.
    """
    start, end = parameters.add(region.start), parameters.add(region.end)
    end_column = sql.SQL("intron.{}").format(sql.Identifier("end"))
    if selection.contains or selection.exact or selection.either == 1:
        lower = sql.SQL("intron.start >= {}").format(start)
    else:
        lower = sql.SQL("intron.start >= {} - (SELECT max_length FROM chromosome_stats WHERE chromosome = {}) + 1"
                        ).format(start, parameters.add(region.chromosome))
    conditions = [lower, sql.SQL("intron.start <= {}").format(end), sql.SQL("{} >= {}").format(end_column, start)]
    if selection.contains or selection.either == 2:
        conditions.append(sql.SQL("{} <= {}").format(end_column, end))
    if selection.exact:
        conditions.append(sql.SQL("intron.start = {} AND {} = {}").format(start, end_column, end))
    return sql.SQL("({})").format(sql.SQL(" AND ").join(conditions))


def _filter_condition(rule: RangeFilter, query: Query, parameters: _Parameters) -> sql.Composable:
    column = _source_column(rule.field, bool(query.sids))
    if rule.field in ("left_annotated", "right_annotated"):
        # Snaptron: 0 means "no annotation source", 1 "any source"; the column holds 0 or codes.
        unannotated = (rule.value == 0) == (rule.operator == "=")
        return sql.SQL("{} {} '0'").format(column, sql.SQL("=" if unannotated else "<>"))
    return sql.SQL("{} {} {}").format(column, sql.SQL(rule.operator), parameters.add(rule.value))


@functools.lru_cache(maxsize=256)
def _select_list(fields: tuple[str, ...], projected: bool, as_json: bool, data_source: str) -> sql.Composable:
    """The output columns (cached: composing them is most of the cost of building a statement)."""
    columns: list[sql.Composable] = [sql.Placeholder(data_source)]
    for field in fields:
        column = _source_column(field, projected)
        columns.append(sql.SQL("snaptron_decimal({})").format(column)
                       if not as_json and field in DECIMAL_COLUMNS else column)
    listed = sql.SQL(", ").join(columns)
    return sql.SQL("json_build_array({})").format(listed) if as_json else listed


@functools.lru_cache(maxsize=64)
def _source_column(field: str, projected: bool) -> sql.Composable:
    table = "projected" if projected and field in PROJECTED_COLUMNS else "intron"
    return sql.SQL("{}.{}").format(sql.Identifier(table), sql.Identifier(field))


def _any_of(conditions: Sequence[sql.Composable]) -> sql.Composable:
    return conditions[0] if len(conditions) == 1 else sql.SQL("({})").format(sql.SQL(" OR ").join(conditions))


# Parsing -------------------------------------------------------------------------------------------------------

def _decode(text: str, parameter: str) -> str:
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise QueryError(parameter, "is not valid UTF-8 after percent-decoding") from None


def _group(pairs: Iterable[tuple[str, str]], allowed: Sequence[str], where: str,
           max_items: int) -> dict[str, list[str]]:
    """Parameter → its values; unknown names and repeated single-valued ones are errors."""
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        if name not in allowed:
            raise QueryError(where + _shown(name), f"unknown parameter; known here: {', '.join(allowed)}")
        grouped.setdefault(name, []).append(value)
        if name not in LIST_PARAMETERS and len(grouped[name]) > 1:
            raise QueryError(where + name, "given more than once")
        if len(grouped[name]) > max_items:
            raise QueryError(where + name, f"given more than {max_items:,} times")
    return grouped


def _selection(grouped: Mapping[str, list[str]], where: str, max_items: int) -> Selection:
    regions = tuple(_region(item, where + "regions") for item in _items(grouped, "regions", where, max_items))
    filters = tuple(_range_filter(item, where + "rfilter")
                    for value in grouped.get("rfilter", ()) for item in _split(value))
    if len(filters) > max_items:
        raise QueryError(where + "rfilter", f"{len(filters):,} filters; at most {max_items:,}")
    return Selection(
        regions=regions,
        contains=_choice(grouped, "contains", ("0", "1"), where) == "1",
        exact=_choice(grouped, "exact", ("0", "1"), where) == "1",
        either=int(_choice(grouped, "either", ("0", "1", "2"), where) or 0),
        filters=filters,
        ids=tuple(dict.fromkeys(_number(item, _ID, where + "ids", "a snaptron_id")
                                for item in _items(grouped, "ids", where, max_items))),
    )


def _output(grouped: Mapping[str, list[str]], selections: tuple[Selection, ...], max_items: int) -> Query:
    sids = tuple(dict.fromkeys(_number(item, _SAMPLE_ID, "sids", "a sample id (rail_id)")
                               for item in _items(grouped, "sids", "", max_items)))
    fields, count_only = COLUMNS, False
    if "fields" in grouped:
        names = _split(grouped["fields"][0]) or [""]
        count_only = names == ["rc"]
        if not count_only:
            fields = tuple(_field(name, names) for name in names)
    limit = grouped.get("limit", [None])[0]
    if limit is not None:
        if not re.fullmatch(r"\d{1,9}", limit) or int(limit) < 1:
            raise QueryError("limit", f"{_shown(limit)} is not a whole number of rows from 1 to 999,999,999")
        limit = int(limit)
    return Query(selections, sids, fields, count_only,
                 header=_choice(grouped, "header", ("0", "1"), "") != "0", limit=limit,
                 format=_choice(grouped, "format", FORMATS, "") or "tsv")


def _object_pairs(entry: Any, where: str) -> list[tuple[str, str]]:
    """A bulk query object → (parameter, value) pairs: GET names, or Snaptron's legacy keys."""
    if not isinstance(entry, dict):
        raise QueryError(where.rstrip("."), "expected a JSON object")
    pairs = []
    for key, value in entry.items():
        name = "regions" if key == "intervals" else key
        values = value if isinstance(value, list) else [value]
        for item in values:
            if name in LEGACY_RANGE_KEYS and isinstance(item, dict) and set(item) == {"op", "val"}:
                pairs.append(("rfilter", f"{name}{item['op']}{item['val']}"))
            elif isinstance(item, bool):
                pairs.append((name, "1" if item else "0"))
            elif isinstance(item, (str, int)):
                pairs.append((name, str(item)))
            else:
                raise QueryError(where + _shown(str(key)), f"expected strings or numbers, got {_shown(repr(item))}")
    return pairs


def _items(grouped: Mapping[str, list[str]], name: str, where: str, max_items: int) -> list[str]:
    items = [item for value in grouped.get(name, ()) for item in _split(value)]
    if len(items) > max_items:
        raise QueryError(where + name, f"{len(items):,} items; at most {max_items:,} per request")
    return items


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _region(text: str, parameter: str) -> Region:
    match = _REGION.fullmatch(text)
    if match is None:
        hint = "; gene symbols need an annotation table and are not supported" if ":" not in text else ""
        raise QueryError(parameter, f"{_shown(text)} is not chrN:start-end{hint}")
    chromosome, start, end = match.group(1), int(match.group(2)), int(match.group(3))
    if end > MAX_COORDINATE:
        raise QueryError(parameter, f"{_shown(text)}: coordinates go up to {MAX_COORDINATE:,}")
    if start > end:
        raise QueryError(parameter, f"{_shown(text)}: start is after end")
    return Region(chromosome, start, end)


def _range_filter(text: str, parameter: str) -> RangeFilter:
    match = _FILTER.fullmatch(text)
    if match is None:
        raise QueryError(parameter, f"{_shown(text)} is not field<op>value with op one of {' '.join(OPERATORS)}")
    field, operator, value = match.groups()
    if field not in FILTER_FIELDS:
        raise QueryError(parameter, f"unknown field {_shown(field)}; filterable: {', '.join(FILTER_FIELDS)}")
    kind = NUMERIC_FIELDS.get(field)
    if kind is None:
        if operator not in (":", "!:"):
            raise QueryError(parameter, f"{field} takes only : or !:, not {operator}")
        allowed = ("+", "-", "?") if field == "strand" else ("0", "1")
        if value not in allowed:
            raise QueryError(parameter, f"{field} is compared with one of {' '.join(allowed)}, not {_shown(value)}")
        return RangeFilter(field, OPERATORS[operator], value if field == "strand" else int(value))
    if kind is int:
        number: int | float = _number(value, _INTEGER, parameter, f"a whole number for {field}")
    else:
        number = _decimal(value, parameter, field)
    return RangeFilter(field, OPERATORS[operator], number)


def _decimal(text: str, parameter: str, field: str) -> float:
    if not _DECIMAL.fullmatch(text) or not math.isfinite(value := float(text)) or abs(value) > 1e300:
        raise QueryError(parameter, f"{_shown(text)} is not a number for {field}")
    return value


def _number(text: str, pattern: re.Pattern, parameter: str, meaning: str) -> int:
    if not pattern.fullmatch(text):
        raise QueryError(parameter, f"{_shown(text)} is not {meaning}")
    return int(text)


def _field(name: str, names: list[str]) -> str:
    if name not in COLUMNS:
        raise QueryError("fields", f"unknown field {_shown(name)}; known: rc (count only) or {', '.join(COLUMNS)}")
    if names.count(name) > 1:
        raise QueryError("fields", f"{name} is listed twice")
    return name


def _choice(grouped: Mapping[str, list[str]], name: str, allowed: Sequence[str], where: str) -> str | None:
    value = grouped.get(name, [None])[0]
    if value is not None and value not in allowed:
        raise QueryError(where + name, f"{_shown(value)} is not one of {', '.join(allowed)}")
    return value


def _shown(text: str) -> str:
    """User input quoted for an error message: repr keeps it on one printable line."""
    return repr(text[:60] + ("…" if len(text) > 60 else ""))
