"""gunicorn settings of the snapthunder API, read from the API's settings table.

gunicorn runs behind the HTTP front (front_end.py: nginx), on `app_bind`.

Workers, threads and the address come from the same table (and the same
`SNAPTHUNDER_*` variables) as the app's own settings, so there is one place
to look. gthread workers: a request that streams a large answer holds one
thread, not the worker, and the worker's heartbeat does not depend on it.
gunicorn's access log is off: the app writes one structured line per request
once the answer is finished (access_log.py), with its row count and outcome.
"""

from snapthunder_api.settings import from_environment

_settings = from_environment()

bind = _settings["app_bind"]
workers = _settings["workers"]
threads = _settings["threads"]
worker_class = "gthread"
accesslog = None
errorlog = "-"
loglevel = "info"
# Seconds a worker gets to finish its requests on SIGTERM before it is killed.
graceful_timeout = 10
keepalive = 5
# Requests reach gunicorn only through the front (front_end.py), which has
# already refused request lines over max_request_line_bytes (64 KiB by
# default). gunicorn's own cap cannot go above 8,190 bytes, shorter than the
# sids= lists Snaptron clients put in URLs, so it is off here.
limit_request_line = 0
limit_request_field_size = 0   # likewise for headers: the front caps each at max_request_line_bytes
# No control socket: gunicorn's default one (~/.gunicorn/gunicorn.ctl) is shared
# by every gunicorn of the same user, so another one could command this one.
control_socket_disable = True
