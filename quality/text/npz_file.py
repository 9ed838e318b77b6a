"""Small trained heads are stored as one .npz: named arrays plus a JSON `meta` entry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def read_head_file(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    with np.load(path, allow_pickle=False) as arrays:
        data = {name: arrays[name] for name in arrays.files if name != "meta"}
        return data, json.loads(str(arrays["meta"]))


def write_head_file(path: Path, meta: dict, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:  # np.savez_compressed on a name would append ".npz"
        np.savez_compressed(handle, meta=np.array(json.dumps(meta)), **arrays)
