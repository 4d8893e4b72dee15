"""The stack outputs: the endpoints document, one `pulumi.export` per top-level key.

`pulumi stack output --json --show-secrets` therefore prints the very document
the local environment writes (see snapthunder/endpoints.py), so loaders and
the bench read either one. The keys holding passwords (`reader`, `shards`)
are Pulumi secrets. An extra `kubernetes` key tells `--port-forward` which
Services to forward: the namespace, each shard's Service and the UI's.

`build_document` is a plain function of plain values, so tests can call it.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import pulumi

import shards
import ui
from settings import Settings
from snapthunder import endpoints, shard_image

# The keys `endpoints.document` puts passwords in.
SECRET_KEYS = ("reader", "shards")


def build_document(settings: Settings, loader_passwords: Mapping[str, str], reader_password: str) -> dict[str, Any]:
    """The endpoints document of this deployment, as clients inside the cluster reach it."""
    namespace = settings.namespace
    addresses = {
        shard: (f"{shards.object_name(shard)}.{namespace}.svc.cluster.local", shard_image.PORT, shard_image.DATABASE)
        for shard in settings.plan.shards
    }
    loader = {shard: endpoints.Credentials(shard_image.LOADER_ROLE, password)
              for shard, password in loader_passwords.items()}
    document = endpoints.document(
        settings.compilations, settings.plan, addresses, loader,
        endpoints.Credentials(shard_image.READER_ROLE, reader_password), ui.service_url(namespace),
    )
    document["kubernetes"] = {
        "namespace": namespace,
        "shards": {shard: {"service": shards.object_name(shard), "port": shard_image.PORT}
                   for shard in settings.plan.shards},
        "ui": {"service": ui.SERVICE_NAME, "port": ui.SERVICE_PORT},
    }
    return document


def endpoints_document(settings: Settings, loader_passwords: Mapping[str, pulumi.Output[str]],
                       reader_password: pulumi.Output[str]) -> pulumi.Output[dict[str, Any]]:
    """The document once the generated passwords are known (a secret, since they are)."""
    return pulumi.Output.all(loader=pulumi.Output.all(**loader_passwords), reader=reader_password).apply(
        lambda passwords: build_document(settings, passwords["loader"], passwords["reader"]))


def loader_json(document: pulumi.Output[dict[str, Any]]) -> pulumi.Output[str]:
    """The full document as a file, for the load Job."""
    return document.apply(lambda value: json.dumps(value, indent=2))


def reader_json(document: pulumi.Output[dict[str, Any]]) -> pulumi.Output[str]:
    """The document as the read-only role sees it (`Endpoints.for_reader`), for the API."""
    def as_reader(value: dict[str, Any]) -> str:
        reader = endpoints.Endpoints.from_document(value, "the stack's endpoints document").for_reader()
        return json.dumps(reader.to_document(), indent=2)
    return document.apply(as_reader)


def export(settings: Settings, document: pulumi.Output[dict[str, Any]]) -> None:
    """Export each top-level key: the secret ones from `document`, the rest as plain values.

    The document's keys, and every value outside SECRET_KEYS, do not depend on
    the passwords, so a document built with empty passwords gives them now.
    """
    shape = build_document(settings, {shard: "" for shard in settings.plan.shards}, "")
    for key, value in shape.items():
        pulumi.export(key, document.apply(lambda whole, key=key: whole[key]) if key in SECRET_KEYS else value)
