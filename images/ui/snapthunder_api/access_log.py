"""One structured access-log line per request, written when the response is finished.

gunicorn's own access log is off (gunicorn.conf.py): it logs when the status
line goes out, before a streamed body has been sent, so it cannot know how
many rows went out or whether the stream completed. This line is written when
the WSGI server closes the response, after the last byte:

    {"event": "request", "method": "GET", "path": "/gtex/snaptron", "query": "regions=…",
     "status": 200, "rows": 1234, "bytes": 456789, "outcome": "complete",
     "shards": ["shard-0"], "duration_ms": 12.3}

`outcome` is complete, truncated (a cap), error (a failure after rows were
sent) or unfinished (the client left before the end).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time

logger = logging.getLogger("snapthunder.access")


@dataclasses.dataclass
class RequestLog:
    method: str
    path: str
    query: str
    started: float = dataclasses.field(default_factory=time.monotonic)
    status: int = 0
    rows: int = 0
    bytes: int = 0
    outcome: str = "unfinished"
    shards: list[str] = dataclasses.field(default_factory=list)
    written: bool = False

    def write(self) -> None:
        """Log the line once (the WSGI server may close a response more than once)."""
        if self.written:
            return
        self.written = True
        line = {
            "event": "request", "method": self.method, "path": self.path, "query": self.query[:2000],
            "status": self.status, "rows": self.rows, "bytes": self.bytes, "outcome": self.outcome,
            "shards": self.shards, "duration_ms": round((time.monotonic() - self.started) * 1000, 1),
        }
        logger.info(json.dumps(line))
