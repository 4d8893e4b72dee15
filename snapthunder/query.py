"""Snaptron's query language: a request's parameters become a checked `Query`.

The API, the bench's direct-SQL peer and the tests all parse through here;
statements.py turns a Query into SQL. Its `rfilter=` and `sfilter=` clauses
are checked in filters.py, and every error is a query_error.QueryError. The
rules are Snaptron's wire protocol (docs/API.md has the table of every
parameter):

* The query string is percent-decoded once, as a whole, then split on `&`
  and `=`; `'` and `"` are deleted and `+` stays a plus (`rfilter=strand:+`).
  So `<`, `>` and `:` may come raw (curl, R) or encoded (httpx).
* `regions ids id sids rfilter sfilter` accumulate when repeated; any other
  parameter: the last one wins. Unknown parameters are refused.
* Anything wrong raises `QueryError(parameter, problem)`, which the API
  turns into a 400 naming the parameter, before any row is sent.

Extensions (each documented as such): filter-only queries with no region
(every shard is asked), `limit=`, `format=json`, and contig names of any
form in regions.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable, Mapping, Sequence
from urllib.parse import unquote

from snapthunder.filters import OPERATORS, RangeFilter, SampleFilter, range_filter, sample_filters
from snapthunder.features import JUNCTIONS, Feature
from snapthunder.junctions import COLUMNS
from snapthunder.query_error import QueryError, checked_number, shown

DATA_SOURCE_COLUMN = "DataSource:Type"
GROUP_COLUMN = "Group"
FORMATS = ("tsv", "json")
RETURN_FORMATS = ("0", "1", "2")
# Every parameter Snaptron's junction endpoint takes, then ours (limit, format).
DATA_PARAMETERS = ("regions", "ids", "id", "sids", "rfilter", "sfilter", "fields", "result_count", "contains",
                   "either", "exact", "return_format", "score_by", "coordinate_string", "header", "label", "calc",
                   "calc_axis", "calc_op", "group", "limit", "format")
SELECTION_PARAMETERS = ("regions", "ids", "id", "rfilter", "contains", "either", "exact")
SAMPLES_PARAMETERS = ("ids", "id", "sfilter", "fields", "header", "all", "check_for_update", "regions", "rfilter",
                      "format")
LIST_PARAMETERS = ("regions", "ids", "id", "sids", "rfilter", "sfilter")
# The largest coordinate: the shards store coordinates as `integer`; the loaders refuse larger ones too.
MAX_COORDINATE = 2**31 - 1

_REGION = re.compile(r"([A-Za-z0-9_.\-]{1,255}):(\d{1,10})-(\d{1,10})")
_ID = re.compile(r"\d{1,18}")
# A `regions` item that is not an interval but looks like a RefSeq symbol is a gene name (gene_loci.py).
GENE_SYMBOL = re.compile(r"[A-Za-z0-9._@\-]{1,100}")
_GENE_ID = re.compile(r"ENS(?:MUS)?G\d+\.\d+", re.IGNORECASE)
SAMPLE_ID = re.compile(r"\d{1,9}")
_LABEL = re.compile(r"[A-Za-z0-9_\-:;.]{1,200}")
_QUOTES = str.maketrans("", "", "'\"")


@dataclasses.dataclass(frozen=True)
class Region:
    chromosome: str
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.chromosome}:{self.start}-{self.end}"


@dataclasses.dataclass(frozen=True)
class Selection:
    """One query's rows: regions (OR-ed, each with the modifiers) AND filters AND ids.

    `genes` are gene names among the regions (upper-cased), which the API
    turns into regions (gene_loci.py) before the rows are read.
    """

    regions: tuple[Region, ...] = ()
    genes: tuple[str, ...] = ()
    contains: bool = False
    exact: bool = False
    either: int = 0
    filters: tuple[RangeFilter, ...] = ()
    ids: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Query:
    """A checked request: selections OR-ed (one for GET, several for a JSON bulk) and the output asked for.

    `group` is the label of Snaptron's group mode (a bulk `groups=` query, or
    a GET with `group=`): it replaces `DataSource:Type` as the first column.
    `return_format` 1 is UCSC BED and 2 UCSC browser links, both per region;
    `coordinate` (coordinate_string=) is the interval they show for `ids=`.
    `sample_filters` (sfilter=) and `sample_groups` (sids=Brain,Liver: the
    compilation's samples.groups.tsv) choose the samples to project on, as
    `sids` do; the API turns them into sids before the rows are read (sids,
    named or numbered, win over sfilter, as in Snaptron). `feature` is the
    endpoint's kind of row (junctions, genes, exons: features.py), which the
    request's path sets. `cached_names_load` is the load whose gene names the
    API's cache turned into some of the regions (None: none were cached);
    every statement then checks on the shard that it is still the last.
    """

    selections: tuple[Selection, ...]
    sids: tuple[int, ...] = ()
    sample_filters: tuple[SampleFilter, ...] = ()
    sample_groups: tuple[str, ...] = ()
    fields: tuple[str, ...] = COLUMNS
    count_only: bool = False
    header: bool = True
    limit: int | None = None
    format: str = "tsv"
    return_format: int = 0
    score_by: str = "samples_count"
    coordinate: Region | None = None
    group: str | None = None
    feature: Feature = JUNCTIONS
    cached_names_load: str | None = None

    @property
    def output_columns(self) -> tuple[str, ...]:
        """The header line's names: `DataSource:Type` (or `Group`) and the requested columns, as the feature names them."""
        return (GROUP_COLUMN if self.group is not None else DATA_SOURCE_COLUMN,
                *(self.feature.header_name(field) for field in self.fields))

    def per_region(self) -> list["Query"]:
        """One query per region, in request order: how BED and browser links are answered."""
        if not any(selection.regions for selection in self.selections):
            return [self]
        return [dataclasses.replace(self, selections=(dataclasses.replace(selection, regions=(region,)),))
                for selection in self.selections for region in selection.regions]


@dataclasses.dataclass(frozen=True)
class SamplesRequest:
    """A `/samples` request: every line (`all=1`), the load time (`check_for_update`), these rail_ids, or a search."""

    kind: str                                   # "all", "update", "ids" or "search"
    rail_ids: tuple[int, ...] = ()
    columns: tuple[int, ...] | None = None      # 0-based samples.tsv columns (legacy POST's sample_fields)
    filters: tuple[SampleFilter, ...] = ()      # the search's sfilter clauses, AND-ed
    header: bool = True


def split_query_string(raw: str | bytes) -> list[tuple[str, str]]:
    """`a=1&b=2` → [(a, 1), (b, 2)], decoded as Snaptron decodes: once, as a whole, quotes deleted.

    A piece with no `=`, or with a second one in its value, is refused (Snaptron
    fails on both); empty pieces (`a=1&&b=2`, a trailing `&`) are skipped.
    """
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
        text = unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise QueryError("query string", "is not valid UTF-8 after percent-decoding") from None
    pairs = []
    for piece in text.translate(_QUOTES).split("&"):
        if not piece:
            continue
        name, equals, value = piece.partition("=")
        if not equals:
            raise QueryError(shown(name), "has no value: write name=value (Snaptron's parameters all take one)")
        if "=" in value:
            raise QueryError(name, f"{shown(value)} contains '='; Snaptron's operators are "
                                   f"{' '.join(OPERATORS)} (write samples_count>:5, not samples_count>=5)")
        pairs.append((name, value))
    return pairs


def parse(pairs: Iterable[tuple[str, str]], max_items: int, where: str = "") -> Query:
    """A GET request's parameters (or one query of a bulk `groups=` POST) → Query."""
    grouped = group_parameters(pairs, DATA_PARAMETERS, where, max_items)
    selections = parse_selections(grouped, where, max_items)
    selection = selections[0]
    query = parse_output(grouped, selections, where, max_items)
    placed = any(selection.regions or selection.genes for selection in selections)
    if not (placed or selection.ids or selection.filters or query.sids or query.sample_filters
            or query.sample_groups):
        raise QueryError(where + "regions", "give regions=chrN:start-end, or ids=, rfilter=, sids= or sfilter= "
                                            "(queries with no region read every shard)")
    if query.return_format and (query.count_only or query.format == "json"):
        raise QueryError(where + "return_format", "BED and browser links are TSV rows: drop fields=rc and format=json")
    if query.return_format and not placed and (
            not selection.ids or (query.return_format == 2 and query.coordinate is None)):
        raise QueryError(where + "return_format", "give regions=, or ids= with coordinate_string=chr:start-end")
    return query


def parse_samples(pairs: Iterable[tuple[str, str]], max_items: int) -> SamplesRequest:
    """`/samples` parameters: `all=1`, `check_for_update=1`, `ids=` (also as a path: `/samples/4`) or `sfilter=`."""
    grouped = group_parameters(pairs, SAMPLES_PARAMETERS, "", max_items)
    for name in ("regions", "rfilter"):
        if name in grouped:
            raise QueryError(name, "/samples selects samples, not junctions: give ids=rail_id,…, sfilter= or all=1")
    rail_ids = sample_ids(grouped, "", max_items)
    if rail_ids:
        return SamplesRequest("ids", tuple(sorted(set(rail_ids))))
    filters = sample_filters(grouped, "")
    if filters:
        return SamplesRequest("search", filters=filters, header=_choice(grouped, "header", ("0", "1"), "") != "0")
    if _choice(grouped, "all", ("0", "1"), "") == "1":
        return SamplesRequest("all")
    if _choice(grouped, "check_for_update", ("0", "1"), "") == "1":
        return SamplesRequest("update")
    raise QueryError("ids", "give ids=rail_id,…, sfilter=field:value, all=1 or check_for_update=1")


# Parsing -------------------------------------------------------------------------------------------------------

def group_parameters(pairs: Iterable[tuple[str, str]], allowed: Sequence[str], where: str,
           max_items: int) -> dict[str, list[str]]:
    """Parameter → its values: list parameters accumulate, others keep the last; unknown names are refused."""
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        if name not in allowed:
            raise QueryError(where + shown(name), f"unknown parameter; known here: {', '.join(allowed)}")
        if name in LIST_PARAMETERS:
            grouped.setdefault(name, []).append(value)
            if len(grouped[name]) > max_items:
                raise QueryError(where + name, f"given more than {max_items:,} times")
        else:
            grouped[name] = [value]
    return grouped


def parse_selections(grouped: Mapping[str, list[str]], where: str, max_items: int) -> tuple[Selection, ...]:
    """The request's rows as one selection, or two when a versioned GENCODE gene id is among its regions.

    Such an id (`ENSG00000171094.15`, `ENSMUSG…`, found anywhere in the
    item) forces exact=1 for itself and every later item, as in Snaptron
    (SNAPTRON-WIRE.md §4): the items from it on are a second selection, with
    exact=1, OR-ed with the first. A gene id, like a symbol, is among `genes`
    until the API resolves it (names.py).
    """
    items = listed_items(grouped, "regions", where, max_items)
    exact_from = next((index for index, item in enumerate(items) if is_gene_id(item)), len(items))
    selection = _selection(grouped, items[:exact_from], where, max_items)
    if exact_from == len(items):
        return (selection,)
    exact = _selection(grouped, items[exact_from:], where, max_items)
    exact = dataclasses.replace(exact, exact=True)
    return (selection, exact) if selection.regions or selection.genes else (exact,)


def is_gene_id(item: str) -> bool:
    """Whether a `regions` item is a versioned GENCODE gene id, by Snaptron's rule (the pattern anywhere in it)."""
    return _REGION.fullmatch(item) is None and _GENE_ID.search(item) is not None


def region_items(items: Iterable[str], where: str) -> tuple[list[Region], list[str]]:
    """`regions` items → (intervals, gene names and ids upper-cased), each kind in request order."""
    regions, genes = [], []
    for item in items:
        if _REGION.fullmatch(item) is None and GENE_SYMBOL.fullmatch(item):
            genes.append(item.upper())
        else:
            regions.append(_region(item, where + "regions"))
    return regions, genes


def _selection(grouped: Mapping[str, list[str]], region_texts: list[str], where: str, max_items: int) -> Selection:
    regions, genes = region_items(region_texts, where)
    filters, ids = [], [checked_number(item, _ID, where + "ids", "a snaptron_id")
                        for item in listed_items(grouped, "ids", where, max_items) + listed_items(grouped, "id", where, max_items)]
    for value in grouped.get("rfilter", ()):
        for item in _split(value):
            if item.startswith("snaptron_id:"):
                ids += [checked_number(part, _ID, where + "rfilter", "a snaptron_id")
                        for part in item[len("snaptron_id:"):].split("-")]
            else:
                filters.append(range_filter(item, where + "rfilter"))
    for name, items in (("rfilter", filters), ("ids", ids)):
        if len(items) > max_items:
            raise QueryError(where + name, f"{len(items):,} items; at most {max_items:,} per request")
    return Selection(
        regions=tuple(regions),
        genes=tuple(dict.fromkeys(genes)),
        contains=_choice(grouped, "contains", ("0", "1"), where) == "1",
        exact=_choice(grouped, "exact", ("0", "1"), where) == "1",
        either=int(_choice(grouped, "either", ("0", "1", "2"), where) or 0),
        filters=tuple(filters),
        ids=tuple(dict.fromkeys(ids)),
    )


def parse_output(grouped: Mapping[str, list[str]], selections: tuple[Selection, ...], where: str,
            max_items: int) -> Query:
    named = listed_items(grouped, "sids", where, max_items)
    groups = tuple(dict.fromkeys(named)) if named and not named[0].isdigit() else ()
    if any("\x00" in name for name in groups):
        raise QueryError(where + "sids", "a group name holds a NUL character, which samples.groups.tsv names cannot")
    sids = () if groups else sample_ids(grouped, where, max_items, "sids")
    filters = () if sids or groups else sample_filters(grouped, where)
    fields, count_only = COLUMNS, "result_count" in grouped
    if "fields" in grouped:
        names = _split(grouped["fields"][0]) or [""]
        if names == ["rc"]:
            count_only = True
        else:
            fields = tuple(_field(name, names, where) for name in names)
    limit = parse_limit(grouped, where)
    for name in ("label", "group"):
        value = _last(grouped, name)
        if value is not None and not _LABEL.fullmatch(value):
            raise QueryError(where + name, f"{shown(value)}: a label is letters, digits and _ - : ; . only")
    for name, allowed in (("calc_axis", ("0", "1", "sum", "mean")), ("calc_op", ("0", "1", "sum", "mean"))):
        _choice(grouped, name, allowed, where)
    score_by = _last(grouped, "score_by") or "samples_count"
    if score_by not in COLUMNS:
        raise QueryError(where + "score_by", f"unknown column {shown(score_by)}; one of {', '.join(COLUMNS)}")
    coordinate = _last(grouped, "coordinate_string")
    return Query(selections, sids, filters, groups, fields, count_only,
                 header=_choice(grouped, "header", ("0", "1"), where) != "0", limit=limit,
                 format=_choice(grouped, "format", FORMATS, where) or "tsv",
                 return_format=int(_choice(grouped, "return_format", RETURN_FORMATS, where) or 0),
                 score_by=score_by,
                 coordinate=_region(coordinate, where + "coordinate_string") if coordinate is not None else None,
                 group=_last(grouped, "group"))


def parse_limit(grouped: Mapping[str, list[str]], where: str) -> int | None:
    """`limit=N`: a whole number of rows from 1, or None when not given."""
    limit = _last(grouped, "limit")
    if limit is not None and (not re.fullmatch(r"\d{1,9}", limit) or int(limit) < 1):
        raise QueryError(where + "limit", f"{shown(limit)} is not a whole number of rows from 1 to 999,999,999")
    return int(limit) if limit is not None else None


def sample_ids(grouped: Mapping[str, list[str]], where: str, max_items: int, name: str = "ids") -> tuple[int, ...]:
    items = listed_items(grouped, name, where, max_items)
    if name == "ids":
        items += listed_items(grouped, "id", where, max_items)
    return tuple(dict.fromkeys(checked_number(item, SAMPLE_ID, where + name, "a sample id (rail_id)")
                               for item in items))


def listed_items(grouped: Mapping[str, list[str]], name: str, where: str, max_items: int) -> list[str]:
    items = [item for value in grouped.get(name, ()) for item in _split(value)]
    if len(items) > max_items:
        raise QueryError(where + name, f"{len(items):,} items; at most {max_items:,} per request")
    return items


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _last(grouped: Mapping[str, list[str]], name: str) -> str | None:
    return grouped.get(name, [None])[-1]


def _region(text: str, parameter: str) -> Region:
    match = _REGION.fullmatch(text)
    if match is None:
        hint = ("; commas separate regions, so write numbers without them (chr1:1000000-1100000)"
                if re.fullmatch(r"[^:]+:\d{1,3}", text) else "")
        raise QueryError(parameter, f"{shown(text)} is not chrN:start-end{hint}")
    chromosome, start, end = match.group(1), int(match.group(2)), int(match.group(3))
    if end > MAX_COORDINATE:
        raise QueryError(parameter, f"{shown(text)}: coordinates go up to {MAX_COORDINATE:,}")
    if start > end:
        raise QueryError(parameter, f"{shown(text)}: start is after end")
    return Region(chromosome, start, end)


def _field(name: str, names: list[str], where: str) -> str:
    if name not in COLUMNS:
        raise QueryError(where + "fields", f"unknown field {shown(name)}; known: rc (count only) or "
                                           f"{', '.join(COLUMNS)}")
    if names.count(name) > 1:
        raise QueryError(where + "fields", f"{name} is listed twice")
    return name


def _choice(grouped: Mapping[str, list[str]], name: str, allowed: Sequence[str], where: str) -> str | None:
    value = _last(grouped, name)
    if value is not None and value not in allowed:
        raise QueryError(where + name, f"{shown(value)} is not one of {', '.join(allowed)}")
    return value
