"""Snaptron's URL language over HTTP, as a user's client sees it.

`GET {base}/{compilation}/snaptron?regions=...` (or `/genes`, `/exons`) answers TSV with a header line,
or only a count with `fields=rc`. Bodies are streamed and counted, never kept
whole: a 25 Mb window is hundreds of megabytes and the client must not be what
the benchmark measures. A connection is kept open between requests when the
server allows it (http.client reconnects by itself when the server says it
closes). A kept-alive connection the server dropped while it sat idle
(gunicorn's keepalive is seconds, a paper round is longer) fails on its next
request before any answer; that request is sent once more on a new
connection, as every HTTP client library does. A transfer cut short (Snaptron's failure mode: status 200, then a truncated
body) is an error, like a non-200 status.
"""

from __future__ import annotations

import dataclasses
import http.client
import re
import urllib.parse
from typing import Mapping

READ_SIZE = 1 << 16
TAIL_BYTES = 4096
_LAST_NUMBER = re.compile(rb"(\d+)\s*$")


class ApiError(Exception):
    """A request failed: no connection, a non-200 status or a cut-short body; the message says which."""


@dataclasses.dataclass(frozen=True)
class Response:
    body_bytes: int
    data_lines: int
    tail: bytes

    def count(self) -> int:
        """The number a `fields=rc` answer ends with."""
        match = _LAST_NUMBER.search(self.tail)
        if match is None:
            raise ApiError(f"a count answer should end with a number, got {self.tail[-80:]!r}")
        return int(match.group(1))


class ApiClient:
    """One user's connection to the API (or to another server speaking the same URLs)."""

    def __init__(self, base_url: str, compilation: str, endpoint: str = "snaptron", timeout: float = 300.0) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ApiError(f"{base_url!r} is not an http(s) URL")
        connection_class = http.client.HTTPSConnection if parsed.scheme == "https" else http.client.HTTPConnection
        self.connection = connection_class(parsed.hostname, parsed.port, timeout=timeout)
        self.path = f"{parsed.path.rstrip('/')}/{urllib.parse.quote(compilation)}/{endpoint}"
        self.base_url = base_url

    def snaptron(self, parameters: Mapping[str, str]) -> Response:
        return self.query(urllib.parse.urlencode(parameters, safe=":,>"))

    def query(self, query_string: str) -> Response:
        """`GET {base}/{compilation}/{endpoint}?{query_string}` (the string as given: Snaptron's own encoding)."""
        target = f"{self.path}?{query_string}"
        try:
            response = self._send(target)
            if response.status == 200:
                return _counted(response)
            failure = f"HTTP {response.status}: {response.read(300).decode('utf-8', 'replace').strip()}"
        except (http.client.HTTPException, OSError) as error:
            failure = f"{type(error).__name__}: {error}"
        self.connection.close()  # a failed exchange leaves the connection unusable: the next request opens a new one
        raise ApiError(f"GET {self.base_url}{target}: {failure}")

    def _send(self, target: str) -> http.client.HTTPResponse:
        idle_connection = self.connection.sock is not None
        try:
            self.connection.request("GET", target)
            return self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if not idle_connection:
                raise
        self.connection.close()
        self.connection.request("GET", target)
        return self.connection.getresponse()

    def close(self) -> None:
        self.connection.close()


def _counted(response: http.client.HTTPResponse) -> Response:
    """Read the body to its end, counting bytes and lines; the header line is not a data line."""
    body_bytes = 0
    newlines = 0
    tail = b""
    while chunk := response.read(READ_SIZE):
        body_bytes += len(chunk)
        newlines += chunk.count(b"\n")
        tail = (tail + chunk)[-TAIL_BYTES:]
    if response.length:  # bytes still owed by Content-Length: http.client does not raise for these
        raise http.client.IncompleteRead(tail, response.length)
    return Response(body_bytes, max(newlines - 1, 0), tail)
