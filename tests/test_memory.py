"""The malloc-arena cap (quality.memory) is applied by the service and refuses what it cannot do."""

from __future__ import annotations

import platform

import pytest

from quality.memory import limit_malloc_arenas
from quality.settings import Settings

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt(M_ARENA_MAX) is glibc's")


def test_zero_leaves_the_default():
    assert limit_malloc_arenas(0) is False


@glibc
def test_glibc_takes_the_cap():
    assert limit_malloc_arenas(Settings().malloc_arenas) is True


@glibc
def test_the_service_caps_the_arenas_from_settings(service):
    assert service.settings.malloc_arenas == 2
    assert service.malloc_arenas_limited is True


def test_the_setting_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("QUALITY_MALLOC_ARENAS", "0")
    assert Settings().malloc_arenas == 0
    monkeypatch.setenv("QUALITY_MALLOC_ARENAS", "-1")
    with pytest.raises(ValueError):
        Settings()
