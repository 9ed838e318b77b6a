"""The one list of models the service uses, with where each file comes from and its sha256.

`models/manifest.yaml` declares every model once (as open_clip's pretrained table
does): a packaged model names its package, version and the file inside it; a model
the project trained names its file under `models/`. At start-up every file is hashed
and compared; a mismatch or a wrong package version stops the service with a message
that says which file, what was expected and what was found.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from quality.artifacts import sha256_file
from quality.errors import ModelIntegrityError


class ModelFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = "weights"
    path: str = Field(description="inside the package (package models) or under models/ (project models)")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    kind: str
    version: str
    licence: str
    package: str | None = Field(None, description="PyPI distribution carrying the files")
    package_version: str | None = None
    module: str | None = Field(None, description="import name whose folder holds the files")
    files: list[ModelFile]
    preprocessing: dict = Field(default_factory=dict)
    metrics: dict = Field(default_factory=dict)
    card: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _source_is_complete(self) -> "ModelEntry":
        if self.package and not (self.package_version and self.module):
            raise ValueError(f"{self.name}: a packaged model needs package_version and module")
        return self

    @property
    def source(self) -> str:
        return f"{self.package}=={self.package_version}" if self.package else "project (models/)"


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    models: list[ModelEntry]

    def entry(self, name: str) -> ModelEntry:
        for model in self.models:
            if model.name == name:
                return model
        raise KeyError(f"model {name!r} is not declared in the manifest")


def load_manifest(path: Path) -> Manifest:
    if not path.is_file():
        raise ModelIntegrityError(f"model manifest not found: {path}")
    return Manifest.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def resolve_file(entry: ModelEntry, model_file: ModelFile, models_dir: Path) -> Path:
    if entry.module:
        spec = importlib.util.find_spec(entry.module)
        if spec is None or spec.origin is None:
            raise ModelIntegrityError(
                f"model {entry.name!r}: package {entry.package}=={entry.package_version} is not installed "
                f"(import name {entry.module!r}); run `make install`"
            )
        return Path(spec.origin).resolve().parent / model_file.path
    return models_dir / model_file.path


def verify_manifest(manifest: Manifest, models_dir: Path) -> None:
    """Raise ModelIntegrityError on the first missing file, wrong version or checksum mismatch."""
    for entry in manifest.models:
        if entry.package:
            try:
                installed = importlib.metadata.version(entry.package)
            except importlib.metadata.PackageNotFoundError:
                installed = None
            if installed != entry.package_version:
                raise ModelIntegrityError(
                    f"model {entry.name!r} needs {entry.package}=={entry.package_version}, "
                    f"found {installed or 'nothing installed'}; run `make install`"
                )
        for model_file in entry.files:
            path = resolve_file(entry, model_file, models_dir)
            if not path.is_file():
                raise ModelIntegrityError(f"model {entry.name!r}: file missing: {path}")
            actual = sha256_file(path)
            if actual != model_file.sha256:
                raise ModelIntegrityError(
                    f"model {entry.name!r}: checksum mismatch for {path}\n"
                    f"  expected sha256 {model_file.sha256}\n  found    sha256 {actual}\n"
                    "The file is corrupt or was replaced; restore it or retrain and update models/manifest.yaml."
                )


def models_version(manifest: Manifest) -> str:
    """The manifest version plus a short digest of every file's checksum."""
    digest = hashlib.sha256()
    for entry in manifest.models:
        for model_file in entry.files:
            digest.update(f"{entry.name}:{model_file.sha256}".encode())
    return f"{manifest.version}+{digest.hexdigest()[:8]}"


def _entry_pattern(name: str) -> str:
    """The `- name: <name>` item of the manifest's model list, up to the next item or the end."""
    import re

    return rf"^  - name: {re.escape(name)}\n.*?(?=^  - name: |\Z)"


def refitted_entry_text(text: str, name: str, version: str, role: str, sha256: str, card: str,
                        metrics_comment: str, metrics: str) -> str:
    """The manifest entry `name` (YAML text of `text`) after a refit: new version, the `role` file's
    new sha256, the refit's card, and its figures as the metrics line (older figures dropped)."""
    import re

    entry = re.search(_entry_pattern(name), text, flags=re.M | re.S).group(0)
    entry = re.sub(r'^    version: ".*"$', f'    version: "{version}"', entry, count=1, flags=re.M)
    entry = re.sub(rf"(role: {re.escape(role)}, path: [^,]+, sha256: )[0-9a-f]+", rf"\g<1>{sha256}", entry)
    entry = re.sub(r"^    card: .*$", f"    card: {card}", entry, count=1, flags=re.M)
    entry = re.sub(r"^    # From .*\n", "", entry, flags=re.M)
    entry = re.sub(r"^    metrics: .*\n?", "", entry, flags=re.M).rstrip("\n")
    return f"{entry}\n    # {metrics_comment}\n    metrics: {metrics}\n"


def upsert_entry_text(path: Path, name: str, block: str) -> None:
    """Replace the `- name: <name>` entry of the manifest file with `block` (YAML text of one list
    item, indented as the others), or append it; the rest of the file, comments included, is kept.
    The result is validated before it is written."""
    import re

    text = Path(path).read_text(encoding="utf-8")
    block = block.rstrip("\n") + "\n"
    match = re.search(_entry_pattern(name), text, flags=re.M | re.S)
    if match:
        following = "\n" if match.end() < len(text) else ""
        text = text[:match.start()] + block + following + text[match.end():]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    Manifest.model_validate(yaml.safe_load(text))
    tmp = Path(path).with_suffix(".yaml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
