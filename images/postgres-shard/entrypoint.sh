#!/bin/sh
# The shard image's entrypoint: initialise an empty volume as the official image
# does, then run the server without the superuser's password in its environment.
#
# The official docker-entrypoint.sh reads POSTGRES_PASSWORD_FILE into an exported
# POSTGRES_PASSWORD on every start, then execs the server: the password would
# sit in the environment of the server and of every process it starts (what
# /proc/PID/environ shows). The same image's docker-ensure-initdb.sh does that
# entrypoint's initialisation (initdb, pg_hba.conf, /docker-entrypoint-initdb.d)
# and returns instead of starting the server; run as a child process here,
# whatever it exports ends with it. The running server needs no password: its
# superuser logs in over the local socket by peer authentication.
set -eu
case "${1:-}" in
    -*) set -- postgres "$@" ;;
esac
if [ "${1:-}" = postgres ]; then
    docker-ensure-initdb.sh "$@"
fi
# Should the container have been given a password as a value (docker run -e ...).
unset POSTGRES_PASSWORD PGPASSWORD
exec "$@"
