"""gunicorn settings of the snapthunder API, read from the API's settings table.

Workers, threads and the address come from the same table (and the same
`SNAPTHUNDER_*` variables) as the app's own settings, so there is one place
to look. gthread workers: a request that streams a large answer holds one
thread, not the worker, and the worker's heartbeat does not depend on it.
gunicorn's access log is off: the app writes one structured line per request
once the answer is finished (access_log.py), with its row count and outcome.
"""

from snapthunder_api.settings import from_environment

_settings = from_environment()

bind = _settings["bind"]
workers = _settings["workers"]
threads = _settings["threads"]
worker_class = "gthread"
accesslog = None
errorlog = "-"
loglevel = "info"
# Seconds a worker gets to finish its requests on SIGTERM before it is killed.
graceful_timeout = 10
keepalive = 5
# Snaptron clients send long sids= lists in the URL: the app bounds the query
# string itself (max_request_bytes, a 400 naming it), so gunicorn does not.
limit_request_line = 0
