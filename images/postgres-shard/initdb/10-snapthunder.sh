#!/bin/sh
# Initialise a snapthunder shard: roles, schema and load procedures.
#
# The shard image runs this from /docker-entrypoint-initdb.d on the first start
# of an empty volume; the local environment runs the very same script against
# its loopback servers. Both give the same environment:
#   POSTGRES_USER, POSTGRES_DB            the superuser and the shard's database
#   PGHOST, PGPORT, PGPASSWORD            where psql connects (unset in the image: socket)
#   SNAPTHUNDER_SQL_DIR                   the SQL files (default /snapthunder/sql)
#   SNAPTHUNDER_LOADER_ROLE / _PASSWORD   the role that loads
#   SNAPTHUNDER_READER_ROLE / _PASSWORD   the read-only role the API uses
set -eu

sql_dir="${SNAPTHUNDER_SQL_DIR:-/snapthunder/sql}"
: "${SNAPTHUNDER_LOADER_ROLE:?is not set}" "${SNAPTHUNDER_LOADER_PASSWORD:?is not set}"
: "${SNAPTHUNDER_READER_ROLE:?is not set}" "${SNAPTHUNDER_READER_PASSWORD:?is not set}"

for file in "$sql_dir"/*.sql; do
    psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 \
        --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        -v database="$POSTGRES_DB" \
        -v loader_role="$SNAPTHUNDER_LOADER_ROLE" -v loader_password="$SNAPTHUNDER_LOADER_PASSWORD" \
        -v reader_role="$SNAPTHUNDER_READER_ROLE" -v reader_password="$SNAPTHUNDER_READER_PASSWORD" \
        --file "$file"
done
