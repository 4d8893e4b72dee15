"""`/annotations` (SNAPTRON-WIRE.md §11): its parameters → checked items, and each item's SQL.

The parameters are Snaptron's: `regions` (intervals, gene symbols, versioned
GENCODE ids; a comma list, repeatable), `contains`, `either`, `exact` and
`limit` (default 20); any other is a 400 naming it. The rows are the
compilation's all_transcripts.gtf.bgz lines (loaders/transcripts.py), as
`Mixed:G<TAB><line>`, each region answered on its own, in request order,
rows repeated when regions share them:

* an interval: every transcript it matches, in the file's order, after a
  header line (the header is repeated for each interval);
* a gene name: per locus, the `limit` transcripts of highest rank
  (#exons + 100000 with a CDS span; ties in file order), with the rank
  printed in the score column; one header before the first locus, and none
  for any region after it (Snaptron turns its header off there).

A gene id forces exact=1 for itself and the items after it, as on
/snaptron (query.parse_selections). The modifiers are /snaptron's.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

from psycopg2 import sql

from snapthunder.query import (Region, group_parameters, is_gene_id, listed_items, parse_limit, parse_selections,
                               region_items)
from snapthunder.query_error import QueryError
from snapthunder.region_sets import mode

PARAMETERS = ("regions", "contains", "either", "exact", "limit")
DEFAULT_LIMIT = 20
DATA_SOURCE = "Mixed:G"
HEADER = ("DataSource:Type\treference\tannotation_source\tfeature_type\tstart\tend\tscore\tstrand\tunused\t"
          "attributes\n")
_COLUMNS = ("chromosome", "source", "feature", "start", "end", "score", "strand", "frame", "attributes")


@dataclasses.dataclass(frozen=True)
class Item:
    """One `regions` item: an interval, or a gene name (symbol or id, upper-cased) still to resolve."""

    region: Region | None
    gene: str | None
    mode: str


@dataclasses.dataclass(frozen=True)
class AnnotationRequest:
    items: tuple[Item, ...]
    limit: int


@dataclasses.dataclass(frozen=True)
class Part:
    """One region's statement: a gene locus is ranked and limited; `header` says whether a header precedes it."""

    region: Region
    mode: str
    ranked: bool
    header: bool


def parse(pairs: Iterable[tuple[str, str]], max_items: int) -> AnnotationRequest:
    grouped = group_parameters(pairs, PARAMETERS, "", max_items)
    texts = listed_items(grouped, "regions", "", max_items)
    if not texts:
        raise QueryError("regions", "give regions=chrN:start-end, a gene symbol or a GENCODE gene id")
    selections = parse_selections(grouped, "", max_items)      # the modifiers, checked; exact=1 from a gene id on
    exact_from = next((index for index, text in enumerate(texts) if is_gene_id(text)), len(texts))
    items = []
    for index, text in enumerate(texts):
        regions, genes = region_items([text], "")
        modifiers = selections[-1] if index >= exact_from else selections[0]
        items.append(Item(regions[0] if regions else None, genes[0] if genes else None, mode(modifiers)))
    return AnnotationRequest(tuple(items), parse_limit(grouped, "") or DEFAULT_LIMIT)


def parts(request: AnnotationRequest, loci: dict[str, list[Region]]) -> list[Part]:
    """Each region to query, in answer order, gene names replaced by their `loci`; with Snaptron's header rule."""
    answer, header = [], True
    for item in request.items:
        if item.region is not None:
            answer.append(Part(item.region, item.mode, False, header))
            continue
        for index, locus in enumerate(loci[item.gene]):
            answer.append(Part(locus, item.mode, True, header and index == 0))
        header = False
    return answer


def select_statement(part: Part, limit: int) -> tuple[sql.Composed, dict]:
    """A part's rows: `Mixed:G` and the nine columns (the rank as score for a gene locus), in the answer's order."""
    columns = [sql.Identifier(name) if name != "score" or not part.ranked else sql.SQL("rank::text AS score")
               for name in _COLUMNS]
    order = (sql.SQL("annotation_transcript.rank DESC, line LIMIT {}").format(sql.Placeholder("limit"))
             if part.ranked else sql.SQL("line"))
    statement = sql.SQL("SELECT {}, {} FROM annotation_transcript WHERE chromosome = {} AND {} ORDER BY {}").format(
        sql.Placeholder("data_source"), sql.SQL(", ").join(columns), sql.Placeholder("chromosome"),
        _CONDITIONS[part.mode], order)
    return statement, {"data_source": DATA_SOURCE, "chromosome": part.region.chromosome, "low": part.region.start,
                       "high": part.region.end, "limit": limit}


_START, _END = sql.Identifier("start"), sql.Identifier("end")
_LOW, _HIGH = sql.Placeholder("low"), sql.Placeholder("high")
# Snaptron's modifiers (region_sets.py's table), for a transcript [start, end] and a region [low, high].
_CONDITIONS = {
    "overlap": sql.SQL("{} <= {} AND {} >= {}").format(_START, _HIGH, _END, _LOW),
    "start": sql.SQL("{} >= {} AND {} <= {}").format(_START, _LOW, _START, _HIGH),
    "end": sql.SQL("{} >= {} AND {} <= {}").format(_END, _LOW, _END, _HIGH),
    "contains": sql.SQL("{} >= {} AND {} <= {}").format(_START, _LOW, _END, _HIGH),
    "exact": sql.SQL("{} = {} AND {} = {}").format(_START, _LOW, _END, _HIGH),
}
