"""GET /: the query page — a form, the first rows as a table, the count, a link to the full TSV.

The page is one HTML document with its CSS and JavaScript inline: it works
with no internet (no CDN, no web fonts). Its script calls the same API any
client does (format=json with limit=, fields=rc for the count, /readyz for the
shards' status), so the page shows exactly what the API answers.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

blueprint = Blueprint("page", __name__, template_folder="templates")


@blueprint.get("/")
def page():
    deployment = current_app.extensions["snapthunder"]
    return render_template("page.html", compilation=deployment.endpoints().compilation,
                           page_rows=deployment.settings["page_rows"])
