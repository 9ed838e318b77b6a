"""Writing a fitted rubric: a copy of the rubric it started from with new audition weights (and
band cut-offs), a new version, and a comment header saying what it was fitted on.

The copy is made from the source file's own data, not from the `Rubric` model, so everything
the fit does not touch (reasons, civility signal, keys added later) is carried over as written.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import yaml

from quality.rubric.config import Bands, Rubric, load_rubric

DECIMALS = 4


def fitted_version(version: str, day: date) -> str:
    """`<version>+fit.<YYYYMMDD>`; refitting a fitted rubric replaces its fit suffix."""
    return f"{version.split('+fit.')[0]}+fit.{day:%Y%m%d}"


def rounded_shares(shares: np.ndarray) -> list[float]:
    """Shares rounded for the file, still summing to one: the largest takes the rounding."""
    rounded = np.round(shares, DECIMALS)
    rounded[int(np.argmax(rounded))] += 1.0 - rounded.sum()
    return [round(float(share), DECIMALS) for share in rounded]


def write_fitted_rubric(source: Path, out: Path, *, weights: dict[str, float], effort_weight: float,
                        bands: Bands, version: str, header: str) -> Rubric:
    """Write the fitted copy of `source` to `out` and return it as the service will load it.
    It is validated before anything is written."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["version"] = version
    audition = data["audition"]
    audition["weights"] = dict(weights)
    audition["effort"]["weight"] = effort_weight
    audition["bands"] = bands.model_dump()
    text = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    text += yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)
    Rubric.model_validate(yaml.safe_load(text))
    out.write_text(text, encoding="utf-8")
    return load_rubric(out)


def write_fitted_tiers(source: Path, out: Path, *, tiers, version: str, header: str) -> Rubric:
    """Write a copy of `source` with the `tiers` section's thresholds replaced by those of `tiers`
    (a `TierRules`) to `out`, validated first; return it as the service will load it."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["version"] = version
    fitted = tiers.model_dump(exclude_none=True)
    for tier in ("advanced", "core", "leading"):
        data["tiers"][tier]["requirements"] = fitted[tier]["requirements"]
    text = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    text += yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)
    Rubric.model_validate(yaml.safe_load(text))
    out.write_text(text, encoding="utf-8")
    return load_rubric(out)
