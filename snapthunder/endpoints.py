"""The endpoints document: everything a client needs to reach a deployment.

The Pulumi stack exports it as its outputs (`pulumi stack output --json
--show-secrets`), the local environment writes it as a JSON file; loaders,
the API and the bench read it and never hard-code a host, user or database.

    {"compilations": {"gtex": {"data_source": "GTEx", "genome": "hg38"}, ...},
     "api_url": "http://127.0.0.1:8080",                      (once the API is up)
     "catch_all_shard": "shard-1",
     "chromosome_shards": {"chr1": "shard-0", ...},
     "reader": {"user": "...", "password": "..."},            (read-only role)
     "shards": {"shard-0": {"host": "...", "port": 5432, "database": "...",
                            "user": "...", "password": "...",  (loader role)
                            "chromosomes": ["chr1", ...]}, ...},
     ...}                                                      (other keys kept as they are)

`document()` builds it (infra and the local environment both call it), and
`Endpoints.from_document()` checks it, naming the file and the key at fault.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterable, Mapping

from snapthunder.compilations import Compilation, CompilationError, search_path_option
from snapthunder.compilations import compilation as checked_compilation
from snapthunder.plan import ShardPlan

REQUIRED_SHARD_KEYS = ("host", "port", "database", "user", "password", "chromosomes")


class EndpointsError(Exception):
    """The endpoints document is missing, unreadable or not of the documented shape."""


@dataclasses.dataclass(frozen=True)
class Credentials:
    user: str
    password: str


@dataclasses.dataclass(frozen=True)
class Shard:
    """One shard's server, reached as the loader role unless told otherwise."""

    name: str
    host: str
    port: int
    database: str
    user: str
    password: str
    chromosomes: tuple[str, ...]

    def connect_arguments(self, credentials: Credentials | None = None,
                          compilation: str | None = None) -> dict[str, Any]:
        """Keyword arguments for `psycopg2.connect`, as the loader or as `credentials`.

        With `compilation`, the session sees that compilation's tables (its
        schema first on search_path); without, only the functions all share.
        """
        who = credentials or Credentials(self.user, self.password)
        arguments = {
            "host": self.host, "port": self.port, "dbname": self.database,
            "user": who.user, "password": who.password,
            "application_name": "snapthunder", "connect_timeout": 10,
        }
        if compilation is not None:
            arguments["options"] = search_path_option(compilation)
        return arguments

    def describe(self) -> str:
        """`shard-0 (chr1, chr7 at 127.0.0.1:5433)`: for error messages."""
        return f"{self.name} ({', '.join(self.chromosomes)} at {self.host}:{self.port})"


@dataclasses.dataclass(frozen=True)
class Endpoints:
    """The document, read. `compilations` are those configured (the stack's, or `make up`'s): what the
    loader loads by name; the API serves those and any other the shards hold (snapthunder/compilations.py)."""

    compilations: Mapping[str, Compilation]
    shards: Mapping[str, Shard]
    reader: Credentials
    catch_all_shard: str
    api_url: str | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def for_reader(self) -> "Endpoints":
        """The same document with every shard reached as the read-only role.

        This is what the API is given (in the cluster, as a Secret): it can
        query every shard and can never write, and holds no loader password.
        """
        shards = {name: dataclasses.replace(shard, user=self.reader.user, password=self.reader.password)
                  for name, shard in self.shards.items()}
        return dataclasses.replace(self, shards=shards)

    @property
    def compilation(self) -> str:
        """The one compilation configured: the loader's default; EndpointsError naming them when there are several."""
        if len(self.compilations) != 1:
            raise EndpointsError(f"this deployment serves {len(self.compilations)} compilations "
                                 f"({', '.join(self.compilations)}): say which one with --compilation NAME")
        return next(iter(self.compilations))

    @property
    def first_compilation(self) -> str:
        """The first compilation configured: what the bench measures and the page shows."""
        return next(iter(self.compilations))

    def configured(self, name: str) -> Compilation:
        """The compilation `name` as configured, or with Snaptron's label and genome for it when it is not."""
        try:
            return self.compilations.get(name) or checked_compilation(name)
        except CompilationError as error:
            raise EndpointsError(str(error)) from None

    def plan(self) -> ShardPlan:
        """The shard plan that placed the data, as recorded in the document."""
        return ShardPlan({name: shard.chromosomes for name, shard in self.shards.items()}, self.catch_all_shard)

    def to_document(self) -> dict[str, Any]:
        doc = document(
            self.compilations.values(), self.plan(),
            {name: (s.host, s.port, s.database) for name, s in self.shards.items()},
            {name: Credentials(s.user, s.password) for name, s in self.shards.items()},
            self.reader, self.api_url,
        )
        doc.update(self.extra)
        return doc

    @classmethod
    def from_document(cls, doc: Any, origin: str) -> "Endpoints":
        """Check and read a document; `origin` (a path or `stack dev`) goes into errors."""
        if not isinstance(doc, dict):
            raise EndpointsError(f"{origin}: expected a JSON object, got {type(doc).__name__}")
        compilations = _compilations(doc, origin)
        catch_all = _field(doc, "catch_all_shard", str, origin)
        reader = _field(doc, "reader", dict, origin)
        raw_shards = _field(doc, "shards", dict, origin)
        if not raw_shards:
            raise EndpointsError(f"{origin}: 'shards' is empty")
        shards = {}
        for name, raw in raw_shards.items():
            where = f"shards.{name}"
            if not isinstance(raw, dict):
                raise EndpointsError(f"{origin}: '{where}' must be an object")
            missing = [key for key in REQUIRED_SHARD_KEYS if key not in raw]
            if missing:
                raise EndpointsError(f"{origin}: '{where}' lacks {', '.join(missing)}")
            shards[name] = Shard(
                name=name, host=str(raw["host"]), port=_port(raw["port"], f"{origin}: '{where}.port'"),
                database=str(raw["database"]), user=str(raw["user"]), password=str(raw["password"]),
                chromosomes=tuple(raw["chromosomes"]),
            )
        if catch_all not in shards:
            raise EndpointsError(f"{origin}: catch_all_shard {catch_all!r} is not one of the shards {sorted(shards)}")
        api_url = doc.get("api_url")
        if api_url is not None and not isinstance(api_url, str):
            raise EndpointsError(f"{origin}: 'api_url' must be a string")
        known = {"compilations", "compilation", "catch_all_shard", "chromosome_shards", "reader", "shards", "api_url"}
        return cls(
            compilations=compilations, shards=shards,
            reader=Credentials(_field(reader, "user", str, f"{origin}: reader"),
                               _field(reader, "password", str, f"{origin}: reader")),
            catch_all_shard=catch_all, api_url=api_url,
            extra={key: value for key, value in doc.items() if key not in known},
        )


def document(
    compilations: Iterable[Compilation],
    plan: ShardPlan,
    addresses: Mapping[str, tuple[str, int, str]],
    loader: Mapping[str, Credentials],
    reader: Credentials,
    api_url: str | None = None,
) -> dict[str, Any]:
    """The document for a plan, given each shard's (host, port, database) and loader credentials."""
    doc: dict[str, Any] = {
        "compilations": {item.name: item.to_document() for item in compilations},
        "catch_all_shard": plan.catch_all,
        "chromosome_shards": plan.chromosome_shards,
        "reader": {"user": reader.user, "password": reader.password},
        "shards": {
            name: {
                "host": addresses[name][0], "port": addresses[name][1], "database": addresses[name][2],
                "user": loader[name].user, "password": loader[name].password,
                "chromosomes": list(chromosomes),
            }
            for name, chromosomes in plan.shards.items()
        },
    }
    if api_url is not None:
        doc["api_url"] = api_url
    return doc


def load(path: str | os.PathLike[str]) -> Endpoints:
    """Read a saved endpoints document (the local environment's, or a saved stack output)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise EndpointsError(f"{path}: no endpoints document here; start the local environment "
                             "with `make up`, or save a stack's with `pulumi stack output --json --show-secrets`") from None
    except OSError as error:
        raise EndpointsError(f"{path}: cannot read: {error.strerror}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise EndpointsError(f"{path}:{error.lineno}: not JSON: {error.msg}") from None
    return Endpoints.from_document(doc, str(path))


def save(endpoints: Endpoints, path: str | os.PathLike[str]) -> None:
    """Write the document readable by its owner only: it holds passwords."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        json.dump(endpoints.to_document(), handle, indent=2)
        handle.write("\n")
    temporary.replace(path)


def from_stack(stack: str) -> Endpoints:
    """The outputs of a Pulumi stack, through the Pulumi CLI."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise EndpointsError(f"--stack {stack} needs the Pulumi CLI, which is not on PATH: install it "
                             "(https://www.pulumi.com/docs/install/) or pass --outputs FILE")
    command = [pulumi, "stack", "output", "--json", "--show-secrets", "--stack", stack]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        message = result.stderr.strip().splitlines()[-1:] or ["no message"]
        raise EndpointsError(f"stack {stack}: `{' '.join(command[1:])}` failed: {message[0]}")
    try:
        doc = json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise EndpointsError(f"stack {stack}: the outputs are not JSON: {error.msg}") from None
    return Endpoints.from_document(doc, f"stack {stack}")


def _compilations(doc: Mapping[str, Any], origin: str) -> dict[str, Compilation]:
    """`compilations`: name → {data_source, genome}, at least one, each checked.

    A document written before several compilations were served names one as
    `"compilation": "gtex"`: it reads as that one, so environments and saved
    stack outputs of that time still load, answer and go down.
    """
    if "compilations" not in doc and isinstance(doc.get("compilation"), str):
        raw = {doc["compilation"]: {}}
    else:
        raw = _field(doc, "compilations", dict, origin)
    if not raw:
        raise EndpointsError(f"{origin}: 'compilations' is empty: a deployment serves at least one")
    result = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            raise EndpointsError(f"{origin}: 'compilations.{name}' must be an object")
        try:
            result[name] = checked_compilation(name, entry.get("data_source"), entry.get("genome"))
        except CompilationError as error:
            raise EndpointsError(f"{origin}: 'compilations.{name}': {error}") from None
    return result


def _field(doc: Mapping[str, Any], key: str, kind: type, origin: str) -> Any:
    if key not in doc:
        raise EndpointsError(f"{origin}: missing '{key}'")
    if not isinstance(doc[key], kind):
        raise EndpointsError(f"{origin}: '{key}' must be a {kind.__name__}, got {type(doc[key]).__name__}")
    return doc[key]


def _port(value: Any, where: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise EndpointsError(f"{where} must be a port number, got {value!r}") from None
    if not 0 < port < 65536:
        raise EndpointsError(f"{where} must be a port number, got {port}")
    return port
