"""GET /snaptron/registry: which compilations this server has, and each one's sample fields.

snapcount fetches it (as `//snaptron/registry`) when it loads: it drops
exactly the first 7 bytes (`200 OK\\n`) and parses the rest as JSON, so the
prefix is part of the format (wire.registry_body). Its names become
snapcount's compilation choices and its field types check `sfilter`s. It is
made from what the shards hold: every compilation a load has committed to
(each its own schema), and each one's samples.tsv columns with the types
the loader gave them.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g

from snapthunder import statements, wire

blueprint = Blueprint("registry", __name__)


@blueprint.get("/snaptron/registry", strict_slashes=False)
@blueprint.get("/snaptron/registry/<path:ignored>")
def registry(ignored: str | None = None):
    deployment = current_app.extensions["snapthunder"]
    compilations = {name: deployment.first_answer(statements.REGISTRY_FIELDS, compilation=name, deadline=g.deadline)
                    for name in deployment.loaded(g.deadline)}
    return Response(wire.registry_body(compilations), content_type=wire.JSON_CONTENT_TYPE)
