"""snapthunder on Kubernetes: wires the components together, and declares nothing itself.

Config is read once into `Settings`; then the namespace and network policy,
the images, the shard servers, the UI/API and (with `loadUrl`) a load Job;
finally the endpoints document is exported as the stack's outputs.
"""

import sys
from pathlib import Path

# The shared package (snapthunder/) sits at the repository root, beside this directory.
sys.path.append(str(Path(__file__).resolve().parent.parent))

import pulumi  # noqa: E402

import outputs  # noqa: E402
import workloads  # noqa: E402
from images import Images, ImagesArgs  # noqa: E402
from load_job import LoadJob, LoadJobArgs  # noqa: E402
from network import Isolation, IsolationArgs  # noqa: E402
from settings import Settings  # noqa: E402
from shards import ShardSet, ShardSetArgs  # noqa: E402
from ui import Ui, UiArgs  # noqa: E402

settings = Settings.from_config(pulumi.Config())
plan_digest = workloads.plan_digest(settings.plan)

isolation = Isolation("isolation", IsolationArgs(
    namespace=settings.namespace,
    create_namespace=settings.create_namespace,
    keep_volumes=not settings.delete_volumes_on_destroy,
    load_url=settings.load_url,
))
images = Images("images", ImagesArgs(settings.images))
shard_set = ShardSet("shards", ShardSetArgs(
    plan=settings.plan,
    namespace=isolation.namespace,
    image=images.shard_image,
    pull_policy=images.pull_policy,
    resources=settings.shard_resources,
    storage_size=settings.storage_size,
    storage_class=settings.storage_class,
    delete_volumes_on_destroy=settings.delete_volumes_on_destroy,
))
document = outputs.endpoints_document(settings, shard_set.loader_passwords, shard_set.reader_password)
Ui("ui", UiArgs(
    namespace=isolation.namespace,
    image=images.ui_image,
    pull_policy=images.pull_policy,
    reader_document=outputs.reader_json(document),
    plan_digest=plan_digest,
    replicas=settings.ui_replicas,
    resources=settings.ui_resources,
    front_resources=settings.ui_front_resources,
    service_type=settings.ui_service_type,
    source_ranges=settings.ui_source_ranges,
))
if settings.load_url:
    LoadJob("load", LoadJobArgs(
        namespace=isolation.namespace,
        image=images.ui_image,
        pull_policy=images.pull_policy,
        url=settings.load_url,
        compilation=settings.compilations[0].name,
        loader_document=outputs.loader_json(document),
        plan_digest=plan_digest,
        resources=settings.ui_resources,
    ), opts=pulumi.ResourceOptions(depends_on=[shard_set, isolation]))
outputs.export(settings, document)
