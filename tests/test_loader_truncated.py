"""Inputs that do not end properly fail the load, in one line, and change nothing.

Real files cut where truncation hides (at a BGZF block boundary, inside a gzip
member) and a real HTTP server on 127.0.0.1 that announces more bytes than it
sends or cuts a chunked body.
"""

from __future__ import annotations

import http.server
import threading
from pathlib import Path
from typing import Iterator

import pysam
import pytest

from loaders.cli import main
from tests.conftest import junction_lines, shard_contents, write_gzip

BGZF_EOF_BYTES = 28
BLOCK_HEADER_BYTES = 18


def _outputs(endpoints) -> Path:
    return Path(endpoints.extra["local"]["root"]).parent / "endpoints.json"


@pytest.fixture
def loaded_shards(empty_shards, tmp_path):
    """Shards holding a first load: what every failed load below must leave exactly as it is."""
    assert main([str(write_gzip(tmp_path / "first.gz", junction_lines())), "--outputs", str(_outputs(empty_shards)),
                 "--quiet", "--rejects", str(tmp_path / "first.rejects")]) == 0
    return empty_shards


def _bgzf(tmp_path: Path) -> bytes:
    """A real bgzip file (pysam's BGZF writer) of several blocks, for chromosomes on every shard."""
    text = tmp_path / "j.tsv"
    text.write_text("\n".join(junction_lines(per_chromosome=400, first_id=50_000)) + "\n")
    compressed = tmp_path / "j.bgz"
    pysam.tabix_compress(str(text), str(compressed), force=True)
    return compressed.read_bytes()


def _block_ends(data: bytes) -> list[int]:
    """Where each BGZF block ends (BSIZE, bytes 16-17 of its header, is its size minus one)."""
    ends, position = [], 0
    while position < len(data):
        position += int.from_bytes(data[position + 16:position + BLOCK_HEADER_BYTES], "little") + 1
        ends.append(position)
    return ends


def _load_fails_in_one_line(endpoints, source: str, expected: str, tmp_path, capsys) -> None:
    before = shard_contents(endpoints)
    code = main([source, "--outputs", str(_outputs(endpoints)), "--quiet", "--rejects", str(tmp_path / "r.tsv")])
    error = capsys.readouterr().err
    assert code == 1
    assert error.count("\n") == 1 and error == f"error: {expected}\n"
    assert shard_contents(endpoints) == before


def test_a_bgzf_file_cut_at_a_block_boundary_fails_naming_where_it_ends(loaded_shards, tmp_path, capsys):
    data = _bgzf(tmp_path)
    ends = _block_ends(data)
    assert len(ends) >= 4 and data[ends[-2]:] == data[-BGZF_EOF_BYTES:]
    cut = tmp_path / "cut.bgz"
    cut.write_bytes(data[:ends[-3]])  # the last data block and the end-of-file marker are gone
    _load_fails_in_one_line(loaded_shards, str(cut), f"{cut}: ends at byte {ends[-3]:,} without bgzip's end-of-file "
                            "marker: the file is truncated (re-download it)", tmp_path, capsys)


def test_a_bgzf_file_without_only_its_end_of_file_marker_fails_too(loaded_shards, tmp_path, capsys):
    data = _bgzf(tmp_path)
    cut = tmp_path / "no-eof.bgz"
    cut.write_bytes(data[:-BGZF_EOF_BYTES])
    _load_fails_in_one_line(loaded_shards, str(cut), f"{cut}: ends at byte {len(data) - BGZF_EOF_BYTES:,} without "
                            "bgzip's end-of-file marker: the file is truncated (re-download it)", tmp_path, capsys)


def test_a_complete_bgzf_file_loads(loaded_shards, tmp_path):
    whole = tmp_path / "whole.bgz"
    whole.write_bytes(_bgzf(tmp_path))
    assert main([str(whole), "--outputs", str(_outputs(loaded_shards)), "--quiet", "--rejects", str(tmp_path / "r")]) == 0


def test_a_gzip_file_cut_inside_a_member_fails_in_one_line(loaded_shards, tmp_path, capsys):
    data = write_gzip(tmp_path / "j.gz", junction_lines(per_chromosome=400, first_id=50_000)).read_bytes()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(data[: len(data) // 2])
    _load_fails_in_one_line(loaded_shards, str(cut), f"{cut}: ends at byte {len(data) // 2:,} inside a gzip member: "
                            "the file is truncated (re-download it)", tmp_path, capsys)


class _Lying(http.server.BaseHTTPRequestHandler):
    """Serves `body` as `/full`, `/short` (Content-Length says more than it sends) or `/chunked-cut`."""

    body = b""
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/chunked-cut":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            half = self.body[: len(self.body) // 2]
            self.wfile.write(f"{len(half):x}\r\n".encode() + half + b"\r\n")
            self.wfile.write(f"{len(half):x}\r\n".encode() + half[: len(half) // 2])  # cut inside the 2nd chunk
        else:
            sent = self.body if self.path == "/full" else self.body[: len(self.body) // 2]
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(sent)
        self.close_connection = True

    def log_message(self, *arguments) -> None:
        pass


@pytest.fixture
def lying_server(tmp_path) -> Iterator[str]:
    _Lying.body = "".join(line + "\n" for line in junction_lines(per_chromosome=400, first_id=50_000)).encode()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Lying)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_download_shorter_than_its_content_length_fails_in_one_line(loaded_shards, lying_server, tmp_path, capsys):
    size = len(_Lying.body)
    _load_fails_in_one_line(loaded_shards, f"{lying_server}/short",
                            f"{lying_server}/short: ends at byte {size // 2:,} of the {size:,} its Content-Length "
                            "announced: the download was cut short (try again)", tmp_path, capsys)


def test_a_cut_chunked_download_fails_in_one_line(loaded_shards, lying_server, tmp_path, capsys):
    half = len(_Lying.body) // 2
    _load_fails_in_one_line(loaded_shards, f"{lying_server}/chunked-cut",
                            f"{lying_server}/chunked-cut: ends at byte {half + half // 2:,} inside a chunk of its "
                            "chunked transfer: the download was cut short (try again)", tmp_path, capsys)


def test_a_whole_download_loads(loaded_shards, lying_server, tmp_path):
    assert main([f"{lying_server}/full", "--outputs", str(_outputs(loaded_shards)), "--quiet",
                 "--rejects", str(tmp_path / "r")]) == 0
