"""The curl examples of README.md and docs/API.md, as written: found, run and judged.

A new user's first request is one of these; an answer of a header alone
looks like a bug, so every example must answer with rows on the demo's data.
An example is every command in a ```sh block that starts with `curl` (with its
backslash-continued and quoted lines); it runs in bash as written, with API
set, curl made to fail on an HTTP error status, in a scratch directory (one
example writes samples.tsv).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
DOCUMENTS = ("README.md", "docs/API.md")
SH_BLOCK = re.compile(r"^ *```sh\n(.*?)^ *```", re.DOTALL | re.MULTILINE)
HEADER_STARTS = ("DataSource:Type", "Group\t", "datatypes:", "browser position", "track ")
EXAMPLE_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class Example:
    document: str
    line: int
    command: str

    def __str__(self) -> str:
        return f"{self.document}:{self.line}: {self.command}"


def examples() -> list[Example]:
    """Every curl command in a ```sh block of the documents, in order."""
    found = []
    for document in DOCUMENTS:
        text = (REPOSITORY / document).read_text()
        for block in SH_BLOCK.finditer(text):
            first_line = text.count("\n", 0, block.start(1)) + 1
            for offset, command in _commands(block.group(1)):
                if command.startswith("curl "):
                    found.append(Example(document, first_line + offset, command))
    return found


def _commands(block: str) -> list[tuple[int, str]]:
    """Split a shell block into commands: a line ending in `\\`, or inside an open quote, continues."""
    commands, current, start = [], "", 0
    for number, line in enumerate(block.splitlines()):
        if not current:
            start = number
        current += line + "\n"
        unquoted = _unquoted(current)
        if not line.endswith("\\") and "'" not in unquoted and '"' not in unquoted:
            command = re.sub(r"\s+#[^'\"]*$", "", current.strip())   # a trailing comment is not the command
            if command and not command.startswith("#"):
                commands.append((start, command))
            current = ""
    return commands


def _unquoted(text: str) -> str:
    """The text with its closed quoted strings taken out (an unclosed quote stays, and shows)."""
    return re.sub(r"""'[^']*'|"[^"]*\"""", "", text)


def run(example: Example, api_url: str, directory: Path) -> str:
    """The example's output (stdout, or the file it redirects into); fails on curl's or the server's error."""
    (directory / ".curlrc").write_text("fail-with-body\nsilent\nshow-error\n")
    environment = {**os.environ, "API": api_url, "CURL_HOME": str(directory)}
    result = subprocess.run(["bash", "-c", example.command], cwd=directory, env=environment,
                            capture_output=True, text=True, timeout=EXAMPLE_SECONDS)
    assert result.returncode == 0, f"{example} failed: {result.stderr.strip()} {result.stdout[:300]}"
    redirected = re.search(r">\s*(\S+)\s*$", _unquoted(example.command))
    return (directory / redirected.group(1)).read_text() if redirected else result.stdout


def has_rows(output: str) -> bool:
    """Whether an answer carries rows: data lines after any header, a non-zero count, JSON rows."""
    text = output.strip()
    if text.startswith(("{", "[")):
        document = json.loads(text)
        if "rows" in document:
            return bool(document["rows"])
        return document["count"] > 0 if "count" in document else document.get("all_shards_ready", False)
    lines = [line for line in text.splitlines() if line and not line.startswith(HEADER_STARTS)]
    assert not any(line.startswith("#") for line in lines), output[-300:]
    if len(lines) == 1 and re.fullmatch(r"\d+(\.\d+)?", lines[0]):   # fields=rc, check_for_update=1
        return float(lines[0]) > 0
    return bool(lines)
