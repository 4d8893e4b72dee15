"""The one error shape, and how a shard's failure becomes an HTTP status.

Every error the API reports, before or during a stream, is one line of text
or one JSON object:

    text/plain          #ERROR <status> <message>
    application/json    {"error": {"status": <status>, "parameter": <name or null>, "message": <message>}}

Before any row is sent the status line carries the code too (400, 404, 503,
504, 500). Once rows are streaming the status is already 200, so the same
line ends the body (JSON: the `error` member of the trailer): an answer that
was cut short never looks complete. `error_response` and `marker_line` are
the only places that format errors.
"""

from __future__ import annotations

import json
import logging

import psycopg2
import psycopg2.errors
from flask import Request, Response

from snapthunder import gene_loci, wire
from snapthunder.endpoints import Shard

logger = logging.getLogger("snapthunder.api")


class ApiError(Exception):
    """An answer that is an error: HTTP status, the parameter at fault (if any), a one-line message."""

    def __init__(self, status: int, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = " ".join(message.split())
        self.parameter = parameter

    def as_json(self) -> dict:
        return {"status": self.status, "parameter": self.parameter, "message": self.message}


class ShardUnavailable(ApiError):
    """A shard that cannot be reached: 503, naming the shard and the chromosomes it holds."""

    def __init__(self, shard: Shard, detail: str) -> None:
        super().__init__(503, f"{shard.describe()} is unavailable ({_first_line(detail)}): its chromosomes "
                              "cannot be queried until it is back; the other shards still answer")
        self.shard = shard


class NamesChanged(ApiError):
    """A shard refused a statement made from a worker's cached gene names: a load has committed since (name_cache.py)."""

    def __init__(self, shard: Shard) -> None:
        super().__init__(503, f"{shard.describe()}: the compilation was loaded again during this request, which "
                              "may have changed its gene names; try again")


def wants_json(request: Request) -> bool:
    """JSON only when the request says `format=json`: Accept is ignored, as Snaptron ignores it.

    snapcount sends httr's default `Accept: application/json, …, */*` and then
    requires `text/plain`; honouring Accept would break every one of its queries.
    """
    return request.args.get("format") == "json"


def error_response(error: ApiError, as_json: bool) -> Response:
    if as_json:
        return Response(json.dumps({"error": error.as_json()}) + "\n", error.status,
                        content_type=wire.JSON_CONTENT_TYPE)
    return Response(marker_line(error), error.status, content_type=wire.TSV_CONTENT_TYPE)


def marker_line(error: ApiError) -> str:
    """`#ERROR <status> <message>`: the text form, alone or as the last line of a cut stream."""
    return f"#ERROR {error.status} {error.message}\n"


def shard_failure(shard: Shard, error: BaseException, timeout_seconds: float) -> ApiError:
    """What a shard's exception means to the client; unexpected ones are logged with their traceback."""
    if isinstance(error, ApiError):
        return error
    if getattr(error, "pgcode", None) == gene_loci.NAMES_CHANGED:
        return NamesChanged(shard)
    if isinstance(error, psycopg2.errors.LockNotAvailable):
        return ApiError(503, f"{shard.describe()} is held by a load being committed, or left prepared by a loader "
                             "that died (`python -m loaders --recover` finishes it); try again shortly")
    if isinstance(error, psycopg2.errors.UndefinedTable):
        return ApiError(404, f"{shard.describe()}: this compilation is no longer there (it was dropped); "
                             "GET /snaptron/registry lists the compilations loaded")
    if isinstance(error, psycopg2.errors.QueryCanceled):
        return ApiError(504, f"{shard.describe()}: the query ran past the statement timeout of "
                             f"{timeout_seconds:g} s; narrow the regions or add filters")
    if isinstance(error, (psycopg2.OperationalError, psycopg2.InterfaceError)):
        return ShardUnavailable(shard, str(error) or type(error).__name__)
    if isinstance(error, psycopg2.Error):
        return ApiError(500, f"{shard.describe()} failed: {_first_line(error.pgerror or str(error))}")
    logger.error("unexpected failure reading %s", shard.name, exc_info=error)
    return ApiError(500, f"internal error while reading {shard.name}; the server log has the details")


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no detail"
