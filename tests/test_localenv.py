"""The local environment: real servers, the image's own SQL, one clear refusal, a clean `down`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from snapthunder import localenv, shard_image
from snapthunder.junctions import COLUMNS
from snapthunder import wire
from snapthunder.endpoints import Endpoints
from snapthunder.localenv import LocalEnvironmentError
from tests.conftest import in_compilation, postgres_servers, query_all_shards, scratch_directory


def test_each_shard_runs_the_images_sql_with_both_roles(local_environment: Endpoints):
    tables = query_all_shards(local_environment, "SELECT schemaname, tablename FROM pg_tables "
                              "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2")
    compilation = local_environment.compilation   # its own schema; public holds no table, only shared functions
    assert all(rows == [(compilation, name) for name in (
                   "annotation_transcript", "chromosome_stats", "exon", "exon_chromosome_stats", "gencode_gene",
                   "gene", "gene_chromosome_stats", "gene_transcript", "intron", "load_history", "sample", "sample_field", "sample_group",
                   "shard_metadata")]
               for rows in tables.values())
    version = query_all_shards(local_environment, "SELECT value FROM shard_metadata WHERE key = 'schema_version'")
    assert all(rows == [("5",)] for rows in version.values())
    columns = query_all_shards(local_environment, "SELECT column_name FROM information_schema.columns "
                               "WHERE table_name = 'intron' ORDER BY ordinal_position")
    assert all([name for (name,) in rows] == list(COLUMNS) for rows in columns.values())
    assert all(shard.user == shard_image.LOADER_ROLE for shard in local_environment.shards.values())
    assert local_environment.reader.user == shard_image.READER_ROLE


INSUFFICIENT_PRIVILEGE = "42501"


def reader_cursor(environment: Endpoints):
    """An autocommit cursor of the reader on shard-0, after the reader turned read-only transactions off.

    Any role may `SET default_transaction_read_only = off`, so the read-only
    default is no barrier: what follows it must fail on privileges alone.
    """
    shard = environment.shards["shard-0"]
    connection = psycopg2.connect(**in_compilation(environment, shard, environment.reader))
    connection.autocommit = True
    cursor = connection.cursor()
    cursor.execute("SET default_transaction_read_only = off")
    cursor.execute("SHOW transaction_read_only")
    assert cursor.fetchone() == ("off",)
    return connection, cursor


def test_the_reader_role_can_read_and_run_the_query_functions(local_environment: Endpoints):
    connection, cursor = reader_cursor(local_environment)
    try:
        cursor.execute("SELECT count(*) FROM intron")
        cursor.execute("SELECT python_float_text(1.5), (project_samples(',1:2,3:4', '{3}')).samples, "
                       "sample_ids(',17:3,5:10,017:1')")
        assert cursor.fetchone() == ("1.5", ",3:4", [17, 5, 17])
    finally:
        connection.close()


def test_the_reader_role_cannot_write_anything_even_with_read_only_transactions_off(local_environment: Endpoints):
    tables = [table for (table,) in query_all_shards(
        local_environment, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")["shard-0"]]
    assert "intron" in tables and "shard_metadata" in tables
    writes = [statement for table in tables for statement in _writes_to(local_environment, table)]
    writes += [sql.SQL(statement) for statement in (
        "CREATE TEMP TABLE scratch (x int)", "CREATE TABLE public.scratch (x int)", "CREATE SCHEMA scratch",
        "CREATE TABLE scratch (x int)",   # in the compilation's schema, first on search_path
        "CREATE FUNCTION public.scratch() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "SELECT lo_create(0)", "SELECT lo_from_bytea(0, 'x')",
        "SELECT pg_try_advisory_lock(hashtext('snapthunder.load'))", "SELECT pg_advisory_xact_lock(1)",
        "SELECT begin_table_load('gene')", "SELECT finish_table_load('gene', 'gene_chromosome_stats', '{chr1}', 'x', 'gtex')",
        "SELECT create_intron_indexes('intron')",
    )]
    connection, cursor = reader_cursor(local_environment)
    try:
        for statement in writes:
            with pytest.raises(psycopg2.Error) as raised:
                cursor.execute(statement)
            assert raised.value.pgcode == INSUFFICIENT_PRIVILEGE, (statement.as_string(connection),
                                                                   raised.value.pgerror)
    finally:
        connection.close()


@pytest.mark.parametrize("database", ["postgres", "template1"])
def test_the_shard_roles_cannot_connect_to_the_other_databases(local_environment: Endpoints, database: str):
    """Else, there, PUBLIC's default TEMPORARY privilege would let them write temporary tables."""
    shard = local_environment.shards["shard-0"]
    for credentials in (local_environment.reader, None):
        arguments = dict(shard.connect_arguments(credentials), dbname=database)
        with pytest.raises(psycopg2.OperationalError, match=f'permission denied for database "{database}"'):
            psycopg2.connect(**arguments)


def test_no_connection_is_trusted_the_socket_takes_peer_and_tcp_a_password(local_environment: Endpoints):
    shard = local_environment.shards["shard-0"]
    superuser = local_environment.extra["local"]["superuser"]
    with psycopg2.connect(host=shard.host, port=shard.port, dbname=shard.database,
                          user=superuser["user"], password=superuser["password"]) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT type, auth_method FROM pg_hba_file_rules ORDER BY 1")
            assert cursor.fetchall() == [("host", shard_image.HOST_AUTHENTICATION),
                                         ("local", shard_image.LOCAL_AUTHENTICATION)]
    connection.close()
    assert (shard_image.LOCAL_AUTHENTICATION, shard_image.HOST_AUTHENTICATION) == ("peer", "scram-sha-256")


def _writes_to(environment: Endpoints, table: str) -> list[sql.Composed]:
    """INSERT, UPDATE, DELETE and TRUNCATE of one table (UPDATE sets its first column to itself).

    The INSERT gives no values: a generated column (sample.words) refuses
    copied ones before privileges are checked, and privileges come before
    NOT NULL, so the refusal is the privilege's.
    """
    [(column,)] = query_all_shards(environment, "SELECT column_name FROM information_schema.columns "
                                   "WHERE table_name = %s AND ordinal_position = 1", (table,))["shard-0"]
    names = {"table": sql.Identifier(table), "column": sql.Identifier(column)}
    return [sql.SQL(statement).format(**names) for statement in (
        "INSERT INTO {table} DEFAULT VALUES", "UPDATE {table} SET {column} = {column}",
        "DELETE FROM {table}", "TRUNCATE {table}")]


def test_initialisation_puts_no_password_on_any_command_line():
    """Sample every process's /proc/PID/cmdline (readable by any user) while the init script runs."""
    root = scratch_directory("snapthunder-cmdline-")
    outputs = root / "endpoints.json"
    seen: set[bytes] = set()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    seen.add(cmdline.read_bytes())
                except OSError:
                    pass

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        environment = localenv.up(shards=2, outputs=outputs, data_dir=root / "data", durable=False, start_api=False)
    finally:
        done.set()
        sampler.join()
    try:
        psql_runs = [cmdline for cmdline in seen if b"psql\0" in cmdline and b"loader_role=" in cmdline]
        assert psql_runs, "the sampler saw no run of the init script's psql: it proves nothing"
        passwords = {shard.password for shard in environment.shards.values()}
        passwords |= {environment.reader.password, environment.extra["local"]["superuser"]["password"]}
        leaked = [cmdline for cmdline in seen for password in passwords if password.encode() in cmdline]
        assert not leaked, leaked
    finally:
        localenv.down(outputs)
        shutil.rmtree(root)


def test_passwords_are_generated_per_shard_and_required(local_environment: Endpoints):
    passwords = {shard.password for shard in local_environment.shards.values()}
    assert len(passwords) == len(local_environment.shards) and local_environment.reader.password not in passwords
    shard = next(iter(local_environment.shards.values()))
    wrong = dict(shard.connect_arguments(), password="not-the-password")
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(**wrong)


def test_servers_listen_on_loopback_with_the_images_settings(local_environment: Endpoints):
    settings = query_all_shards(local_environment, "SELECT current_setting('listen_addresses'), "
                                "current_setting('wal_level'), current_setting('jit')")
    assert all(rows == [("127.0.0.1", "minimal", "off")] for rows in settings.values())
    data_dir = Path(local_environment.extra["local"]["servers"]["shard-0"]["data_dir"])
    assert (data_dir / shard_image.SERVER_SETTINGS.name).read_bytes() == shard_image.SERVER_SETTINGS.read_bytes()


def test_the_document_on_disk_round_trips_and_is_private(outputs_path: Path, local_environment: Endpoints):
    from snapthunder import endpoints
    assert endpoints.load(outputs_path) == local_environment
    assert outputs_path.stat().st_mode & 0o077 == 0
    document = json.loads(outputs_path.read_text())
    assert set(document["shards"]["shard-0"]) == {"host", "port", "database", "user", "password", "chromosomes"}


def test_up_twice_refuses_clearly_and_starts_nothing(outputs_path: Path, local_environment: Endpoints):
    before = _postgres_processes()
    with pytest.raises(LocalEnvironmentError, match="already up .* stop it first with `make down`"):
        localenv.up(shards=2, outputs=outputs_path)
    assert _postgres_processes() == before


def test_down_stops_every_server_and_removes_the_data():
    root = scratch_directory("snapthunder-localenv-")
    outputs = root / "endpoints.json"
    environment = localenv.up(shards=2, outputs=outputs, data_dir=root / "data", durable=False)
    data_dirs = [server["data_dir"] for server in environment.extra["local"]["servers"].values()]
    assert all(any(data_dir in process for process in _postgres_processes()) for data_dir in data_dirs)
    assert localenv.down(outputs) is True
    assert not any(data_dir in process for data_dir in data_dirs for process in _postgres_processes())
    assert not (root / "data").exists() and not outputs.exists()
    assert localenv.down(outputs) is False
    shutil.rmtree(root)


def test_make_down_says_what_it_stopped_and_removed(capsys):
    root = scratch_directory("snapthunder-localenv-")
    outputs = root / "endpoints.json"
    environment = localenv.up(shards=2, outputs=outputs, data_dir=root / "data", durable=False)
    ports = [shard.port for shard in environment.shards.values()]
    assert localenv.main(["down", "--outputs", str(outputs)]) == 0
    said = capsys.readouterr().out
    assert said.startswith("stopped 2 PostgreSQL servers (") and all(f"127.0.0.1:{port}" in said for port in ports)
    assert f"removed {root / 'data'}" in said and not outputs.exists()
    assert localenv.main(["down", "--outputs", str(outputs)]) == 0
    assert capsys.readouterr().out == f"no local environment at {outputs}: nothing to stop\n"
    shutil.rmtree(root)


def test_a_stale_document_whose_servers_are_gone_is_replaced():
    root = scratch_directory("snapthunder-localenv-")
    outputs = root / "endpoints.json"
    first = localenv.up(shards=1, outputs=outputs, data_dir=root / "data", durable=False)
    from snapthunder.postgres_server import PostgresServer
    server = first.extra["local"]["servers"]["shard-0"]
    PostgresServer(Path(first.extra["local"]["binaries"]), Path(server["data_dir"]), server["port"]).stop()
    second = localenv.up(shards=1, outputs=outputs, data_dir=root / "data", durable=False)
    try:
        assert second.shards["shard-0"].password != first.shards["shard-0"].password
    finally:
        localenv.down(outputs)
        shutil.rmtree(root)


def test_the_command_line_reports_usage_errors_with_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "snapthunder.localenv", "up", "--shards", "99",
                             "--outputs", str(tmp_path / "e.json")], capture_output=True, text=True)
    assert result.returncode == 2 and "shards must be an integer from 1 to 25" in result.stderr


ORDINARY_PYTHON = "/usr/bin/python3.11"


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(ORDINARY_PYTHON),
                    reason="needs root (to become an ordinary user) and a system Python 3.11 that user can run")
def test_an_ordinary_user_with_postgresql_on_path_can_run_up_and_down():
    root = scratch_directory("snapthunder-ordinary-")
    shutil.chown(root, "postgres", "postgres")
    repository = Path(__file__).resolve().parent.parent
    site_packages = next(Path(sys.prefix).glob("lib/python3.11/site-packages"))
    binaries = localenv.find_binaries()
    environment = {"PATH": f"{binaries}:/usr/bin:/bin", "PYTHONPATH": f"{repository}:{site_packages}", "HOME": str(root)}
    command = ["runuser", "-u", "postgres", "--", "env", "-i", *(f"{k}={v}" for k, v in environment.items()),
               ORDINARY_PYTHON, "-m", "snapthunder.localenv"]
    outputs = root / "endpoints.json"
    try:
        up = subprocess.run([*command, "up", "--shards", "2", "--outputs", str(outputs), "--no-fsync"],
                            capture_output=True, text=True, cwd=root)
        assert up.returncode == 0, up.stderr
        document = json.loads(outputs.read_text())
        shard = document["shards"]["shard-0"]
        with psycopg2.connect(host=shard["host"], port=shard["port"], dbname=shard["database"],
                              user=shard["user"], password=shard["password"]) as connection:
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_user, (SELECT rolname FROM pg_roles WHERE oid = 10)")
                assert cursor.fetchone() == (shard_image.LOADER_ROLE, shard_image.SUPERUSER)
        connection.close()
    finally:
        down = subprocess.run([*command, "down", "--outputs", str(outputs)], capture_output=True, text=True, cwd=root)
        shutil.rmtree(root, ignore_errors=True)
    assert down.returncode == 0, down.stderr
    assert not any(str(root) in process for process in _postgres_processes())


def _postgres_processes() -> list[str]:
    return sorted(postgres_servers())


def test_the_shards_python_float_text_prints_as_python_2_str_does(local_environment: Endpoints):
    """Projected statistics are printed by SQL (python_float_text); they must match Python's %.12g rule."""
    values = sorted({total / count for total in (1, 2, 3, 7, 10, 19, 100, 6359, 123456, 10**12, 10**15, 2**62)
                     for count in (1, 2, 3, 4, 6, 7, 9, 12)} | {0.0, 0.5, 1e11 + 0.5, 999999999999.0, 999999999999.5}
                    | {total / count for total, count in zip(range(1, 10**9, 2_000_003), range(1, 60_000, 127))}
                    | {0.00027094326751203, 7.912458768834452e-06, 3.737942888494944e-09, 1e-05, 0.0001, 1e16}
                    | {float("inf"), float("-inf")})
    rows = query_all_shards(local_environment, "SELECT python_float_text(value) FROM unnest(%s::float8[]) AS value",
                            (values,))["shard-0"]
    assert [text for (text,) in rows] == [wire.python_float_text(value) for value in values]
