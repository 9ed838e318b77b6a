"""Connecting to Ray: an existing cluster by address, or a local instance on loopback only."""

from __future__ import annotations

import os

from ray_apps import RayUnavailable, require_ray

# Ray on Linux advertises the machine's network address even for a one-machine instance; with
# this set (as Ray does itself on macOS and Windows) a local instance listens and talks on
# 127.0.0.1 only.
_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
# Serve's HTTP proxy answers its own errors (overload) in the contract's JSON (ray_apps/proxy_errors.py);
# read by the proxy process, which inherits the environment of the instance started here.
_PROXY_CALLBACK_ENV = "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"
LOCAL_OBJECT_STORE_BYTES = 512 * 1024 * 1024  # what moves through it is part specs and counts


def start_local(num_cpus: int | None = None, object_store_bytes: int = LOCAL_OBJECT_STORE_BYTES) -> None:
    """Start a Ray instance on this machine, reachable on loopback only, without the dashboard;
    Serve's proxy there answers its own errors with the contract's body (ray_apps/proxy_errors.py)."""
    ray = require_ray()
    from ray._private import ray_constants

    from ray_apps.proxy_errors import CALLBACK

    os.environ.setdefault(_PROXY_CALLBACK_ENV, CALLBACK)  # kept: processes started later read it too
    previous_env, previous_flag = os.environ.get(_LOOPBACK_ENV), getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[_LOOPBACK_ENV] = "0"  # for the raylet, GCS and agents this starts
    ray_constants.ENABLE_RAY_CLUSTER = False  # for this process (read when ray was imported)
    try:
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                 object_store_memory=object_store_bytes, log_to_driver=False)
    except Exception as error:  # noqa: BLE001 - any failure to start means "no Ray here"
        raise RayUnavailable(f"could not start a local Ray instance: {error}") from error
    finally:
        if previous_env is None:
            os.environ.pop(_LOOPBACK_ENV, None)
        else:
            os.environ[_LOOPBACK_ENV] = previous_env
        if previous_flag is not None:
            ray_constants.ENABLE_RAY_CLUSTER = previous_flag


def connect(address: str | None = None, num_cpus: int | None = None) -> str:
    """Use the Ray instance this process is already connected to ("existing"); else connect to
    `address` (or `RAY_ADDRESS`, e.g. "auto" or "ray://head:10001") ("connected"); else start a
    local one ("local"). Unless "existing", the caller should `ray.shutdown()` when done."""
    ray = require_ray()
    if ray.is_initialized():
        return "existing"
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        try:
            ray.init(address=address, log_to_driver=False)
        except Exception as error:  # noqa: BLE001
            raise RayUnavailable(f"could not connect to the Ray cluster at {address}: {error}") from error
        return "connected"
    start_local(num_cpus)
    return "local"


def cluster_cpus() -> float:
    ray = require_ray()
    return float(ray.cluster_resources().get("CPU", 0.0))
