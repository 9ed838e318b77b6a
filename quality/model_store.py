"""Models loaded once per process, on first use, from files the manifest has verified."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from quality.manifest import Manifest, ModelEntry, load_manifest, resolve_file, verify_manifest
from quality.settings import Settings


class ModelStore:
    """Holds the manifest and lazily built model objects, keyed by manifest name.

    Cheap to create: nothing is loaded until `get` is first called for a name, so a
    store can be built in a worker process from settings alone.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.manifest: Manifest = load_manifest(settings.manifest_path)
        self.checksums_verified = False
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()  # guards `_locks`
        self._locks: dict[str, threading.Lock] = {}  # one per name: different models load in parallel

    def verify(self) -> None:
        verify_manifest(self.manifest, self.settings.models_dir)
        self.checksums_verified = True

    def entry(self, name: str) -> ModelEntry:
        return self.manifest.entry(name)

    def path(self, name: str, role: str = "weights") -> Path:
        entry = self.entry(name)
        for model_file in entry.files:
            if model_file.role == role:
                return resolve_file(entry, model_file, self.settings.models_dir)
        raise KeyError(f"model {name!r} has no file with role {role!r}")

    def get(self, name: str, build: Callable[["ModelStore"], Any]) -> Any:
        """The object for `name`, built by `build(store)` the first time it is asked for (once,
        even when several threads ask at the same time; other names load meanwhile)."""
        if name not in self._loaded:
            with self._lock:
                lock = self._locks.setdefault(name, threading.Lock())
            with lock:
                if name not in self._loaded:
                    self._loaded[name] = build(self)
        return self._loaded[name]
