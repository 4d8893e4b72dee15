#!/bin/sh
# Make the image's server settings part of this data directory's configuration.
# Runs once, from /docker-entrypoint-initdb.d, when the volume is initialised;
# the include line names the file in the image, so a new image's settings apply
# on the next restart.
set -eu
echo "include_if_exists = '/etc/postgresql/snapthunder.conf'" >> "$PGDATA/postgresql.conf"
