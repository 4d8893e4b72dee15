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
#                                         files holding their passwords (a mounted Secret);
#                                         or the same names without _FILE: the password itself
set -eu

# The value of $1, or the contents of the file named by ${1}_FILE.
secret() {
    eval "file=\${${1}_FILE:-}"
    if [ -n "$file" ]; then
        cat "$file"
    else
        eval "printf '%s' \"\${${1}:?neither $1 nor ${1}_FILE is set}\""
    fi
}

sql_dir="${SNAPTHUNDER_SQL_DIR:-/snapthunder/sql}"
: "${SNAPTHUNDER_LOADER_ROLE:?is not set}" "${SNAPTHUNDER_READER_ROLE:?is not set}"
loader_password=$(secret SNAPTHUNDER_LOADER_PASSWORD)
reader_password=$(secret SNAPTHUNDER_READER_PASSWORD)

for file in "$sql_dir"/*.sql; do
    psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 \
        --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        -v database="$POSTGRES_DB" \
        -v loader_role="$SNAPTHUNDER_LOADER_ROLE" -v loader_password="$loader_password" \
        -v reader_role="$SNAPTHUNDER_READER_ROLE" -v reader_password="$reader_password" \
        --file "$file"
done
