"""The rubric layer: sees dimension scores, never models."""

from quality.rubric.audition import AuditionInputs, audition
from quality.rubric.civility_signal import civility_signal
from quality.rubric.config import Rubric, load_rubric
from quality.rubric.flags import score_flags

__all__ = ["AuditionInputs", "Rubric", "audition", "civility_signal", "load_rubric", "score_flags"]
