"""GET /<compilation>/snaptron|genes|exons[/<ids>]: Snaptron's junction (gene, exon) query, answered as a stream.

The three endpoints are one query language over three tables of the same
shape (snapthunder/features.py): the path's endpoint sets the query's
feature, which picks the table, the row prefix (`GTEx:I`, `GTEx:G`,
`GTEx:E`) and the header's names; everything else is the same code.

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

from snapthunder.features import FEATURES
from snapthunder.query import parse

from snapthunder_api import answers, names, ucsc

blueprint = Blueprint("snaptron", __name__)
# The Flask converter matching the three endpoints' names (also used by bulk.py).
ENDPOINT = "any(" + ", ".join(FEATURES) + "):endpoint_name"


@blueprint.get(f"/<compilation>/<{ENDPOINT}>", strict_slashes=False)
@blueprint.get(f"/<compilation>/<{ENDPOINT}>/<path:path_ids>")
@names.rechecked
def snaptron(compilation: str, endpoint_name: str, path_ids: str | None = None):
    deployment = answers.serving(compilation)
    pairs = answers.request_parameters(deployment, path_ids)
    query = parse(pairs, deployment.settings["max_request_items"])
    resolved = names.resolved(deployment, answers.of_endpoint(endpoint_name, [query]))
    if not resolved:
        return answers.text_answer("", g.request_log)    # an sfilter matching no sample: Snaptron's empty body
    query = resolved[0]
    if query.return_format:
        return ucsc.answer(deployment, query, pairs, g.request_log)
    return answers.junctions(deployment, query, g.request_log)
