"""The HTTP front: nginx in front of gunicorn, configured from the API's settings table.

Why a front at all: gunicorn gives each connection a thread for as long as
the client takes to send its headers, so 32 sockets that send half a request
and wait take every thread of the API, for ever (it has no header deadline);
and it parses an over-long request line in quadratic time before the app can
refuse it. nginx reads requests with one event loop whatever the count of
idle sockets, ends any that does not finish its headers (or pauses in its
body) within `header_seconds`, refuses request lines over
`max_request_line_bytes` and bodies over `max_request_bytes` before they
reach Python, and passes only whole requests on. Answers are not buffered
(`proxy_buffering off`): rows stream through as they come, and a client that
stops reading holds back the app, whose stall deadline then frees its shard
connections.

Chosen by measurement against gunicorn alone, granian and waitress
(README, "Reliability"): granian refuses a raw `>` in the query string,
which curl and R send (`rfilter=samples_count>:5`), and waitress stops
answering past its connection limit.

Errors nginx itself answers (400, 413, 414, oversize headers, and 502/504
when gunicorn does not answer) are one `text/plain` line in the API's own
`#ERROR <status> <message>` form; a client too slow to
send its request is disconnected without an answer.

`python -m snapthunder_api.front_end CONF` writes the configuration to CONF
and execs nginx on it: the UI pod's `front` container and the local
environment start the front this one way.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any, Mapping

from snapthunder_api.settings import from_environment

# Errors nginx answers itself, in the API's error form: status nginx raises →
# (status sent, message). 494 is nginx's own code for oversize headers: a 400.
FRONT_ERRORS = {
    400: (400, "the request is not valid HTTP"),
    413: (413, "the request body is over {max_request_bytes:,} bytes; split the bulk query"),
    414: (414, "the request line is over {max_request_line_bytes:,} bytes; send long queries as a POST body"),
    494: (400, "the request headers are over {max_request_line_bytes:,} bytes each or 4 times that in all"),
    502: (502, "the API behind the front is not answering (restarting?); try again"),
    504: (504, "the API behind the front sent nothing for {upstream_seconds:g} s"),
}

ERROR_PATH = "/.front-errors/"

TEMPLATE = """\
# Written by snapthunder_api.front_end from the API's settings; do not edit.
daemon off;
worker_processes 1;   # proxying is light: one event loop is plenty for a 2-core pod
pid {runtime}/nginx.pid;
error_log stderr warn;

events {{
    worker_connections 4096;   # sockets one front holds at once, idle ones included
}}

http {{
    access_log off;
    server_tokens off;
    default_type text/plain;
    client_body_temp_path {runtime}/client_body;
    proxy_temp_path {runtime}/proxy;
    fastcgi_temp_path {runtime}/fastcgi;
    uwsgi_temp_path {runtime}/uwsgi;
    scgi_temp_path {runtime}/scgi;

    client_header_timeout {header_seconds:g}s;
    client_body_timeout {header_seconds:g}s;
    client_header_buffer_size 4k;
    large_client_header_buffers 4 {max_request_line_bytes};
    client_max_body_size {max_request_bytes};
    client_body_buffer_size {max_request_bytes};
    keepalive_timeout 5s;
    send_timeout {send_seconds:g}s;
    merge_slashes off;

    upstream api {{
        server {app_bind};
        keepalive 32;
        keepalive_timeout 4s;   # below gunicorn's keepalive (5 s): nginx never reuses one gunicorn is closing
    }}

    server {{
        listen {bind};
{error_pages}
        location / {{
            proxy_pass http://api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_buffering off;
            proxy_request_buffering on;
            proxy_read_timeout {upstream_seconds:g}s;
        }}
{error_locations}
    }}
}}
"""


def render(settings: Mapping[str, Any], runtime: Path) -> str:
    """The nginx configuration for these settings, keeping its pid and temporary files under `runtime`."""
    values = dict(settings, runtime=runtime,
                  # the app ends every answer by request_seconds; the front waits a little longer
                  upstream_seconds=settings["request_seconds"] + 10,
                  # the app abandons a stalled answer first, so its '#ERROR 504' line can still go out
                  send_seconds=settings["client_stall_seconds"] + 10)
    # URI error pages, not named locations: nginx cannot redirect a request whose line it could not read to those.
    pages = "\n".join(f"        error_page {raised} = {ERROR_PATH}{raised};" for raised in FRONT_ERRORS)
    locations = "\n".join(
        f"        location = {ERROR_PATH}{raised} {{\n"
        f"            internal;\n"
        f"            return {sent} \"#ERROR {sent} {_quoted(text.format(**values))}\\n\";\n"
        f"        }}" for raised, (sent, text) in FRONT_ERRORS.items())
    return TEMPLATE.format(**values, error_pages=pages, error_locations=locations)


def nginx_binary() -> str:
    """nginx on PATH or in /usr/sbin (Debian's place, not on an ordinary user's PATH)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise SystemExit("nginx is not installed: the API's front needs it "
                         "(Debian/Ubuntu: apt-get install nginx-light)")
    return found


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "")


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m snapthunder_api.front_end CONF   (writes CONF, then runs nginx on it)")
    conf = Path(argv[0]).resolve()
    runtime = conf.parent
    runtime.mkdir(parents=True, exist_ok=True)
    conf.write_text(render(from_environment(), runtime))
    binary = nginx_binary()
    os.execv(binary, [binary, "-e", "stderr", "-p", str(runtime), "-c", str(conf)])


if __name__ == "__main__":
    main(sys.argv[1:])
