"""GET /<compilation>/snaptron[/<ids>]: Snaptron's junction query, answered as a stream.

The parameters are Snaptron's (docs/API.md has every one): parsing and
checking are snapthunder.query's. The answer's form follows the query:
a count (`fields=rc`, `result_count=`), UCSC BED or browser links
(`return_format=1|2`, ucsc.py), JSON (`format=json`), or Snaptron's TSV,
with a `Group` first column when the request names a `group=`. An
`sfilter=`, sample groups and gene names are resolved first (names.py). HEAD is
answered like GET, without the body. `Accept` never changes the form:
Snaptron ignores it and snapcount sends one that prefers JSON.
"""

from __future__ import annotations

from flask import Blueprint, g

from snapthunder.query import parse

from snapthunder_api import answers, names, ucsc

blueprint = Blueprint("snaptron", __name__)


@blueprint.get("/<compilation>/snaptron", strict_slashes=False)
@blueprint.get("/<compilation>/snaptron/<path:path_ids>")
def snaptron(compilation: str, path_ids: str | None = None):
    deployment = answers.serving(compilation)
    pairs = answers.request_parameters(deployment, path_ids)
    resolved = names.resolved(deployment, [parse(pairs, deployment.settings["max_request_items"])])
    if not resolved:
        return answers.text_answer("", g.request_log)    # an sfilter matching no sample: Snaptron's empty body
    query = resolved[0]
    if query.return_format:
        return ucsc.answer(deployment, query, pairs, g.request_log)
    return answers.junctions(deployment, query, g.request_log)
