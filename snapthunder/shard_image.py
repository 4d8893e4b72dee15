"""The contract of the shard image: names, files and the init script's environment.

A shard is a PostgreSQL server initialised by `images/postgres-shard/initdb/`
from the SQL in `images/postgres-shard/sql/`. The Pulumi program (in a pod) and
the local environment (on loopback) both run those files, with the environment
built here, so the two cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

IMAGE_DIR = Path(__file__).resolve().parent.parent / "images" / "postgres-shard"
SQL_DIR = IMAGE_DIR / "sql"
INIT_DIR = IMAGE_DIR / "initdb"
INIT_SCRIPT = INIT_DIR / "10-snapthunder.sh"
SERVER_SETTINGS = IMAGE_DIR / "snapthunder.conf"

# Where the image puts those files (the Dockerfile copies them there).
IMAGE_SQL_DIR = "/snapthunder/sql"
IMAGE_SERVER_SETTINGS = "/etc/postgresql/snapthunder.conf"

# Passwords reach the server as files (a mounted Secret in the cluster), never as
# environment values: the init script reads *_FILE, the official entrypoint
# POSTGRES_PASSWORD_FILE.
IMAGE_SECRETS_DIR = "/run/secrets/snapthunder"
SUPERUSER_PASSWORD_FILE = "superuser-password"
LOADER_PASSWORD_FILE = "loader-password"
READER_PASSWORD_FILE = "reader-password"

POSTGRES_MAJOR = 15
PORT = 5432
DATABASE = "snapthunder"
SUPERUSER = "postgres"
LOADER_ROLE = "snapthunder_loader"
READER_ROLE = "snapthunder_reader"


def init_environment(secrets_dir: str = IMAGE_SECRETS_DIR, sql_dir: str = IMAGE_SQL_DIR) -> dict[str, str]:
    """The variables `10-snapthunder.sh` (and the official entrypoint) read, besides where psql connects.

    `secrets_dir` holds the three password files named above.
    """
    return {
        "POSTGRES_USER": SUPERUSER,
        "POSTGRES_DB": DATABASE,
        "POSTGRES_PASSWORD_FILE": f"{secrets_dir}/{SUPERUSER_PASSWORD_FILE}",
        "SNAPTHUNDER_SQL_DIR": sql_dir,
        "SNAPTHUNDER_LOADER_ROLE": LOADER_ROLE,
        "SNAPTHUNDER_LOADER_PASSWORD_FILE": f"{secrets_dir}/{LOADER_PASSWORD_FILE}",
        "SNAPTHUNDER_READER_ROLE": READER_ROLE,
        "SNAPTHUNDER_READER_PASSWORD_FILE": f"{secrets_dir}/{READER_PASSWORD_FILE}",
    }
