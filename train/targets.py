"""What `quality train TARGET` can (re)build from labelled data: one row per target.

A target is a module with `add_arguments(parser)` (its options; keep its top-level imports
light, the command line imports it to build `--help`) and `main(args) -> int` (the exit code).
Adding one, a scoring head or a calibration, is that module plus one row here.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType


@dataclass(frozen=True)
class TrainTarget:
    name: str
    module: str
    help: str

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


TRAIN_TARGETS: dict[str, TrainTarget] = {
    target.name: target
    for target in (
        TrainTarget("rubric", "train.rubric",
                    "fit the audition weights (and band cut-offs) to posts people graded; writes a new rubric file"),
        TrainTarget("civility-head", "train.civility_refit",
                    "refit the civility model's head on your own labels (the encoder is kept); compares old and new "
                    "on a held-out part and writes a new versioned model"),
        TrainTarget("photo-quality", "train.photo_quality_refit",
                    "fit the perceived photo quality to your judges' past scores (photo path, rating); compares old "
                    "and new on a held-out part and writes a new versioned model"),
        TrainTarget("tiers", "train.tiers",
                    "fit the tier requirements' thresholds to operators' past tier decisions (member_id, as_of, "
                    "tier) and a community export; writes a new rubric file"),
        TrainTarget("calibration", "train.calibration",
                    "refit the civility calibration on labelled rows; writes a new versioned calibration model"),
    )
}


def add_refit_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every refit target shares: the held-out share, and which models folder is read and written."""
    parser.add_argument("--holdout", type=float, default=0.2,
                        help="share of rows held out (by a hash of their content) to compare old and new")
    parser.add_argument("--models-dir", type=Path, default=None, help="the current models; default QUALITY_MODELS_DIR")
    parser.add_argument("--out-models-dir", type=Path, default=None,
                        help="write into a copy of the models folder here (default: replace in place)")


def output_models_dir(args: argparse.Namespace, source: Path) -> tuple[Path, bool]:
    """Where a refit writes (`--out-models-dir`, else `source` itself) and whether that is a copy;
    ValueError when the copy's folder exists already (a refit never overwrites another one)."""
    target = Path(args.out_models_dir) if args.out_models_dir else source
    copy = target.resolve() != source.resolve()
    if copy and target.exists():
        raise ValueError(f"{target} exists; give a new folder for the refitted models")
    return target, copy
