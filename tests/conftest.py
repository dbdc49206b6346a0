"""Test configuration: strict JAX, a key fixture, and a multi-device subprocess runner."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def key() -> jax.Array:
    """A fresh, fixed PRNG key for each test."""
    return jax.random.key(0)


def run_with_devices(code: str, n_devices: int = 4, timeout: float = 300) -> str:
    """Runs ``code`` in a fresh Python with ``n_devices`` host (CPU) devices; returns stdout.

    Sharding code is tested on CPU this way: XLA_FLAGS must be set before jax is imported, so the
    code runs in a subprocess. Raises AssertionError with the subprocess's output if it fails.
    """
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n_devices}"
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(f"subprocess failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@pytest.fixture
def multi_device():
    """Fixture form of :func:`run_with_devices`."""
    return run_with_devices
