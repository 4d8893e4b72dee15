"""GET /<compilation>/samples: the compilation's sample metadata, as Snaptron serves it.

`ids=rail_id,…` or `all=1`; the answer is samples.tsv's header line and the
matching lines in rail_id order. Clients fetch it once to label their
junctions' samples. Every shard holds every sample, so any shard that is up
answers.
"""

from __future__ import annotations

from flask import Blueprint, g

from snapthunder.query import parse_samples

from snapthunder_api import answers

blueprint = Blueprint("samples", __name__)


@blueprint.get("/<compilation>/samples")
def samples(compilation: str):
    deployment = answers.serving(compilation)
    rail_ids = parse_samples(answers.request_parameters(deployment), deployment.settings["max_request_items"])
    return answers.samples(deployment, rail_ids, g.request_log)
