"""A load commits on every shard or on none: PostgreSQL's two-phase commit, and recovery.

A load is of one compilation (snapthunder/compilations.py): its schema on
every shard, reached through the session's search_path, created with the
compilation schema file in the first load's transaction. Every shard of the
endpoints document takes part in every load, in one transaction each, whose
global id names what it does, the compilation, the load and how many shards
take part: `snapthunder-load:<compilation>:<load id>:<shard>:<participants>`
(`snapthunder-drop:…` for `--drop`, which removes the schema on every shard
the same way). When every shard
has done its work (junctions, samples), each transaction is PREPAREd (its
changes are then durable but invisible, and it keeps its locks); only once
all are prepared is each COMMIT PREPARED, and the shard records the load id
(shard_metadata `last_load_id`) in the same transaction. A loader that dies
before every shard is prepared leaves nothing visible; one that dies after
leaves prepared transactions that `recover` finishes: a load that committed
on some shard, or is prepared on all its participants, is committed on the
rest; any other is rolled back. Every load recovers first, and
`python -m loaders --recover` does only that.

While a shard holds its prepared load, readers of that compilation's junctions
wait (the load swapped its intron table and holds its lock; other
compilations' tables are not touched, and their readers never wait), so nobody reads a mix of
old and new shards; the same lock is held from the shard's table swap, so the
window is the time from the first shard's swap to the last commit (the
slowest shard's index build, then milliseconds), or, if the loader died in
it, until the next load or `--recover`. One load per compilation runs at a
time: it holds an advisory lock named by the compilation on the document's
first shard for its whole length, so recovery (of that compilation's
transactions only) never meets a live load's.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import uuid

import psycopg2
from psycopg2 import sql

from loaders.shard_writer import SET_METADATA, ShardLoadError, describe_error
from snapthunder import shard_image
from snapthunder.compilations import Compilation, search_path_option
from snapthunder.endpoints import Endpoints, Shard

LOAD, DROP = "snapthunder-load", "snapthunder-drop"
LOAD_LOCK = "snapthunder.load"
# Tests only: `prepare:K` or `commit:K` makes the loader stop itself (SIGSTOP) after its K-th
# PREPARE or COMMIT PREPARED, so a test can kill it, or stop a shard, at that very point.
STOP_AT_VARIABLE = "SNAPTHUNDER_LOADER_STOP_AT"
RECOVER_COMMAND = "`python -m loaders --recover` (with the same --outputs or --stack)"


@dataclasses.dataclass
class Participant:
    """One shard's transaction in a load."""

    shard: Shard
    gid: str
    connection: psycopg2.extensions.connection


def transaction_id(kind: str, compilation: str, load_id: str, shard: str, participants: int) -> str:
    return f"{kind}:{compilation}:{load_id}:{shard}:{participants}"


class Load:
    """One load's transactions on every shard: `with Load(endpoints, compilation) as load:` … `load.commit()`.

    Entering takes the compilation's load lock, recovers what a dead loader
    left of it and opens each shard's transaction, in which the compilation's
    schema is created if the shard has none yet; leaving without a commit
    rolls back every transaction not yet prepared. `kind=DROP` opens the same
    transactions for removing the compilation (drop()).
    """

    def __init__(self, endpoints: Endpoints, compilation: Compilation, kind: str = LOAD) -> None:
        self.endpoints = endpoints
        self.compilation = compilation
        self.kind = kind
        self.id = str(uuid.uuid4())
        self.participants: dict[str, Participant] = {}
        self.recovered: list[str] = []
        self._lock: psycopg2.extensions.connection | None = None

    def __enter__(self) -> "Load":
        try:
            name = self.compilation.name
            self._lock = take_load_lock(self.endpoints, name)
            self.recovered = _recover_holding_lock(self.endpoints, name)
            for shard_name, shard in self.endpoints.shards.items():
                connection = _connect(shard, name)
                gid = transaction_id(self.kind, name, self.id, shard_name, len(self.endpoints.shards))
                self.participants[shard_name] = Participant(shard, gid, connection)
                connection.tpc_begin(gid)
                if self.kind == LOAD:
                    _create_schema_if_new(self.participants[shard_name], name)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def commit(self) -> None:
        """Prepare every shard's transaction, then commit each; raise ShardLoadError saying what state they are in."""
        prepared: list[Participant] = []
        for participant in self.participants.values():
            try:
                if self.kind == LOAD:
                    with participant.connection.cursor() as cursor:
                        cursor.execute(SET_METADATA, ("last_load_id", self.id))
                        cursor.execute(SET_METADATA, ("data_source", self.compilation.data_source))
                participant.connection.tpc_prepare()
            except psycopg2.Error as error:
                raise ShardLoadError(f"{participant.shard.describe()}: preparing the load: {describe_error(error)}; "
                                     f"{_roll_back(prepared)}") from None
            prepared.append(participant)
            _stop_if_asked("prepare", len(prepared))
        committed, failed = [], []
        for participant in prepared:
            try:
                participant.connection.tpc_commit()
                committed.append(participant.shard.name)
            except psycopg2.Error as error:
                failed.append(f"{participant.shard.name} prepared ({describe_error(error)})")
            _stop_if_asked("commit", len(committed))
        if failed:
            raise ShardLoadError(f"the load is committed on {', '.join(committed) or 'no shard yet'}; "
                                 f"{', '.join(failed)}: run the loader again, or {RECOVER_COMMAND}, to finish it")

    def close(self) -> None:
        for participant in self.participants.values():
            participant.connection.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def drop(endpoints: Endpoints, compilation: Compilation) -> tuple[list[str], list[str]]:
    """Remove `compilation` (its schema, every table in it) from every shard, on all or none.

    Returns (what was recovered, the shards that held it). Its readers wait
    behind the drop's locks as behind a load's; no other compilation's table
    is touched.
    """
    held = []
    with Load(endpoints, compilation, DROP) as removal:
        for name, participant in removal.participants.items():
            with participant.connection.cursor() as cursor:
                if _has_schema(cursor, compilation.name):
                    held.append(name)
                cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(compilation.name)))
        removal.commit()
        return removal.recovered, held


def take_load_lock(endpoints: Endpoints, compilation: str) -> psycopg2.extensions.connection:
    """A session holding `compilation`'s load lock on the document's first shard; ShardLoadError if a load has it."""
    shard = next(iter(endpoints.shards.values()))
    connection = _connect(shard)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (f"{LOAD_LOCK}:{compilation}",))
        (locked,) = cursor.fetchone()
    if not locked:
        connection.close()
        raise ShardLoadError(f"{shard.describe()}: another load of compilation {compilation} is running (it holds "
                             f"that compilation's load lock on {shard.name}): wait for it to finish, or stop it, "
                             "then load again")
    return connection


def recover(endpoints: Endpoints, compilation: str | None = None) -> list[str]:
    """`--recover`: finish or roll back what dead loaders left of `compilation` (default: of every compilation).

    Each compilation is recovered under its own load lock; one line per load resolved.
    """
    names = [compilation] if compilation else sorted({gid.split(":")[1] for gids in _prepared(endpoints).values()
                                                      for gid in gids})
    lines = []
    for name in names:
        lock = take_load_lock(endpoints, name)
        try:
            lines += _recover_holding_lock(endpoints, name)
        finally:
            lock.close()
    return lines


def _prepared(endpoints: Endpoints, compilation: str | None = None) -> dict[str, list[str]]:
    """Shard → the global ids of the loads and drops it holds prepared (of `compilation`, or of every one)."""
    found = {}
    for name, shard in endpoints.shards.items():
        connection = _connect(shard)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT gid FROM pg_prepared_xacts WHERE database = current_database() "
                               "AND (starts_with(gid, %s) OR starts_with(gid, %s))", (LOAD + ":", DROP + ":"))
                found[name] = [gid for (gid,) in cursor.fetchall()
                               if compilation is None or gid.split(":")[1] == compilation]
        finally:
            connection.close()
    return found


def _recover_holding_lock(endpoints: Endpoints, compilation: str) -> list[str]:
    """Finish or roll back every load or drop of `compilation` a dead loader left prepared; one line per load.

    Every shard must answer: one that does not might hold the commit that decides a load.
    """
    connections = {}
    try:
        prepared: dict[str, dict[str, str]] = {}
        for name, gids in _prepared(endpoints, compilation).items():
            for gid in gids:
                prepared.setdefault(gid.split(":")[2], {})[name] = gid
        if not prepared:
            return []
        last_load, has_schema = {}, {}
        for name, shard in endpoints.shards.items():
            connections[name] = connection = _connect(shard, compilation)
            with connection.cursor() as cursor:
                has_schema[name] = _has_schema(cursor, compilation)
                last_load[name] = None
                if has_schema[name]:
                    cursor.execute("SELECT value FROM shard_metadata WHERE key = 'last_load_id'")
                    last_load[name] = (cursor.fetchone() or (None,))[0]
            connection.rollback()
        return [_resolve(load_id, shards, last_load, has_schema, connections) for load_id, shards in prepared.items()]
    finally:
        for connection in connections.values():
            connection.close()


def _resolve(load_id: str, prepared: dict[str, str], last_load: dict[str, str | None], has_schema: dict[str, bool],
             connections: dict[str, psycopg2.extensions.connection]) -> str:
    """Commit a load or drop that committed somewhere or is prepared everywhere; roll it back otherwise.

    A load committed on the shards that record its id; a drop on the shards
    that no longer have the schema and hold nothing of it prepared.
    """
    kind, compilation = next(iter(prepared.values())).split(":")[:2]
    participants = int(next(iter(prepared.values())).rsplit(":", 1)[1])
    if kind == DROP:
        committed = sorted(name for name, present in has_schema.items() if not present and name not in prepared)
    else:
        committed = sorted(name for name, value in last_load.items() if value == load_id)
    finish = bool(committed) or len(prepared) == participants
    for name, gid in sorted(prepared.items()):
        try:
            (connections[name].tpc_commit if finish else connections[name].tpc_rollback)(gid)
        except psycopg2.Error as error:
            raise ShardLoadError(f"recovering load {load_id} on {name}: {describe_error(error)}") from None
    shards = ", ".join(sorted(prepared))
    what = f"{'drop' if kind == DROP else 'load'} {load_id} of {compilation}"
    if finish:
        why = f"it had committed on {', '.join(committed)}" if committed else f"all {participants} shards were prepared"
        return f"recovered {what}: committed it on {shards} ({why})"
    return (f"recovered {what}: rolled it back on {shards} (only {len(prepared)} of its {participants} "
            "shards were prepared)")


def _roll_back(prepared: list[Participant]) -> str:
    """Roll back the prepared transactions of a load that cannot commit; say what state that leaves."""
    left = []
    for participant in prepared:
        try:
            participant.connection.tpc_rollback()
        except psycopg2.Error:
            left.append(participant.shard.name)
    if left:
        return f"{', '.join(left)} still prepared (unchanged until resolved): run {RECOVER_COMMAND} to roll it back"
    return "nothing changed"


# A load's transaction sits idle on a shard the file has not reached yet, or one
# whose indexes are built while another's still are, for as long as the file
# takes: the server's idle_in_transaction_session_timeout (snapthunder.conf)
# must not end it.
LOAD_SESSION_OPTIONS = "-c idle_in_transaction_session_timeout=0"


def _connect(shard: Shard, compilation: str | None = None) -> psycopg2.extensions.connection:
    """A load session on `shard`, seeing `compilation`'s tables (none: only what every compilation shares)."""
    options = LOAD_SESSION_OPTIONS + (" " + search_path_option(compilation) if compilation else "")
    try:
        return psycopg2.connect(**shard.connect_arguments(), options=options)
    except psycopg2.Error as error:
        raise ShardLoadError(f"{shard.describe()}: {describe_error(error)}") from None


def _create_schema_if_new(participant: Participant, compilation: str) -> None:
    """The compilation's schema and tables on this shard, in the load's transaction, if it has none yet.

    The compilation schema file runs with the new schema first on
    search_path, so each of its objects is made there; checked before it runs.
    """
    with participant.connection.cursor() as cursor:
        if _has_schema(cursor, compilation):
            return
        cursor.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(compilation)))
        cursor.execute("SELECT current_schema()")
        (current,) = cursor.fetchone()
        if current != compilation:
            raise ShardLoadError(f"{participant.shard.describe()}: the new schema {compilation} is not first on "
                                 f"search_path (it is {current}); nothing changed")
        cursor.execute(shard_image.compilation_schema_sql())


def _has_schema(cursor, compilation: str) -> bool:
    """Whether the shard has `compilation`'s schema (it is made by the compilation's first load)."""
    cursor.execute("SELECT to_regnamespace(%s) IS NOT NULL", (compilation,))
    return cursor.fetchone()[0]


def _stop_if_asked(phase: str, count: int) -> None:
    if os.environ.get(STOP_AT_VARIABLE) == f"{phase}:{count}":
        os.kill(os.getpid(), signal.SIGSTOP)
