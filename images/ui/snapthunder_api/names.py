"""Names in a request, resolved through what the shards hold before any row is read.

Gene names in `regions=` (`CD99`, `ENSG00000171094.15`) become their loci
(gene_loci.py), and
samples named by what they are (`sfilter=`) or by group (`sids=Brain`)
become rail_ids.

Every shard holds every sample and the genome's transcripts, so the first
shard that answers resolves them, in small statements, and the query goes
on as a query of regions and `sids=`: its rows and bytes are exactly those
of the same loci and samples given by coordinates and ids. Resolving first
is also what lets an sfilter that matches no sample answer an empty body,
as Snaptron does, rather than a header with no rows, and an unknown gene or
group be a 400 before any byte. Gene names a worker has looked up are kept
(name_cache.py): a request whose names are all kept makes no lookup, and its
statements check on the shards that no load has committed since.
"""

from __future__ import annotations

import dataclasses
import functools

from snapthunder import gene_loci, sample_search
from snapthunder.query import Query, Region, is_gene_id

from snapthunder_api.answers import serving
from snapthunder_api.errors import NamesChanged
from snapthunder_api.shards import Served


def fields(deployment: Served) -> dict[str, sample_search.SampleField]:
    """The loaded compilation's sample fields, by name (what the registry lists)."""
    return sample_search.sample_fields(deployment.first_answer(sample_search.FIELDS))


def resolved(deployment: Served, queries: list[Query]) -> list[Query]:
    """The queries with gene names turned into regions and sfilters and sample groups into sids.

    Each distinct name or set is resolved once per request. A query left
    with no sample is left out: it has no rows.
    """
    queries = _with_loci(deployment, queries)
    rail_ids: dict[tuple, tuple[int, ...]] = {}
    answer = []
    for query in queries:
        if not (query.sample_filters or query.sample_groups):
            answer.append(query)
            continue
        key = (query.sample_filters, query.sample_groups)
        if key not in rail_ids:
            rail_ids[key] = _group_ids(deployment, query.sample_groups) if query.sample_groups else _matching(
                deployment, query)
        if rail_ids[key]:
            answer.append(dataclasses.replace(query, sids=rail_ids[key], sample_filters=(), sample_groups=()))
    return answer


def _matching(deployment: Served, query: Query) -> tuple[int, ...]:
    statement, parameters = sample_search.rail_ids_statement(query.sample_filters, fields(deployment))
    return tuple(rail_id for (rail_id,) in deployment.first_answer(statement, parameters=parameters))


def _group_ids(deployment: Served, names: tuple[str, ...]) -> tuple[int, ...]:
    """The union of the groups' rail_ids, in order; a 400 naming the first unknown group."""
    statement, parameters = sample_search.groups_statement(names)
    found = dict(deployment.first_answer(statement, parameters=parameters))
    for name in names:
        if name not in found:
            known = [known_name for (known_name,) in deployment.first_answer(sample_search.GROUP_NAMES)]
            raise sample_search.unknown_group(name, known)
    return tuple(sorted({rail_id for rail_ids in found.values() for rail_id in rail_ids}))


def rechecked(view):
    """A view that runs once more, with its gene names looked up, when a shard refuses their cached loci."""
    @functools.wraps(view)
    def run(compilation: str, *args, **kwargs):
        try:
            return view(compilation, *args, **kwargs)
        except NamesChanged:
            serving(compilation).gene_names().forget()
            return view(compilation, *args, **kwargs)
    return run


def _with_loci(deployment: Served, queries: list[Query]) -> list[Query]:
    """Each selection's gene names replaced by their loci, from the worker's cache when it has every one
    (the statements then check its load); a 400 naming the first unknown gene."""
    names = list(dict.fromkeys(gene for query in queries for selection in query.selections
                               for gene in selection.genes))
    if not names:
        return queries
    # UCSC links (return_format=2) are answered without a shard statement to check the cached loci.
    checked = all(query.return_format != 2 for query in queries)
    held = deployment.gene_names().held(names) if checked else None
    load, loci = held if held is not None else (None, loci_of(deployment, names))
    return [dataclasses.replace(query, cached_names_load=load, selections=tuple(
                dataclasses.replace(selection, regions=selection.regions + tuple(
                    region for gene in selection.genes for region in loci[gene]), genes=())
                for selection in query.selections)) for query in queries]


def loci_of(deployment: Served, names: list[str]) -> dict[str, list[Region]]:
    """Gene names (upper-cased symbols and versioned GENCODE ids) → their loci; a 400 naming the first unknown.

    A symbol's loci are its RefSeq transcripts merged (gene_loci.loci); a
    gene id's, its GENCODE gene's span. One statement for each kind; what
    they find is kept in the worker's cache under the load each read it
    from, when both read the same one.
    """
    gene_ids = [name for name in names if is_gene_id(name)]
    symbols = [name for name in names if not is_gene_id(name)]
    loci: dict[str, list[Region]] = {}
    loads = set()
    if gene_ids:
        statement, parameters = gene_loci.gene_ids_statement(gene_ids)
        for gene_id, chromosome, start, end, load in deployment.first_answer(statement, parameters=parameters):
            loci[gene_id] = [Region(chromosome, start, end)]
            loads.add(load)
    if symbols:
        statement, parameters = gene_loci.transcripts_statement(symbols)
        transcripts: dict[str, list[tuple[str, int, int]]] = {}
        for symbol, chromosome, start, end, load in deployment.first_answer(statement, parameters=parameters):
            transcripts.setdefault(symbol, []).append((chromosome, start, end))
            loads.add(load)
        loci.update((symbol, gene_loci.loci(rows)) for symbol, rows in transcripts.items())
    for name in names:
        if name not in loci:
            raise _unknown(deployment, name)
    if len(loads) == 1 and None not in loads:
        deployment.gene_names().keep(loads.pop(), loci)
    return loci


def _unknown(deployment: Served, name: str):
    """The 400 for a gene name nothing loaded has: near ids for what looks like an id, near symbols otherwise."""
    if gene_loci.looks_like_gene_id(name):
        statement, parameters = gene_loci.near_ids_statement(name)
        near = [gene_id for (gene_id,) in deployment.first_answer(statement, parameters=parameters)]
        return gene_loci.unknown_gene_id(name, near, bool(near or deployment.first_answer(gene_loci.ANY_GENE_ID)))
    return gene_loci.unknown_gene(name, [symbol for (symbol,) in deployment.first_answer(gene_loci.SYMBOLS)])
