"""/healthz and /readyz: what Kubernetes' probes (infra/ui.py) and the page ask.

/healthz answers as long as the process serves requests, without touching a
shard: a shard that is down must not get the API restarted. /readyz is
readiness in Kubernetes' sense, "this pod can serve": 200 once the pod has
its endpoints document, whatever the shards do. A shard that is down makes
every pod equally unable to answer its chromosomes, and marking the pods
not-ready would take the Service's endpoints away from the other shards'
queries too. The body shows each shard's health, checked in parallel:
whether it answers, its rows and chromosomes, how long it took, and
`shards_ready` of `shards_total`.
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
    compilations = list(deployment.endpoints().compilations)   # a 503 when the pod has no document to serve
    shards = deployment.readiness()
    ready_count = sum(shard["ready"] for shard in shards)
    return jsonify(ready=True, compilations=compilations, all_shards_ready=ready_count == len(shards),
                   shards_ready=ready_count, shards_total=len(shards), shards=shards)
