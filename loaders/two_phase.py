"""A load commits on every shard or on none: PostgreSQL's two-phase commit, and recovery.

Every shard of the endpoints document takes part in every load, in one
transaction each, whose global id names the load and how many shards take
part: `snapthunder-load:<load id>:<shard>:<participants>`. When every shard
has done its work (junctions, samples), each transaction is PREPAREd (its
changes are then durable but invisible, and it keeps its locks); only once
all are prepared is each COMMIT PREPARED, and the shard records the load id
(shard_metadata `last_load_id`) in the same transaction. A loader that dies
before every shard is prepared leaves nothing visible; one that dies after
leaves prepared transactions that `recover` finishes: a load that committed
on some shard, or is prepared on all its participants, is committed on the
rest; any other is rolled back. Every load recovers first, and
`python -m loaders --recover` does only that.

While a shard holds its prepared load, readers of its junctions wait (the
load swapped the intron table and holds its lock), so nobody reads a mix of
old and new shards; the same lock is held from the shard's table swap, so the
window is the time from the first shard's swap to the last commit (the
slowest shard's index build, then milliseconds), or, if the loader died in
it, until the next load or `--recover`. One load runs at a time: it holds an
advisory lock on the document's first shard for its whole length, so
recovery never meets a live load's transactions.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import uuid

import psycopg2

from loaders.shard_writer import SET_METADATA, ShardLoadError, describe_error
from snapthunder.endpoints import Endpoints, Shard

GID_PREFIX = "snapthunder-load"
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


def transaction_id(load_id: str, shard: str, participants: int) -> str:
    return f"{GID_PREFIX}:{load_id}:{shard}:{participants}"


class Load:
    """One load's transactions on every shard: `with Load(endpoints) as load:` … `load.commit()`.

    Entering takes the load lock, recovers what a dead loader left and opens
    each shard's transaction; leaving without a commit rolls back every
    transaction not yet prepared.
    """

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints
        self.id = str(uuid.uuid4())
        self.participants: dict[str, Participant] = {}
        self.recovered: list[str] = []
        self._lock: psycopg2.extensions.connection | None = None

    def __enter__(self) -> "Load":
        try:
            self._lock = take_load_lock(self.endpoints)
            self.recovered = _recover_holding_lock(self.endpoints)
            for name, shard in self.endpoints.shards.items():
                connection = _connect(shard)
                self.participants[name] = Participant(shard, transaction_id(self.id, name, len(self.endpoints.shards)),
                                                      connection)
                connection.tpc_begin(self.participants[name].gid)
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
                with participant.connection.cursor() as cursor:
                    cursor.execute(SET_METADATA, ("last_load_id", self.id))
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


def take_load_lock(endpoints: Endpoints) -> psycopg2.extensions.connection:
    """A session holding the load lock on the document's first shard; ShardLoadError if another load has it."""
    shard = next(iter(endpoints.shards.values()))
    connection = _connect(shard)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (LOAD_LOCK,))
        (locked,) = cursor.fetchone()
    if not locked:
        connection.close()
        raise ShardLoadError(f"{shard.describe()}: another load is running (it holds the load lock on {shard.name}): "
                             "wait for it to finish, or stop it, then load again")
    return connection


def recover(endpoints: Endpoints) -> list[str]:
    """`--recover`: under the load lock, finish or roll back what dead loaders left; one line per load."""
    lock = take_load_lock(endpoints)
    try:
        return _recover_holding_lock(endpoints)
    finally:
        lock.close()


def _recover_holding_lock(endpoints: Endpoints) -> list[str]:
    """Finish or roll back every load a dead loader left prepared; one line per load resolved.

    Every shard must answer: one that does not might hold the commit that decides a load.
    """
    connections = {}
    try:
        for name, shard in endpoints.shards.items():
            connections[name] = _connect(shard)
        prepared: dict[str, dict[str, str]] = {}
        last_load = {}
        for name, connection in connections.items():
            with connection.cursor() as cursor:
                cursor.execute("SELECT gid FROM pg_prepared_xacts WHERE database = current_database() "
                               "AND starts_with(gid, %s)", (GID_PREFIX + ":",))
                for (gid,) in cursor.fetchall():
                    prepared.setdefault(gid.split(":")[1], {})[name] = gid
                cursor.execute("SELECT value FROM shard_metadata WHERE key = 'last_load_id'")
                last_load[name] = (cursor.fetchone() or (None,))[0]
            connection.rollback()
        return [_resolve(load_id, shards, last_load, connections) for load_id, shards in prepared.items()]
    finally:
        for connection in connections.values():
            connection.close()


def _resolve(load_id: str, prepared: dict[str, str], last_load: dict[str, str | None],
             connections: dict[str, psycopg2.extensions.connection]) -> str:
    participants = int(next(iter(prepared.values())).rsplit(":", 1)[1])
    committed = sorted(name for name, value in last_load.items() if value == load_id)
    finish = bool(committed) or len(prepared) == participants
    for name, gid in sorted(prepared.items()):
        try:
            (connections[name].tpc_commit if finish else connections[name].tpc_rollback)(gid)
        except psycopg2.Error as error:
            raise ShardLoadError(f"recovering load {load_id} on {name}: {describe_error(error)}") from None
    shards = ", ".join(sorted(prepared))
    if finish:
        why = f"it had committed on {', '.join(committed)}" if committed else f"all {participants} shards were prepared"
        return f"recovered load {load_id}: committed it on {shards} ({why})"
    return (f"recovered load {load_id}: rolled it back on {shards} (only {len(prepared)} of its {participants} "
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


def _connect(shard: Shard) -> psycopg2.extensions.connection:
    try:
        return psycopg2.connect(**shard.connect_arguments(), options=LOAD_SESSION_OPTIONS)
    except psycopg2.Error as error:
        raise ShardLoadError(f"{shard.describe()}: {describe_error(error)}") from None


def _stop_if_asked(phase: str, count: int) -> None:
    if os.environ.get(STOP_AT_VARIABLE) == f"{phase}:{count}":
        os.kill(os.getpid(), signal.SIGSTOP)
