"""The contract of the shard image: names, files, the init script's environment, how clients authenticate.

A shard is a PostgreSQL server initialised by `images/postgres-shard/initdb/`
from the SQL in `images/postgres-shard/sql/`. The Pulumi program (in a pod) and
the local environment (on loopback) both run those files, with the environment
built here, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path

IMAGE_DIR = Path(__file__).resolve().parent.parent / "images" / "postgres-shard"
SQL_DIR = IMAGE_DIR / "sql"
INIT_DIR = IMAGE_DIR / "initdb"
INIT_SCRIPT = INIT_DIR / "10-snapthunder.sh"
# One compilation's tables: run by the loader in each compilation's schema, not by the init script.
COMPILATION_SCHEMA_FILE = SQL_DIR / "02-schema.sql"
_PSQL_ONLY = re.compile(r"^(SET ROLE :\"loader_role\"|RESET ROLE);$", re.MULTILINE)
_PSQL_VARIABLE = re.compile(r":[\"'][a-z_]+[\"']")
SERVER_SETTINGS = IMAGE_DIR / "snapthunder.conf"
ENTRYPOINT = IMAGE_DIR / "entrypoint.sh"

# Where the image puts those files (the Dockerfile copies them there).
IMAGE_SQL_DIR = "/snapthunder/sql"
IMAGE_SERVER_SETTINGS = "/etc/postgresql/snapthunder.conf"
IMAGE_ENTRYPOINT = "/usr/local/bin/snapthunder-entrypoint.sh"

# How clients authenticate, in the image and in the local environment alike; never
# `trust`, initdb's default for the local socket and loopback. Over the socket, by
# peer: only the OS user of the same name, i.e. the server's own `postgres` user
# (the init scripts, `kubectl exec ... psql -U postgres`), and no password to keep.
# Over TCP, loopback included, by password (SCRAM).
LOCAL_AUTHENTICATION = "peer"
HOST_AUTHENTICATION = "scram-sha-256"

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


def initdb_arguments() -> list[str]:
    """The initdb flags of every shard, in the image and locally.

    LOCAL_AUTHENTICATION and HOST_AUTHENTICATION go into pg_hba.conf. The C
    collation: text sorts by bytes, the order in which the API merges
    per-chromosome streams (the image's default locale would sort
    `GL000009.2` after `chr1` and `chrUn_gl…` before `chrUn_KI…`).
    """
    return [f"--auth-local={LOCAL_AUTHENTICATION}", f"--auth-host={HOST_AUTHENTICATION}",
            "--encoding=UTF8", "--locale=C"]


def entrypoint_environment() -> dict[str, str]:
    """`init_environment()` plus what the official entrypoint reads to initialise a volume.

    POSTGRES_INITDB_ARGS gives initdb the authentication methods and the collation;
    POSTGRES_HOST_AUTH_METHOD is the method of the `host all all all` line the
    entrypoint appends to pg_hba.conf (the pods' address is not known in advance).
    """
    return {
        **init_environment(),
        "POSTGRES_INITDB_ARGS": " ".join(initdb_arguments()),
        "POSTGRES_HOST_AUTH_METHOD": HOST_AUTHENTICATION,
    }


class SchemaFileError(RuntimeError):
    """The compilation schema file uses psql features the loader cannot run."""


def compilation_schema_sql() -> str:
    """02-schema.sql as the loader runs it in a compilation's schema, already as the loader role.

    Its `SET ROLE :"loader_role"` / `RESET ROLE` lines are for psql (and
    the loader needs neither); any other psql variable would reach the server
    unexpanded, so it is refused here, naming the file and line.
    """
    text = _PSQL_ONLY.sub("", COMPILATION_SCHEMA_FILE.read_text())
    variable = _PSQL_VARIABLE.search(text)
    if variable:
        line = text.count("\n", 0, variable.start()) + 1
        raise SchemaFileError(f"{COMPILATION_SCHEMA_FILE}:{line}: psql variable {variable.group()} cannot be used "
                              "in the compilation schema (the loader runs it without psql); grant in 01-roles.sql")
    return text
