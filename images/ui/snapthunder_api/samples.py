"""GET (and legacy POST) /<compilation>/samples: the compilation's sample metadata, as Snaptron serves it.

* `all=1`: samples.tsv verbatim, header included (snapcount reads this).
* `check_for_update=1`: when the samples were loaded, as Python 2 float text
  (`1764582000.25`; `0.0` before any load): the Python client refetches
  `all=1` when it is newer than its cache.
* `ids=4,10` or `/samples/4`: `DataSource:Type` + the header, then
  `GTEx:S` + each sample's line in rail_id order, once each; an unknown
  rail_id answers its id and NA in every other column.
* POST `fields=[{"ids": [...], "sample_fields": "0,1,11"}]`: as `ids=`, each
  row cut to those 0-based columns.
* `sfilter=smts:Brain&sfilter=smrin>:8`: the samples every clause matches
  (sample_search.py), `DataSource:Type`, a score column and the header, then
  `GTEx:S <score> <line>`, best first; nothing at all when none matches.

Every shard holds every sample, so the first shard that answers does.
"""

from __future__ import annotations

from flask import Blueprint, g, request

from snapthunder import sample_search, statements, wire
from snapthunder.posted_queries import parse_legacy_samples
from snapthunder.query import SamplesRequest, parse_samples

from snapthunder_api import answers, names
from snapthunder_api.bulk import posted_json
from snapthunder_api.errors import ApiError
from snapthunder_api.shards import Served

blueprint = Blueprint("samples", __name__)


@blueprint.get("/<compilation>/samples", strict_slashes=False)
@blueprint.get("/<compilation>/samples/<path:path_ids>")
def samples(compilation: str, path_ids: str | None = None):
    deployment = answers.serving(compilation)
    wanted = parse_samples(answers.request_parameters(deployment, path_ids), deployment.settings["max_request_items"])
    if wanted.kind == "update":
        loaded_at = deployment.first_answer(statements.SAMPLES_LOADED_AT)
        return answers.text_answer((loaded_at[0][0] if loaded_at else "0.0") + "\n", g.request_log)
    return _lines(deployment, wanted)


@blueprint.post("/<compilation>/samples", strict_slashes=False)
def legacy_samples(compilation: str):
    deployment = answers.serving(compilation)
    if "fields" not in request.form:
        raise ApiError(400, 'no "fields" parameter in POST: send fields=[{"ids": [...], "sample_fields": "0,1"}]',
                       "fields")
    wanted = parse_legacy_samples(posted_json(request.form["fields"], "fields"),
                                  deployment.settings["max_request_items"])
    return _lines(deployment, wanted)


def _lines(deployment: Served, wanted: SamplesRequest):
    data_source = wire.data_source(deployment.compilation.data_source, "S")
    if wanted.kind == "search":
        select, parameters = sample_search.search_statement(wanted, names.fields(deployment), data_source)
    else:
        select, parameters = statements.samples_statement(wanted, data_source)

    def make(cursor):
        return [("", cursor.mogrify(statements.copy_lines_statement(select), parameters))]

    failure = None
    for name in sorted(deployment.endpoints().shards):
        try:
            streams = answers.open_streams(deployment, {name: make}, g.deadline)
        except ApiError as error:
            failure = error
            continue
        g.request_log.shards = [name]
        feed = answers.RowFeed(streams, None, deployment.settings, g.request_log, escaped=False)
        return answers.streamed_rows(feed, streams, header_needs_a_row=wanted.kind == "search" and wanted.header)
    raise failure
