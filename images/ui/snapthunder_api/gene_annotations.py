"""GET /<compilation>/annotations: the compilation's transcripts in regions, as Snaptron's annotation service answers.

snapthunder/annotation_query.py has the rules (parameters, ranking, the
header's repetition). Gene names are resolved first, as on /snaptron
(names.py), so an unknown one is a 400 before any byte. Each region is one
statement on the shard its chromosome lives on (the transcripts are stored
by chromosome, like the junctions); the shards run them in parallel and the
answer streams them in request order.
"""

from __future__ import annotations

import collections

from flask import Blueprint, g

from snapthunder import annotation_query, statements

from snapthunder_api import answers, names

blueprint = Blueprint("annotations", __name__)


@blueprint.get("/<compilation>/annotations", strict_slashes=False)
def annotations(compilation: str):
    deployment = answers.serving(compilation)
    request = annotation_query.parse(answers.request_parameters(deployment), deployment.settings["max_request_items"])
    genes = list(dict.fromkeys(item.gene for item in request.items if item.gene is not None))
    parts = annotation_query.parts(request, names.loci_of(deployment, genes) if genes else {})
    plan = deployment.endpoints().plan()
    by_shard: dict[str, list[int]] = collections.defaultdict(list)
    for index, part in enumerate(parts):
        by_shard[plan.shard_for(part.region.chromosome)].append(index)
    g.request_log.shards = sorted(by_shard)

    def statements_for(indexes: list[int]):
        def make(cursor):
            made = []
            for index in indexes:
                select, parameters = annotation_query.select_statement(parts[index], request.limit)
                made.append(((index, parts[index].region.chromosome),
                             cursor.mogrify(statements.copy_statement(select), parameters)))
            return made
        return make

    streams = answers.open_streams(deployment, {name: statements_for(indexes) for name, indexes in by_shard.items()},
                                   g.deadline)
    preambles = [annotation_query.HEADER.encode() if part.header else b"" for part in parts]
    return answers.parts_in_order(deployment, streams, preambles, g.request_log)
