"""`python -m loaders`: the command line of the junction loader.

Errors are caught here, once: one line to stderr naming the file, line or
shard, exit 1 for data, I/O and connection errors and 2 for usage errors;
`--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import psycopg2

from loaders.directory import DirectoryError, read_directory
from loaders.feature_lines import FeatureFileError, SpooledTable
from loaders.gencode import GencodeFile
from loaders.genes import GenesFile
from loaders.pipeline import LoadSummary, load_junctions
from loaders.rejects import RejectsFile, default_rejects_path
from loaders.samples import SamplesFile
from loaders.shard_writer import ShardLoadError
from loaders.two_phase import drop, recover
from loaders.source import SourceError
from loaders.transcripts import TranscriptsFile
from loaders.unique_ids import DuplicateIdError
from snapthunder.compilations import Compilation, CompilationError, parse
from snapthunder.endpoints import Endpoints, EndpointsError
from snapthunder.layout import (ANNOTATIONS_FILE, EXON_ROWS_FILE, GENCODE_ENDINGS, GENE_ROWS_FILE, GENES_FILE,
                                JUNCTIONS_FILES, SAMPLES_FILE)
from snapthunder.targets import add_target_arguments, open_target


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="python -m loaders",
        description="Load a Snaptron junctions file into the shards of a snapthunder deployment, as one of its "
                    "compilations. A load replaces the chromosomes the file contains in that compilation, on every "
                    "shard or on none, and never touches another compilation.",
    )
    result.add_argument("file", metavar="FILE|DIR", nargs="?",
                        help="junctions: .bgz, .gz or plain TSV; - for stdin; or an http(s) URL; or a compilation "
                             f"directory, whose {' / '.join(JUNCTIONS_FILES)}, {SAMPLES_FILE}, {GENES_FILE}, GENCODE "
                             f"file ({' '.join('*' + ending for ending in GENCODE_ENDINGS)}) and {ANNOTATIONS_FILE} "
                             "are loaded (as --samples, --genes, --gencode and --annotations), with its gene and exon "
                             f"rows ({GENE_ROWS_FILE}, {EXON_ROWS_FILE}: /genes and /exons), and its other files "
                             "listed as skipped")
    result.add_argument("--compilation", metavar="NAME[:DataSource[:genome]]",
                        help="the compilation loaded (or recovered): default the only one the endpoints document "
                             "lists, else required; its DataSource label and genome default to the document's, "
                             "or to Snaptron's for that name (gtex: GTEx, hg38)")
    result.add_argument("--recover", action="store_true",
                        help="instead of loading, finish or roll back a load that a dead loader left half-committed "
                             "(every load does this first): of --compilation, or of every compilation")
    result.add_argument("--drop", metavar="NAME",
                        help="instead of loading, remove compilation NAME and everything loaded into it from every "
                             "shard (on all or none); asks for confirmation unless --yes")
    result.add_argument("--yes", action="store_true", help="with --drop: do not ask (needed when stdin is no terminal)")
    add_target_arguments(result)
    result.add_argument("--samples", metavar="PATH",
                        help="also load this samples.tsv into every shard, with the samples.groups.tsv beside it "
                             "if there is one (Snaptron's sample groups, for sids=<group>)")
    result.add_argument("--genes", metavar="PATH",
                        help="also load the genome's RefSeq transcripts (refseq_transcripts_by_hgvs.tsv, UCSC refFlat "
                             "layout) into every shard, for gene names in regions=; kept until a load gives them again "
                             "(bad lines go to ./PATH.rejects.tsv)")
    result.add_argument("--gencode", metavar="PATH",
                        help="also load the compilation's GENCODE genes (GFF3 or GTF, gzipped or not) into every "
                             "shard, for versioned gene ids in regions= (ENSG00000171094.15); kept until a load gives "
                             "them again; a bad line stops the load, naming it")
    result.add_argument("--annotations", metavar="PATH",
                        help=f"also load the compilation's transcripts ({ANNOTATIONS_FILE}) onto the shards by "
                             "chromosome, for /annotations; kept until a load gives them again; a bad line stops the "
                             "load, naming it")
    result.add_argument("--rejects", type=Path, metavar="PATH",
                        help="where bad junction lines go, with line number and reason (default: ./FILE.rejects.tsv; "
                             "bad samples lines go to ./SAMPLES.rejects.tsv)")
    result.add_argument("--jobs", type=_positive, metavar="N",
                        help="worker processes checking lines (default: one per CPU)")
    result.add_argument("--quiet", action="store_true", help="no progress bar")
    result.add_argument("--debug", action="store_true", help="show tracebacks")
    result.set_defaults(coverage=[])    # (feature, path) of a DIR's genes.bgz and exons.bgz
    return result


def main(argv: list[str] | None = None) -> int:
    command_line = parser()
    arguments = command_line.parse_args(argv)
    if sum((arguments.file is not None, arguments.recover, arguments.drop is not None)) != 1:
        command_line.error("give one of FILE, --recover or --drop NAME")
    if arguments.drop is not None and arguments.compilation is not None:
        command_line.error("--drop NAME names the compilation: leave out --compilation")
    try:
        _take_directory(arguments)
    except (DirectoryError, OSError) as error:
        print(f"usage error: {_one_line(error)}", file=sys.stderr)
        return 2
    samples_rejects = RejectsFile(default_rejects_path(arguments.samples)) if arguments.samples else None
    samples = None
    genes = GenesFile(arguments.genes) if arguments.genes else None
    annotations: list[SpooledTable] = []
    try:
        with open_target(arguments) as endpoints:
            if arguments.recover:
                name = _chosen(arguments.compilation, endpoints).name if arguments.compilation else None
                print("\n".join(recover(endpoints, name)) or "nothing to recover: no shard holds a prepared load")
                return 0
            if arguments.drop is not None:
                return _drop(_chosen(arguments.drop, endpoints), endpoints, arguments.yes)
            compilation = _chosen(arguments.compilation, endpoints)
            samples = SamplesFile(arguments.samples, compilation.name, samples_rejects) if arguments.samples else None
            if arguments.gencode:
                annotations.append(GencodeFile(arguments.gencode))
            if arguments.annotations:
                annotations.append(TranscriptsFile(arguments.annotations, endpoints.plan()))
            summary = load_junctions(arguments.file, endpoints, arguments.rejects, arguments.jobs,
                                     progress=_show_progress(arguments.quiet), samples=samples, genes=genes,
                                     coverage=arguments.coverage, compilation=compilation,
                                     annotations=annotations)
    except (argparse.ArgumentTypeError, CompilationError, UsageError) as error:
        print(f"usage error: {error}", file=sys.stderr)
        return 2
    except (EndpointsError, SourceError, DuplicateIdError, ShardLoadError, FeatureFileError, psycopg2.Error,
            OSError) as error:
        if arguments.debug:
            raise
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 1
    finally:
        if samples_rejects is not None:
            samples_rejects.close()
        for extra in (samples, genes, *annotations):
            if extra is not None:
                extra.close()
    _print_summary(summary, endpoints, samples, genes, annotations)
    print(f"compilation {compilation.name} ({compilation.data_source}, {compilation.genome}): "
          f"served at /{compilation.name}/snaptron")
    return 0


class UsageError(Exception):
    """The command line does not say what to do: exit 2 with this message."""


def _chosen(spelled: str | None, endpoints: Endpoints) -> Compilation:
    """The compilation named (`name` as the document configures it, or `name:Label:genome`), else the only one."""
    if spelled is None:
        try:
            return endpoints.configured(endpoints.compilation)
        except EndpointsError as error:
            raise UsageError(str(error)) from None
    if ":" in spelled:
        return parse(spelled)
    try:
        return endpoints.configured(spelled)
    except EndpointsError as error:
        raise UsageError(str(error)) from None


def _drop(compilation: Compilation, endpoints: Endpoints, yes: bool) -> int:
    """`--drop NAME`: confirmed on a terminal (or by --yes), then removed from every shard."""
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"--drop {compilation.name} removes it from every shard: add --yes to do so "
                             "without a terminal to confirm on")
        answer = input(f"remove compilation {compilation.name} and everything loaded into it from all "
                       f"{len(endpoints.shards)} shards? type its name to confirm: ")
        if answer.strip() != compilation.name:
            print(f"not dropped: {answer.strip()!r} is not {compilation.name!r}", file=sys.stderr)
            return 1
    recovered, held = drop(endpoints, compilation)
    for line in recovered:
        print(line)
    if held:
        print(f"dropped compilation {compilation.name} from {len(held)} shards")
    else:
        print(f"nothing to drop: no shard holds compilation {compilation.name}")
    return 0


def _take_directory(arguments: argparse.Namespace) -> None:
    """If FILE is a compilation directory, point `file`, the options and `coverage` at its files; list the rest.

    An option and the directory naming the same kind of file is a usage error:
    which one was meant is the user's to say.
    """
    if arguments.file is None or not Path(arguments.file).is_dir():
        return
    directory = read_directory(Path(arguments.file))
    for option, found in (("samples", directory.samples), ("genes", directory.genes),
                          ("gencode", directory.gencode), ("annotations", directory.annotations)):
        if found is not None and getattr(arguments, option) is not None:
            raise DirectoryError(f"--{option} {getattr(arguments, option)} and {found}: give one of them "
                                 f"(move {found.name} out of {arguments.file}, or drop --{option})")
        if found is not None:
            setattr(arguments, option, str(found))
    arguments.file = str(directory.junctions)
    arguments.coverage = [(feature, str(path)) for feature, path in directory.coverage]
    for path, reason in directory.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)


def _print_summary(summary: LoadSummary, endpoints: Endpoints, samples: SamplesFile | None,
                   genes: GenesFile | None, annotations: list[SpooledTable]) -> None:
    for line in summary.recovered:
        print(line)
    rate = summary.rows_loaded / summary.seconds if summary.seconds else 0
    print(f"loaded {summary.rows_loaded:,} junctions from {summary.source} in {summary.seconds:.1f} s "
          f"({rate:,.0f} rows/s)")
    for name, shard in endpoints.shards.items():
        rows = summary.rows_per_shard.get(name)
        state = f"{rows:>12,} rows" if rows is not None else "   (untouched: no rows for it in this file)"
        print(f"  {name:<12} {state}   {' '.join(shard.chromosomes)}")
    plan = endpoints.plan()
    for name, removed in summary.removed.items():
        for chromosome, rows in removed:
            print(f"  {name}: removed {chromosome} ({rows:,} rows): the plan places it on {plan.shard_for(chromosome)}")
    if samples is not None:
        print(f"loaded {samples.rows:,} samples into every shard")
        if samples.rejects.count:
            print(f"samples: {samples.rejects.count:,} bad lines, see {samples.rejects.path}", file=sys.stderr)
        if samples.groups is not None:
            print(f"loaded {samples.groups.groups:,} sample groups from {samples.groups.path}")
            if samples.groups.rejects.count:
                print(f"sample groups: {samples.groups.rejects.count:,} bad lines, see {samples.groups.rejects.path}",
                      file=sys.stderr)
    if genes is not None:
        print(f"loaded {genes.transcripts:,} gene transcripts from {genes.path} into every shard "
              f"({genes.skipped:,} on contigs that hold no genes skipped)")
        if genes.rejects.count:
            print(f"genes: {genes.rejects.count:,} bad lines, see {genes.rejects.path}", file=sys.stderr)
    for annotation in annotations:
        print(annotation.summary())
    for part in summary.coverage:
        print(f"loaded {part.rows_loaded:,} rows from {part.source} ({len(part.rows_per_shard)} shards)")
    for part in (summary, *summary.coverage):
        if part.rejected:
            print(f"rejected {part.rejected:,} of {part.lines:,} lines of {part.source}: see {part.rejects_path}")


def _show_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty() and not os.environ.get("CI")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
