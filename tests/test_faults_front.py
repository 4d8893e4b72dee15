"""Hostile and careless clients against the API as deployed: the HTTP front (nginx) and gunicorn.

Real sockets on loopback against the local environment's API: sockets that
send half a request and wait, request lines and bodies over the limits, and
what the local API leaves for other users of the machine (its control
socket, its log). Each case is bounded in sockets and seconds.
"""

from __future__ import annotations

import http.client
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

from snapthunder import localenv
from snapthunder.postgres_server import free_port
from snapthunder_api import settings as api_settings

pytest_plugins = ["tests.api_fixtures"]

DEFAULTS = {setting.name: setting.default for setting in api_settings.SETTINGS}
IDLE_SOCKETS = 64


def address(api_environment) -> tuple[str, int]:
    return "127.0.0.1", api_environment.extra["local"]["api"]["port"]


def get(api_environment, path: str, timeout: float = 5) -> tuple[int, str, str]:
    connection = http.client.HTTPConnection(*address(api_environment), timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read().decode()
    finally:
        connection.close()


def closed_within(sockets: list[socket.socket], seconds: float) -> int:
    """How many of `sockets` the server closed (end of file) within `seconds`."""
    closed: set[socket.socket] = set()
    deadline = time.monotonic() + seconds
    while len(closed) < len(sockets) and time.monotonic() < deadline:
        waiting = [s for s in sockets if s not in closed]
        readable, _, _ = select.select(waiting, [], [], max(0.0, deadline - time.monotonic()))
        for s in readable:
            try:
                if s.recv(4096) == b"":
                    closed.add(s)
            except OSError:
                closed.add(s)
    return len(closed)


def test_sockets_that_send_half_a_request_neither_block_the_api_nor_stay_open(api_environment):
    half = [socket.create_connection(address(api_environment)) for _ in range(IDLE_SOCKETS)]
    slow_body = [socket.create_connection(address(api_environment)) for _ in range(IDLE_SOCKETS // 2)]
    try:
        for s in half:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        for s in slow_body:
            s.sendall(b"POST /gtex/snaptron HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nregions=")
        started = time.monotonic()
        assert get(api_environment, "/healthz")[0] == 200
        assert get(api_environment, "/gtex/snaptron?regions=chr1:1000-50000&fields=rc")[0] == 200
        assert time.monotonic() - started < 2, "the API must answer at once while idle sockets wait"
        everyone = half + slow_body
        assert closed_within(everyone, DEFAULTS["header_seconds"] + 5) == len(everyone)
    finally:
        for s in half + slow_body:
            s.close()


def test_an_oversize_request_line_is_a_414_from_the_front_in_the_api_s_error_form(api_environment):
    started = time.monotonic()
    status, content_type, body = get(api_environment, "/gtex/snaptron?regions=" + "chr1:1-2," * (1 << 17))
    assert time.monotonic() - started < 2
    assert (status, content_type) == (414, "text/plain")
    assert body == (f"#ERROR 414 the request line is over {DEFAULTS['max_request_line_bytes']:,} bytes; "
                    "send long queries as a POST body\n")
    # Under the cap, long queries still reach the app.
    status, _, body = get(api_environment, "/gtex/snaptron?fields=rc&regions=" + "chr1:1-2," * 7000 + "chr1:1-2")
    assert status == 200 and body.strip().isdigit()


def test_an_oversize_body_is_a_413_from_the_front_before_it_is_sent(api_environment):
    with socket.create_connection(address(api_environment), timeout=10) as s:
        s.sendall(b"POST /gtex/snaptron HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                  + f"Content-Length: {DEFAULTS['max_request_bytes'] + 1}\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 413 ") and b"\r\nContent-Type: text/plain\r\n" in head
    assert body.decode() == (f"#ERROR 413 the request body is over {DEFAULTS['max_request_bytes']:,} bytes; "
                             "split the bulk query\n")


def test_the_local_api_has_no_control_socket_and_a_private_log(api_environment):
    api = api_environment.extra["local"]["api"]
    socket_inodes = set()
    for descriptor in Path(f"/proc/{api['pid']}/fd").iterdir():
        target = os.readlink(descriptor)
        if target.startswith("socket:["):
            socket_inodes.add(target[len("socket:["):-1])
    unix_paths = [line.split()[-1] for line in Path("/proc/net/unix").read_text().splitlines()[1:]
                  if line.split()[6] in socket_inodes and len(line.split()) > 7]
    assert not unix_paths, f"gunicorn listens on {unix_paths}: any gunicorn of this user could command it"
    assert stat.S_IMODE(Path(api["log"]).stat().st_mode) == 0o600


def test_oversize_headers_are_a_400_in_the_api_s_error_form(api_environment):
    connection = http.client.HTTPConnection(*address(api_environment), timeout=10)
    try:
        connection.request("GET", "/healthz", headers={"X-Long": "x" * (DEFAULTS["max_request_line_bytes"] + 1)})
        response = connection.getresponse()
        assert (response.status, response.getheader("Content-Type")) == (400, "text/plain")
        assert response.read().decode().startswith("#ERROR 400 the request headers are over 65,536 bytes")
    finally:
        connection.close()


def test_a_front_whose_gunicorn_is_gone_answers_502_in_the_api_s_error_form(tmp_path):
    port, dead = free_port(), free_port()
    environment = dict(os.environ, SNAPTHUNDER_BIND=f"127.0.0.1:{port}", SNAPTHUNDER_APP_BIND=f"127.0.0.1:{dead}",
                       PYTHONPATH=os.pathsep.join([str(localenv.REPOSITORY), str(localenv.API_DIRECTORY)]))
    front = subprocess.Popen([sys.executable, "-m", "snapthunder_api.front_end", str(tmp_path / "nginx.conf")],
                             env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline and front.poll() is None, "the front did not start"
                time.sleep(0.1)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        assert (response.status, response.getheader("Content-Type")) == (502, "text/plain")
        assert response.read().decode() == "#ERROR 502 the API behind the front is not answering (restarting?); try again\n"
    finally:
        os.killpg(front.pid, signal.SIGTERM)
        front.wait(10)
