"""POST /<compilation>/snaptron (genes, exons): several queries in one request, in the three forms clients send.

* **`groups=`** (Snaptron's bulk form, what query_snaptron.py sends): a form
  POST whose `groups` field is base64 of `q1|||q2|||…`, each query a GET
  query string with a `group=<label>`. Answered in query order, each query
  streamed as it runs, header once with `Group` as its first name and each
  row's label as its first column; no de-duplication.
* **legacy `fields=`**: a form POST whose `fields` field is a JSON list of
  clauses (`intervals`, `ids`, `{"samples_count": [{"op": ">:", "val": 5}]}`),
  each run in order, header once, then Snaptron's `datatypes:` line.
* **JSON body** (ours): `application/json`, a list of query objects OR-ed;
  each row once, in (chromosome, start, end) order, output options in the URL.

Gene names, sample groups and `sfilter=` (in a `groups=` query, or in the
URL of the other forms) are resolved first (names.py); a query left without
samples has no rows. Every form is bounded like a GET: at most max_request_bytes of body and
max_request_items queries, the caps counted over the whole answer.
"""

from __future__ import annotations

import json

from flask import Blueprint, g, request

from snapthunder import wire
from snapthunder.posted_queries import parse_bulk, parse_groups, parse_legacy
from snapthunder.query import QueryError

from snapthunder_api import answers, names, snaptron
from snapthunder_api.errors import ApiError

blueprint = Blueprint("bulk", __name__)


@blueprint.post(f"/<compilation>/<{snaptron.ENDPOINT}>", strict_slashes=False)
@names.rechecked
def bulk(compilation: str, endpoint_name: str):
    deployment = answers.serving(compilation)
    settings = deployment.settings
    most = settings["max_request_bytes"]
    if request.content_length is None or request.content_length > most:
        raise ApiError(400, f"body: give a POST body of at most {most:,} bytes "
                            f"(Content-Length: {request.content_length})", "body")
    pairs = answers.request_parameters(deployment)
    if request.mimetype == "application/json":
        query = parse_bulk(posted_json(request.get_data(as_text=True), "body"), pairs, settings["max_request_items"])
        [query] = answers.of_endpoint(endpoint_name, [query])
        resolved = names.resolved(deployment, [query])
        return answers.junctions(deployment, resolved[0], g.request_log) if resolved else _no_samples()
    if "groups" in request.form:
        queries = answers.of_endpoint(endpoint_name, parse_groups(request.form["groups"],
                                                                  settings["max_request_items"]))
        header = "\t".join(queries[0].output_columns) + "\n"
        parts = [answers.Part(query, query.group) for query in names.resolved(deployment, queries)]
        return answers.in_order(deployment, parts, header.encode(), g.request_log) if parts else _no_samples()
    if "fields" in request.form:
        queries = answers.of_endpoint(endpoint_name, parse_legacy(posted_json(request.form["fields"], "fields"), pairs,
                                                                  settings["max_request_items"]))
        leading = answers.leading_column(deployment, queries[0])
        header = "\t".join(queries[0].output_columns) + "\n" + wire.datatypes_line(queries[0].fields) + "\n"
        parts = [answers.Part(query, leading) for query in names.resolved(deployment, queries)]
        if not parts:
            return _no_samples()
        return answers.in_order(deployment, parts, header.encode() if queries[0].header else b"", g.request_log)
    raise ApiError(400, 'no "fields" or "groups" parameter in POST: send groups=<base64 of q1|||q2>, '
                        "fields=<JSON list>, or a JSON body", "body")


def _no_samples():
    """Every query's sfilter matched no sample: Snaptron's empty body."""
    return answers.text_answer("", g.request_log)


def posted_json(text: str, parameter: str):
    """A posted JSON document; malformed or absurdly nested JSON is a 400 naming the parameter."""
    try:
        return json.loads(text)
    except RecursionError:
        raise QueryError(parameter, "JSON nested too deeply: a query list is a list of flat objects") from None
    except ValueError as error:
        raise QueryError(parameter, f"not JSON ({error})") from None
