"""A request's samples named by what they are (`sfilter=`), resolved to rail_ids before any row is read.

Every shard holds every sample, so the first shard that answers resolves
them, in one small statement (sample_search.py), and the query goes on as a
`sids=` query: the projection, its statistics and its bytes are exactly
those of the same samples given by id. Resolving first is also what lets an
sfilter that matches no sample answer an empty body, as Snaptron does,
rather than a header with no rows.
"""

from __future__ import annotations

import dataclasses

from snapthunder import sample_search, statements
from snapthunder.query import Query

from snapthunder_api.shards import Deployment


def fields(deployment: Deployment) -> dict[str, sample_search.SampleField]:
    """The loaded compilation's sample fields, by name (what the registry lists)."""
    return sample_search.sample_fields(deployment.first_answer(statements.REGISTRY_FIELDS))


def resolved(deployment: Deployment, queries: list[Query]) -> list[Query]:
    """The queries with their sfilters turned into sids, each distinct sfilter resolved once.

    A query whose sfilter matches no sample is left out: it has no rows.
    """
    rail_ids: dict[tuple, tuple[int, ...]] = {}
    answer = []
    for query in queries:
        if not query.sample_filters:
            answer.append(query)
            continue
        if query.sample_filters not in rail_ids:
            statement, parameters = sample_search.rail_ids_statement(query.sample_filters, fields(deployment))
            rail_ids[query.sample_filters] = tuple(
                rail_id for (rail_id,) in deployment.first_answer(statement, parameters=parameters))
        if rail_ids[query.sample_filters]:
            answer.append(dataclasses.replace(query, sids=rail_ids[query.sample_filters], sample_filters=()))
    return answer
