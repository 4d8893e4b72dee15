"""GET /: the page — a region drawn as a sashimi plot, its junctions as a sortable table, the API docs.

The page is an HTML document, its CSS and its scripts (static/), all served
by this app: it works in a cluster with no internet (no CDN, no web fonts).
Its scripts call the same API any client does (format=json with limit= and
fields= for the rows, fields=rc for the count, ids= and POST /samples for one
junction's samples, /readyz for the shards and the loaded sequences), so the
page shows exactly what the API answers. The plots are SVG written by hand
(static/sashimi.js, static/samples_plot.js): smaller than any plotting
library that draws arcs, and nothing to vendor.

GET /docs/API.md serves the API reference from the repository's docs/ (the
image copies it to the same place relative to this package), as plain text.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, g, render_template, request, send_file

from snapthunder.junctions import COLUMNS

blueprint = Blueprint("page", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static")

API_REFERENCE = Path(__file__).resolve().parents[3] / "docs" / "API.md"
# The columns the page fetches: all but the sample lists, which can be 100 kB a row; one click fetches them.
PAGE_FIELDS = tuple(name for name in COLUMNS if name not in ("samples", "source_dataset_id"))


@blueprint.get("/")
def page():
    """The page over `?compilation=NAME` (any one served; a 404 listing them otherwise), else the first configured."""
    deployment = current_app.extensions["snapthunder"]
    name = request.args.get("compilation") or deployment.endpoints().first_compilation
    if "compilation" in request.args:
        deployment.serving(name, g.deadline)
    return render_template("page.html", compilation=name,
                           page_rows=deployment.settings["page_rows"], page_fields=PAGE_FIELDS)


@blueprint.get("/docs/API.md")
def api_reference():
    return send_file(API_REFERENCE, mimetype="text/plain; charset=utf-8", max_age=0)
