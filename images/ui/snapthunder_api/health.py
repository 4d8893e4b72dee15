"""/healthz and /readyz: what Kubernetes' probes (infra/ui.py) and the page ask.

/healthz answers as long as the process serves requests, without touching a
shard: a shard that is down must not get the API restarted. /readyz checks
every shard in parallel and says, per shard, whether it answers, how many
rows and chromosomes it holds and how long it took; 503 when any is down.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz():
    deployment = current_app.extensions["snapthunder"]
    shards = deployment.readiness()
    ready = all(shard["ready"] for shard in shards)
    body = {"ready": ready, "compilation": deployment.endpoints().compilation, "shards": shards}
    return jsonify(body), 200 if ready else 503
