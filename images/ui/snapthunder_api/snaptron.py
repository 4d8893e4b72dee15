"""GET /<compilation>/snaptron: Snaptron's junction query, answered as a stream.

The parameters are Snaptron's (docs/API.md): regions, contains, exact,
either, rfilter, sids, ids, fields, header; plus limit and format. Parsing
and checking are snapthunder.query's; answering is answers.junctions'.
"""

from __future__ import annotations

import dataclasses

from flask import Blueprint, g, request

from snapthunder.query import parse

from snapthunder_api import answers
from snapthunder_api.errors import wants_json

blueprint = Blueprint("snaptron", __name__)


@blueprint.get("/<compilation>/snaptron")
def snaptron(compilation: str):
    deployment = answers.serving(compilation)
    query = parse(answers.request_parameters(deployment), deployment.settings["max_request_items"])
    if wants_json(request):
        query = dataclasses.replace(query, format="json")
    return answers.junctions(deployment, query, g.request_log)
