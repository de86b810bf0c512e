"""How much does a labelled set's best distance cut-off depend on how its operons were curated? (issue 14)

    python benchmarks/label_curation.py --data ../shared/data

One genome, E. coli K-12, labelled four ways with the OpDetect construction (same-strand neighbours; 1 = one
known unit holds both genes, 0 = both genes known but in different units): the OpDetect list used by the
leave-one-genome-out benchmark (ODB v4 known operons), and RegulonDB 9.3's OperonSet at three evidence levels.
For each: the best spacer cut-off on the labels (an upper bound that uses them) beside the genome's own label-free
cut-off (calibration.posterior_cutoff), which is the same for every row because it never sees a label.
RegulonDB is read from ../shared/data only (its licence forbids redistribution); nothing of it is shipped.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from microfuse_cli.calibration import LabelledSpacers, SpacerModel, posterior_cutoff  # noqa: E402
from microfuse_cli.pairs import label_with_operons  # noqa: E402
from microfuse_cli.train_default import LABELLED_GENOMES  # noqa: E402

#: RegulonDB's computational-only evidence code: inferred without human oversight (in part from gene distance).
COMPUTATIONAL = "ICWHO"
CUTOFFS_BP = (20, 40, 67, 90, 119, 150, 200, 320)


def regulondb_operons(path: Path, keep) -> list[list[str]]:
    """Gene-name lists of the OperonSet rows whose (evidence text, confidence) ``keep`` accepts."""
    units = []
    for line in path.read_text(encoding="utf-8", errors="replace").split("\n"):
        fields = line.split("\t")
        if line.startswith("#") or len(fields) < 6:
            continue
        evidence, confidence = (fields[6] if len(fields) > 6 else ""), (fields[7].strip() if len(fields) > 7 else "")
        if keep(evidence, confidence):
            units.append([g.strip() for g in fields[5].split(",") if g.strip()])
    return units


def not_only_computational(evidence: str, confidence: str) -> bool:
    codes = [part.split("|")[0].strip("[ ;,") for part in evidence.split("]") if "|" in part]
    return bool(codes) and any(code != COMPUTATIONAL for code in codes)


LABELLINGS = (
    ("RegulonDB OperonSet, every operon", lambda evidence, confidence: True),
    ("RegulonDB, without computational-only operons", not_only_computational),
    ("RegulonDB, Strong or Confirmed only", lambda evidence, confidence: confidence in ("Strong", "Confirmed")),
)


def labelled_spacers(name, model, pairs) -> LabelledSpacers:
    return LabelledSpacers.from_pairs(name, model, [p for p in pairs if p.label is not None and p.same_strand])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    entry = next(e for e in LABELLED_GENOMES if e.name == "ecoli")
    genome, adjacent, labelled = entry.load(args.data)
    model = SpacerModel.fit(adjacent)
    own = posterior_cutoff(model)
    sets = [labelled_spacers("OpDetect list (ODB v4 known operons; the benchmark's labels)", model, labelled)]
    operon_set = args.data / entry.folder / "regulondb_9.3" / "OperonSet.txt"
    for name, keep in LABELLINGS:
        pairs, _ = label_with_operons(genome, adjacent, regulondb_operons(operon_set, keep))
        sets.append(labelled_spacers(name, model, pairs))
    print(f"E. coli K-12: own label-free cut-off {own:.0f} bp (mixture operon fraction {model.operon_fraction:.3f})\n")
    print("| labels | same-strand pairs (positive rate) | best cut-off bp: accuracy | own cut-off accuracy (gap) | "
          + " | ".join(f"{c} bp" for c in CUTOFFS_BP) + " |")
    print("|---|---|---|---|" + "---|" * len(CUTOFFS_BP))
    for s in sets:
        best_bp, best = s.best_cutoff()
        at_own = s.accuracy_at(own)
        print(f"| {s.name} | {s.label.size} ({s.label.mean():.2f}) | {best_bp:.0f}: {best:.4f} | "
              f"{at_own:.4f} ({best - at_own:.3f}) | " + " | ".join(f"{s.accuracy_at(c):.3f}" for c in CUTOFFS_BP) + " |")


if __name__ == "__main__":
    main()
