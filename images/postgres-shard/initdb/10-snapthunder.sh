#!/bin/sh
# Initialise a snapthunder shard: roles, schema and load procedures.
#
# The shard image runs this from /docker-entrypoint-initdb.d on the first start
# of an empty volume; the local environment runs the very same script against
# its loopback servers. Both give the same environment:
#   POSTGRES_USER, POSTGRES_DB            the superuser and the shard's database
#   PGHOST, PGPORT, PGPASSWORD            where psql connects (unset in the image: socket)
#   SNAPTHUNDER_SQL_DIR                   the SQL files (default /snapthunder/sql)
#   SNAPTHUNDER_LOADER_ROLE, SNAPTHUNDER_READER_ROLE
#                                         the role that loads, the read-only role the API uses
#   SNAPTHUNDER_LOADER_PASSWORD_FILE, SNAPTHUNDER_READER_PASSWORD_FILE
#                                         files holding their passwords (a mounted Secret)
#
# psql is given the password files' paths and reads them itself (01-roles.sql):
# a password on its command line would be readable by every user of the machine
# in /proc/PID/cmdline for as long as psql runs.
set -eu

sql_dir="${SNAPTHUNDER_SQL_DIR:-/snapthunder/sql}"
: "${SNAPTHUNDER_LOADER_ROLE:?is not set}" "${SNAPTHUNDER_READER_ROLE:?is not set}"
for file in "${SNAPTHUNDER_LOADER_PASSWORD_FILE:?must name the file holding the loader role's password}" \
            "${SNAPTHUNDER_READER_PASSWORD_FILE:?must name the file holding the reader role's password}"; do
    if [ ! -r "$file" ] || [ ! -s "$file" ]; then
        echo "$0: the password file $file is missing, unreadable or empty: mount the shard's Secret there" >&2
        exit 1
    fi
done

# 02-schema.sql is one compilation's tables: the loader runs it in each
# compilation's own schema (snapthunder/compilations.py), not here.
for file in "$sql_dir"/*.sql; do
    [ "$(basename "$file")" = 02-schema.sql ] && continue
    psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 \
        --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        -v database="$POSTGRES_DB" \
        -v loader_role="$SNAPTHUNDER_LOADER_ROLE" -v loader_password_file="$SNAPTHUNDER_LOADER_PASSWORD_FILE" \
        -v reader_role="$SNAPTHUNDER_READER_ROLE" -v reader_password_file="$SNAPTHUNDER_READER_PASSWORD_FILE" \
        --file "$file"
done
