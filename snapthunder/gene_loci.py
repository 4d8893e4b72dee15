"""Gene names in `regions=`: a symbol's RefSeq transcripts merged into loci the way Snaptron merges them.

Snaptron (SNAPTRON-WIRE.md §4) looks a symbol up, upper-cased, in the
genome's refFlat file (loaders/genes.py loads it into `gene_transcript`)
and turns its transcripts, in file order, into spans per chromosome: a
transcript joins every span it overlaps or whose end is within 10 kb of its
own end (the span grows to cover it); otherwise it starts a new span. CD99
gives a span on chrX and one on chrY; a symbol whose transcripts lie far
apart on one chromosome gives several. Each span is then a region like
`chrX:2691133-2741309`. Snaptron answers span by span; here, as for any
regions, each row comes once, in genome order (docs/API.md).

Only chromosomes Snaptron takes as interval names (`chr1`–`chr29`, X, Y, M)
hold genes. A versioned GENCODE id (`ENSG00000171094.15`, any case) is the
span of that `gene` feature of the compilation's GENCODE file
(loaders/gencode.py loads it into `gencode_gene`), one region; query.py has
already made it and the items after it exact=1.
"""

from __future__ import annotations

import difflib
import re
from typing import Iterable, Sequence

from psycopg2 import sql

from snapthunder.query import Region
from snapthunder.query_error import QueryError, shown

GENE_CHROMOSOME = re.compile(r"chr[12]?[0-9XYM]")
# A transcript whose end is this close to a span's end joins the span (Snaptron's MAX_GENE_PROXIMITY).
MERGE_DISTANCE = 10_000
NEAR_NAMES = 3
SYMBOLS = sql.SQL("SELECT DISTINCT symbol FROM gene_transcript")
# A name that looks like a GENCODE id, versioned or not: its refusal suggests ids, not symbols.
_ID_LIKE = re.compile(r"ENS(?:MUS)?G\d+", re.IGNORECASE)
# Ids sharing this many leading characters with an unknown one are its candidates (ENSG + 9 of 11 digits).
ID_PREFIX = 13


# What a shard raises when a statement's cached gene names came from an earlier load (last_load_is, 04-query.sql).
NAMES_CHANGED = "SN001"
# A lookup's last column: the load its rows are from, which a worker may cache them under
# (images/ui/snapthunder_api/name_cache.py); NULL where the session may not call last_load_is (a shard
# initialised before it existed, or given it without the reader's grant), whose names are then looked
# up every time.
_LOOKED_UP_LOAD = sql.SQL("(SELECT value FROM shard_metadata WHERE key = 'last_load_id' "
                          "AND coalesce(has_function_privilege(to_regprocedure('last_load_is(text)'), 'EXECUTE'), "
                          "false))")


def transcripts_statement(symbols: Sequence[str]) -> tuple[sql.Composed, dict]:
    """Each symbol's transcripts (symbol, chromosome, start, end, load), in file order."""
    statement = sql.SQL('SELECT symbol, chromosome, start, "end", {} FROM gene_transcript '
                        "WHERE symbol = ANY ({}::text[]) ORDER BY symbol, line").format(
        _LOOKED_UP_LOAD, sql.Placeholder("symbols"))
    return statement, {"symbols": list(symbols)}


def gene_ids_statement(gene_ids: Sequence[str]) -> tuple[sql.Composed, dict]:
    """Each gene id's span (gene_id, chromosome, start, end, load); ids upper-cased as stored."""
    statement = sql.SQL('SELECT gene_id, chromosome, start, "end", {} FROM gencode_gene '
                        "WHERE gene_id = ANY ({}::text[])").format(_LOOKED_UP_LOAD, sql.Placeholder("ids"))
    return statement, {"ids": list(gene_ids)}


def near_ids_statement(name: str) -> tuple[sql.Composed, dict]:
    """Up to 1,000 loaded gene ids sharing the first ID_PREFIX characters of an unknown one (looks_like_gene_id)."""
    statement = sql.SQL("SELECT gene_id FROM gencode_gene WHERE gene_id LIKE {} LIMIT 1000").format(
        sql.Placeholder("prefix"))
    return statement, {"prefix": _ID_LIKE.match(name).group(0).upper()[:ID_PREFIX] + "%"}


ANY_GENE_ID = sql.SQL("SELECT gene_id FROM gencode_gene LIMIT 1")


def looks_like_gene_id(name: str) -> bool:
    return _ID_LIKE.match(name) is not None


def loci(transcripts: Iterable[tuple[str, int, int]]) -> list[Region]:
    """One symbol's transcripts (chromosome, start, end) in file order → its spans, chromosome by chromosome.

    Chromosomes come in name order, as Snaptron streams them; spans within
    one in the order they were started.
    """
    spans: dict[str, list[list[int]]] = {}
    for chromosome, start, end in transcripts:
        joined = False
        for span in spans.setdefault(chromosome, []):
            if span[0] <= end <= span[1] or start <= span[1] <= end or abs(span[1] - end) <= MERGE_DISTANCE:
                span[0], span[1] = min(span[0], start), max(span[1], end)
                joined = True
        if not joined:
            spans[chromosome].append([start, end])
    return [Region(chromosome, start, end) for chromosome in sorted(spans) for start, end in spans[chromosome]]


def unknown_gene_id(name: str, near_ids: Sequence[str], any_loaded: bool, parameter: str = "regions") -> QueryError:
    """The refusal of a gene id the compilation's GENCODE genes do not have, with the nearest ones they have.

    Nearest: the same gene's other versions (the usual mistake: another
    GENCODE release), else the most similar ids among `near_ids`.
    """
    if not any_loaded:
        return QueryError(parameter, f"gene id {shown(name)}: no GENCODE genes are loaded (load the compilation's "
                                     "GENCODE *.gff3.gz with the loader's --gencode); give chrN:start-end")
    stable = name.upper().split(".")[0]
    versions = sorted(gene_id for gene_id in near_ids if gene_id.split(".")[0] == stable)
    near = versions[:NEAR_NAMES] or difflib.get_close_matches(name.upper(), near_ids, NEAR_NAMES, 0.6)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    return QueryError(parameter, f"unknown gene id {shown(name)}{hint} (versioned GENCODE ids, as "
                                 "ENSG00000171094.15, any case; or a gene symbol, or chrN:start-end)")


def unknown_gene(symbol: str, known: Sequence[str], parameter: str = "regions") -> QueryError:
    """The refusal of a symbol the loaded transcripts do not have, with the nearest ones they have."""
    if not known:
        return QueryError(parameter, f"gene {shown(symbol)}: no gene names are loaded (load the genome's "
                                     "refseq_transcripts_by_hgvs.tsv with the loader's --genes); give chrN:start-end")
    near = difflib.get_close_matches(symbol.upper(), known, NEAR_NAMES, 0.6)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    return QueryError(parameter, f"unknown gene {shown(symbol)}{hint} (RefSeq symbols, any case; or chrN:start-end)")
