"""The POSTed forms of Snaptron's query language: bulk `groups=`, legacy JSON `fields=`, and our JSON body.

Each form is a list of queries, parsed with the GET rules of query.py so a
parameter means the same whichever way it arrives; errors name the query's
place in the list (`groups[3].regions`, `fields[0].ids`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from typing import Any, Iterable

from snapthunder.filters import NUMERIC_FIELDS
from snapthunder.query import (SAMPLE_ID, SELECTION_PARAMETERS, Query, SamplesRequest, Selection, group_parameters,
                               listed_items, parse, parse_output, parse_selections, sample_ids, split_query_string)
from snapthunder.query_error import QueryError, checked_number, shown

POST_OUTPUT_PARAMETERS = ("sids", "sfilter", "fields", "header", "limit", "format")
# Legacy bulk objects give range filters as {"samples_count": [{"op": ">:", "val": 5}]}.
LEGACY_FILTER_KEYS = tuple(NUMERIC_FIELDS) + ("strand",)
LEGACY_ALIASES = {"intervals": "regions", "genes": "regions"}
GROUP_SEPARATOR = "|||"


def parse_groups(encoded: str, max_items: int) -> list[Query]:
    """A bulk `groups=` POST: base64 of `q1|||q2|||…`, each a query string with its `group=` label.

    Decoded as Snaptron decodes it: trimmed, base64, then each query as a GET.
    A query without `group=` takes the previous one's label.
    """
    try:
        text = base64.b64decode(encoded.strip(), validate=False).decode()
    except (binascii.Error, ValueError):
        raise QueryError("groups", "is not base64 of UTF-8 text (q1|||q2|||…)") from None
    pieces = [piece.strip() for piece in text.split(GROUP_SEPARATOR) if piece.strip()]
    if not pieces:
        raise QueryError("groups", "holds no query")
    if len(pieces) > max_items:
        raise QueryError("groups", f"{len(pieces):,} queries; at most {max_items:,} per request")
    queries, label = [], None
    for index, piece in enumerate(pieces):
        query = parse(split_query_string(piece), max_items, f"groups[{index}].")
        label = query.group if query.group is not None else label
        if label is None:
            raise QueryError(f"groups[{index}].group", "the first query needs group=<label>")
        queries.append(dataclasses.replace(query, group=label))
    return queries


def parse_bulk(objects: Any, pairs: Iterable[tuple[str, str]], max_items: int) -> Query:
    """A JSON bulk POST (our form): a list of query objects OR-ed, each row once; output options in the URL."""
    selections = _object_selections(objects, "queries", max_items, require_region=False)
    return parse_output(group_parameters(pairs, POST_OUTPUT_PARAMETERS, "", max_items), selections, "", max_items)


def parse_legacy(objects: Any, pairs: Iterable[tuple[str, str]], max_items: int) -> list[Query]:
    """Snaptron's legacy form POST `fields=[{…}, …]`: each clause its own query, run in order."""
    output = group_parameters(pairs, POST_OUTPUT_PARAMETERS, "", max_items)
    return [parse_output(output, (selection,), "", max_items)
            for selection in _object_selections(objects, "fields", max_items, require_region=True)]


def parse_legacy_samples(objects: Any, max_items: int) -> SamplesRequest:
    """`/samples` legacy POST `fields=[{"ids": [...], "sample_fields": "0,1,11"}]`."""
    entries = _query_objects(objects, max_items)
    rail_ids: set[int] = set()
    columns = None
    for index, entry in enumerate(entries):
        where = f"fields[{index}]."
        grouped = group_parameters(_object_pairs(entry, where), ("ids", "sample_fields"), where, max_items)
        rail_ids.update(sample_ids(grouped, where, max_items))
        if "sample_fields" in grouped:
            columns = tuple(checked_number(item, SAMPLE_ID, where + "sample_fields", "a 0-based column number")
                            for item in listed_items(grouped, "sample_fields", where, max_items))
    if not rail_ids:
        raise QueryError("fields[0].ids", "give the rail_ids to fetch")
    return SamplesRequest("ids", tuple(sorted(rail_ids)), columns)


def _object_selections(objects: Any, name: str, max_items: int, require_region: bool) -> tuple[Selection, ...]:
    """Each query object of a POST → its Selection; errors name `<name>[index].<key>`."""
    selections = []
    for index, entry in enumerate(_query_objects(objects, max_items)):
        where = f"{name}[{index}]."
        grouped = group_parameters(_object_pairs(entry, where), SELECTION_PARAMETERS, where, max_items)
        parsed = parse_selections(grouped, where, max_items)
        selection = parsed[0]
        if not (selection.regions or selection.genes or selection.ids or (selection.filters and not require_region)):
            raise QueryError(f"{name}[{index}]", "give regions (intervals or gene names) or ids"
                                                 + ("" if require_region else ", or a range filter"))
        selections.extend(parsed)
    return tuple(selections)


def _query_objects(objects: Any, max_items: int) -> list:
    if not isinstance(objects, list) or not objects:
        raise QueryError("queries", "expected a non-empty JSON list of query objects")
    if len(objects) > max_items:
        raise QueryError("queries", f"{len(objects):,} queries; at most {max_items:,} per request")
    return objects


def _object_pairs(entry: Any, where: str) -> list[tuple[str, str]]:
    """A bulk query object → (parameter, value) pairs: GET names, or Snaptron's legacy keys."""
    if not isinstance(entry, dict):
        raise QueryError(where.rstrip("."), "expected a JSON object")
    pairs = []
    for key, value in entry.items():
        name = LEGACY_ALIASES.get(key, key)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if name in LEGACY_FILTER_KEYS and isinstance(item, dict) and set(item) == {"op", "val"}:
                pairs.append(("rfilter", f"{name}{item['op']}{item['val']}"))
            elif isinstance(item, bool):
                pairs.append((name, "1" if item else "0"))
            elif isinstance(item, (str, int)):
                pairs.append((name, str(item)))
            else:
                raise QueryError(where + shown(str(key)), f"expected strings or numbers, got {shown(repr(item))}")
    return pairs


