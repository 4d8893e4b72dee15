"""The generated compilation's samples: a GTEx-like `samples.tsv` and its `samples.groups.tsv`.

The API's sample endpoints, sfilter and sample groups need metadata shaped
like GTEx's: a tissue (`smts`) and detailed tissue (`smtsd`) per sample, a
RIN number, GTEx-style sample ids. Identifiers come from fixed bijections of
the rail_id, so they are unique without bookkeeping; tissues, donors and RIN
numbers are drawn from the generator's samples stream (synthetic.py), so
they do not change with the junctions' scale.
"""

from __future__ import annotations

from pathlib import Path

import numpy

GROUPS_HEADER = ("group_short_name", "group_long_name", "rail_id_count", "rail_ids")
GTEX_STUDY = "SRP012682"
GTEX_TISSUES = (
    ("Adipose Tissue", "Adipose - Subcutaneous"),
    ("Adipose Tissue", "Adipose - Visceral (Omentum)"),
    ("Artery", "Artery - Tibial"), ("Artery", "Artery - Aorta"),
    ("Blood", "Whole Blood"), ("Blood", "Cells - EBV-transformed lymphocytes"),
    ("Brain", "Brain - Cortex"), ("Brain", "Brain - Cerebellum"),
    ("Breast", "Breast - Mammary Tissue"), ("Colon", "Colon - Transverse"),
    ("Esophagus", "Esophagus - Mucosa"), ("Esophagus", "Esophagus - Muscularis"),
    ("Heart", "Heart - Left Ventricle"), ("Liver", "Liver"), ("Lung", "Lung"),
    ("Muscle", "Muscle - Skeletal"), ("Nerve", "Nerve - Tibial"),
    ("Pancreas", "Pancreas"), ("Pituitary", "Pituitary"),
    ("Skin", "Skin - Sun Exposed (Lower leg)"), ("Skin", "Cells - Cultured fibroblasts"),
    ("Spleen", "Spleen"), ("Stomach", "Stomach"), ("Testis", "Testis"),
    ("Thyroid", "Thyroid"),
)
SAMPLES_HEADER = ("rail_id", "sample_id", "smts", "smtsd", "smrin", "study", "run_acc")
SAMPLES_PER_DONOR = 10
BASE36_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def base36(number: int, width: int) -> str:
    """Spell a number in upper-case base 36, the alphabet of GTEx donor and SM codes."""
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 36)
        digits.append(BASE36_DIGITS[digit])
    return "".join(reversed(digits))


def write_samples_table(path: Path, random: numpy.random.Generator, sample_total: int,
                        rail_id_offset: int = 0) -> None:
    """Write GTEx-like metadata, one row per rail_id rail_id_offset .. rail_id_offset + sample_total - 1.

    Identifiers come from fixed bijections of the rail_id, so they are unique
    without bookkeeping; tissues, donors and RIN numbers are random.
    """
    code_space = 36 ** 5
    tissue_choice = random.integers(0, len(GTEX_TISSUES), sample_total).tolist()
    donors = random.integers(0, sample_total // SAMPLES_PER_DONOR + 1, sample_total).tolist()
    sites = random.integers(1, 3_400, sample_total).tolist()
    rins = numpy.clip(random.normal(7.3, 0.9, sample_total), 3.0, 10.0).tolist()
    with path.open("w", encoding="ascii", newline="\n") as handle:
        handle.write("\t".join(SAMPLES_HEADER) + "\n")
        for index in range(sample_total):
            rail_id = rail_id_offset + index
            tissue, detailed_tissue = GTEX_TISSUES[tissue_choice[index]]
            donor = base36((donors[index] * 7_919 + 1_679_616) % code_space, 5)
            sample_code = base36((rail_id * 104_729 + 46_656) % code_space, 5)
            run = 1_000_000 + (rail_id * 7_919) % 9_000_000
            handle.write(
                f"{rail_id}\tGTEX-{donor}-{sites[index]:04d}-SM-{sample_code}\t{tissue}\t{detailed_tissue}\t"
                f"{rins[index]:.1f}\t{GTEX_STUDY}\tSRR{run}\n"
            )


def write_sample_groups(path: Path, samples_path: Path) -> None:
    """Write Snaptron's samples.groups.tsv for GTEx: one group per tissue (`smts`), `Adipose_Tissue` for
    "Adipose Tissue", as Snaptron's create_sample_groups.pl names them."""
    members: dict[str, list[str]] = {}
    with samples_path.open(encoding="ascii") as samples:
        tissue_column = samples.readline().rstrip("\n").split("\t").index("smts")
        for line in samples:
            cells = line.rstrip("\n").split("\t")
            members.setdefault(cells[tissue_column], []).append(cells[0])
    with path.open("w", encoding="ascii", newline="\n") as handle:
        handle.write("\t".join(GROUPS_HEADER) + "\n")
        for tissue, rail_ids in sorted(members.items()):
            handle.write(f"{tissue.replace(' ', '_')}\t{tissue}\t{len(rail_ids)}\t{','.join(rail_ids)}\n")
