"""A request's samples named by what they are (`sfilter=`) or by group (`sids=Brain`), resolved to rail_ids first.

Every shard holds every sample, so the first shard that answers resolves
them, in small statements (sample_search.py), and the query goes on as a
`sids=` query: the projection, its statistics and its bytes are exactly
those of the same samples given by id. Resolving first is also what lets an
sfilter that matches no sample answer an empty body, as Snaptron does,
rather than a header with no rows, and an unknown group be a 400.
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
    """The queries with their sfilters and sample groups turned into sids, each distinct set resolved once.

    A query left with no sample is left out: it has no rows.
    """
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


def _matching(deployment: Deployment, query: Query) -> tuple[int, ...]:
    statement, parameters = sample_search.rail_ids_statement(query.sample_filters, fields(deployment))
    return tuple(rail_id for (rail_id,) in deployment.first_answer(statement, parameters=parameters))


def _group_ids(deployment: Deployment, names: tuple[str, ...]) -> tuple[int, ...]:
    """The union of the groups' rail_ids, in order; a 400 naming the first unknown group."""
    statement, parameters = sample_search.groups_statement(names)
    found = dict(deployment.first_answer(statement, parameters=parameters))
    for name in names:
        if name not in found:
            known = [known_name for (known_name,) in deployment.first_answer(sample_search.GROUP_NAMES)]
            raise sample_search.unknown_group(name, known)
    return tuple(sorted({rail_id for rail_ids in found.values() for rail_id in rail_ids}))
