"""POST /<compilation>/snaptron: several queries at once, OR-ed, as Snaptron clients send them.

The body is a JSON list of query objects, sent as `application/json` or, as
Snaptron's own clients do, as the form field `fields` of a form-encoded POST.
Each object selects rows with GET's names (`regions`, `contains`, `exact`,
`either`, `rfilter`, `ids`; a value or a list of values) or Snaptron's legacy
keys (`intervals`, and `{"samples_count": [{"op": ">:", "val": 5}]}`). The
answer is the union of their rows, each once, in (chromosome, start, end)
order; `sids`, `fields`, `header`, `limit` and `format` go in the URL and
apply to the whole answer.
"""

from __future__ import annotations

import dataclasses
import json

from flask import Blueprint, g, request

from snapthunder.query import parse_bulk

from snapthunder_api import answers
from snapthunder_api.errors import ApiError, wants_json

blueprint = Blueprint("bulk", __name__)


@blueprint.post("/<compilation>/snaptron")
def bulk(compilation: str):
    deployment = answers.serving(compilation)
    most = deployment.settings["max_request_bytes"]
    if request.content_length is None or request.content_length > most:
        raise ApiError(400, f"body: give a JSON list of queries of at most {most:,} bytes "
                            f"(Content-Length: {request.content_length})", "body")
    query = parse_bulk(_posted_queries(), answers.request_parameters(deployment),
                       deployment.settings["max_request_items"])
    if wants_json(request):
        query = dataclasses.replace(query, format="json")
    return answers.junctions(deployment, query, g.request_log)


def _posted_queries():
    if request.mimetype == "application/x-www-form-urlencoded":
        text = request.form.get("fields")
        if text is None:
            raise ApiError(400, "body: a form POST carries the JSON list of queries in its `fields` field", "fields")
    else:
        text = request.get_data(as_text=True)
    try:
        return json.loads(text)
    except ValueError as error:
        raise ApiError(400, f"body: not JSON ({error})", "body") from None
