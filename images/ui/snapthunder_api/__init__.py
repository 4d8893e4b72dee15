"""snapthunder's query API and page: Snaptron's language over the shards, streamed and bounded.

`create_app(test_config=None)` is the app factory gunicorn calls
(`snapthunder_api:create_app()`). Settings come from the table in
settings.py: defaults, then `SNAPTHUNDER_*` environment variables, then
`test_config` (lower-case setting names; upper-case keys go to Flask's own
config). Nothing connects here: see shards.Deployment.

Blueprints: snaptron (GET /<compilation>/snaptron), bulk (POST of the same),
samples (/<compilation>/samples), gene_annotations (/<compilation>/annotations), registry (/snaptron/registry), health
(/healthz, /readyz), page (GET /, its /static/ files and /docs/API.md).
Every error, from any of them, leaves through `error_response` (errors.py).
Paths are taken with repeated slashes collapsed (`//snaptron/registry`,
`/gtex//snaptron`), as Snaptron's Apache and CherryPy do: snapcount and UCSC
links send them.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, Mapping

from flask import Flask, current_app, g, request
from werkzeug.exceptions import HTTPException

from snapthunder.query import QueryError

from snapthunder_api import settings as settings_module
from snapthunder_api.access_log import RequestLog
from snapthunder_api.deadline import Deadline
from snapthunder_api.errors import ApiError, error_response, wants_json
from snapthunder_api.shards import Deployment

EXTENSION = "snapthunder"
logger = logging.getLogger("snapthunder.api")


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    values = settings_module.from_environment()
    for key, value in (test_config or {}).items():
        if key.isupper():
            app.config[key] = value
        elif key in settings_module.BY_NAME:
            values[key] = value
        else:
            raise settings_module.SettingsError(f"unknown setting {key!r}; known: {', '.join(settings_module.BY_NAME)}")
    app.extensions[EXTENSION] = Deployment(values)
    _configure_logging()

    from snapthunder_api import bulk, gene_annotations, health, page, registry, samples, snaptron
    for module in (snaptron, bulk, samples, gene_annotations, registry, health, page):
        app.register_blueprint(module.blueprint)
    app.wsgi_app = _CollapseSlashes(app.wsgi_app)

    app.before_request(_start_request)
    app.after_request(_finish_log)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(QueryError, lambda error: _api_error(ApiError(400, str(error), error.parameter)))
    app.register_error_handler(HTTPException, lambda error: _api_error(ApiError(error.code or 500, error.description)))
    app.register_error_handler(Exception, _unexpected)
    return app


class _CollapseSlashes:
    """WSGI middleware: `//a///b` is served as `/a/b`."""

    def __init__(self, application) -> None:
        self.application = application

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if "//" in path:
            environ["PATH_INFO"] = re.sub("/{2,}", "/", path)
        return self.application(environ, start_response)


def _start_request() -> None:
    """The request's access-log line and its deadline (request_seconds) start now."""
    g.request_log = RequestLog(request.method, request.path, request.query_string.decode("latin-1"))
    g.deadline = Deadline(current_app.extensions[EXTENSION].settings["request_seconds"])


def _finish_log(response):
    log = g.get("request_log")
    if log is not None:
        log.status = response.status_code
        if not response.is_streamed and log.outcome == "unfinished":
            log.outcome = "complete" if response.status_code < 400 else "error"
        response.call_on_close(log.write)
    return response


def _api_error(error: ApiError):
    return error_response(error, wants_json(request))


def _unexpected(error: Exception):
    logger.error("unexpected error on %s %s", request.method, request.full_path, exc_info=error)
    return _api_error(ApiError(500, "internal error; the server log has the details"))


def _configure_logging() -> None:
    """INFO lines of the snapthunder loggers to stderr, once per process (gunicorn leaves app loggers alone)."""
    root = logging.getLogger("snapthunder")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
