"""What `quality train TARGET` can (re)build from labelled data: one row per target.

A target is a module with `add_arguments(parser)` (its options; keep its top-level imports
light, the command line imports it to build `--help`) and `main(args) -> int` (the exit code).
Adding one, a scoring head or a calibration, is that module plus one row here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
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
        TrainTarget("calibration", "train.calibration",
                    "refit the civility calibration on labelled rows; writes a new versioned calibration model"),
    )
}
