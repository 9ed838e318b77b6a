"""`quality train rubric`: fit the audition weights (and band cut-offs) to posts people graded.

    quality train rubric --data graded.csv [--title-col title --image-col photos] [--fit-bands]

Writes a new rubric (default `rubric.fitted.yaml` here) for QUALITY_RUBRIC_PATH and beside it
`<name>.fit.json`, the held-out comparison with the current rubric (`train.rubric_fit`).
Only the options live here: the command line imports this module to build its help.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eval.data import add_graded_post_arguments

DEFAULT_OUT = Path("rubric.fitted.yaml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="CSV, JSONL or Parquet of graded posts")
    parser.add_argument("--text-col", default="text", help="default: text")
    parser.add_argument("--label-col", default="label", help="the people's grade, 1-5 or 0-100 (default: label)")
    add_graded_post_arguments(parser)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"the new rubric (default ./{DEFAULT_OUT}); the fit report goes beside it")
    parser.add_argument("--version", default=None, help="version of the new rubric (default <current>+fit.<YYYYMMDD>)")
    parser.add_argument("--fit-bands", action="store_true",
                        help="also refit the band cut-offs so each band gets the share of posts the 1-5 grades give "
                             "it (5 featured, 4 promising, 3 ordinary, 1-2 low)")
    parser.add_argument("--force", action="store_true", help="let --out replace the rubric in use or the packaged one")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace, service=None) -> int:
    """Exit 0 with the report as the last stdout line, or 2 with a message when the data or the
    options cannot give a fit. `service` (built from the settings when None) scores the posts."""
    from eval.data import LabelFileError
    from quality.service import QualityService
    from quality.settings import DEFAULT_RUBRIC, Settings
    from train.rubric_fit import FitRefused, fit_rubric, print_fit_table

    service = service or QualityService(Settings())
    protected = {DEFAULT_RUBRIC.resolve(), service.settings.rubric_path.resolve()}
    if args.out.resolve() in protected and not args.force:
        print(f"quality train rubric: {args.out} is the rubric in use or the packaged one; "
              "pass --force to replace it", file=sys.stderr)
        return 2
    try:
        report = fit_rubric(service, args.data, args.out, text_col=args.text_col, label_col=args.label_col,
                            title_col=args.title_col, image_col=args.image_col, grade_scale=args.grade_scale,
                            version=args.version, refit_bands=args.fit_bands, quiet=args.quiet)
    except (LabelFileError, FitRefused) as error:
        print(f"quality train rubric: {error}", file=sys.stderr)
        return 2
    print_fit_table(report)
    print(json.dumps(report, ensure_ascii=False))
    return 0
