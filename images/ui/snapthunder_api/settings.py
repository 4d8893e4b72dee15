"""Every setting of the API server, in one declarative table.

Each setting has a name, a default and a help text; its environment variable
is `SNAPTHUNDER_` + the upper-cased name. `create_app` layers them as flaskr
does (defaults → environment → test overrides), gunicorn.conf.py reads its
worker settings from the same table, and `markdown_table()` renders it for the
README and docs/API.md (a test keeps those in sync).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping

from snapthunder.localenv import DEFAULT_OUTPUTS

PREFIX = "SNAPTHUNDER_"


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str

    @property
    def variable(self) -> str:
        return PREFIX + self.name.upper()


# A live shard ends a statement itself by its statement timeout; one silent this
# many times that is frozen or unreachable, and the API gives up on it (watchdog.py).
SILENCE_FACTOR = 1.25

SETTINGS: tuple[Setting, ...] = (
    Setting("endpoints", str(DEFAULT_OUTPUTS),
            "endpoints document to serve (the API connects as its `reader` role only)"),
    Setting("statement_timeout_seconds", 30.0,
            "longest a shard statement may run; a query over it gets 504, "
            f"or the `#ERROR 504` marker once rows were sent; a shard silent for {SILENCE_FACTOR:g} times this "
            "counts as stopped (503 naming it)"),
    Setting("lock_wait_seconds", 5.0,
            "longest a statement waits behind a load being committed on its shard (or one a loader that died left "
            "prepared); past it a 503 says so and how to finish that load"),
    Setting("request_seconds", 60.0,
            "longest one request may take, all its statements and parts included; past it the answer is a 504 "
            "(or ends with the `#ERROR 504` marker) naming the request and its size, not a shard"),
    Setting("client_stall_seconds", 20.0,
            "longest a client may take nothing of a streaming answer; past it the answer is abandoned "
            "(its last line `#ERROR 504`, if the client ever reads again) and its shard connections are freed"),
    Setting("row_cap", 2_000_000,
            "most rows one answer carries; past it the answer ends with the `#TRUNCATED` marker (JSON: `truncated`)"),
    Setting("byte_cap", 2 * 1024**3,
            "most bytes of rows one answer carries; past it, as for row_cap"),
    Setting("max_request_items", 10_000,
            "most regions, ids, sids, filters or bulk queries in one request; more is a 400"),
    Setting("max_request_bytes", 1024**2,
            "longest bulk POST body (the front answers 413 past it) or query string (the app answers 400)"),
    Setting("pool_size", 4, "connections each worker process keeps per shard (also the most it opens)"),
    Setting("pool_wait_seconds", 10.0, "how long a request waits for a free connection before a 503"),
    Setting("connect_timeout_seconds", 3, "how long connecting to a shard, or its /readyz check, may take before "
                                          "it counts as down"),
    Setting("page_rows", 1000, "junctions the page (GET /) draws and lists (their sample lists are fetched on a "
                               "click); the download link has them all"),
    Setting("bind", "0.0.0.0:8000", "address the HTTP front (nginx) listens on: the API's address"),
    Setting("app_bind", "127.0.0.1:8001", "address gunicorn listens on, behind the front (loopback: only the front "
                                          "reaches it)"),
    Setting("header_seconds", 10.0, "longest a client may take to send its request line and headers, or pause "
                                    "in its body; past it the front closes the connection"),
    Setting("max_request_line_bytes", 64 * 1024, "longest request line (and any one header) the front accepts; "
                                                 "longer is a 414 (send long queries as a POST body)"),
    Setting("workers", 2, "gunicorn worker processes (each has its own connection pools)"),
    Setting("threads", 8, "threads per worker (gthread): concurrent requests per worker, streaming included"),
)
BY_NAME = {setting.name: setting for setting in SETTINGS}


class SettingsError(ValueError):
    """An environment variable that does not parse as its setting's type; names the variable."""


def from_environment(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Every setting, its default replaced by `SNAPTHUNDER_<NAME>` where that is set."""
    values = {}
    for setting in SETTINGS:
        text = environ.get(setting.variable)
        values[setting.name] = setting.default if text is None else _parse(setting, text)
    return values


def markdown_table() -> str:
    """The settings as a Markdown table: what the README and docs/API.md show."""
    lines = ["| setting (environment variable) | default | what it does |", "|---|---|---|"]
    for setting in SETTINGS:
        default = f"{setting.default:,}" if isinstance(setting.default, int) else str(setting.default)
        lines.append(f"| `{setting.variable}` | `{default}` | {setting.help} |")
    return "\n".join(lines) + "\n"


def _parse(setting: Setting, text: str) -> Any:
    kind = type(setting.default)
    try:
        value = kind(text.replace("_", "")) if kind in (int, float) else text
    except ValueError:
        raise SettingsError(f"{setting.variable}={text!r}: expected a {kind.__name__}") from None
    if kind in (int, float) and value <= 0:
        raise SettingsError(f"{setting.variable}={text!r}: must be positive")
    return value
