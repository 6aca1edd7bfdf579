"""The product installs and starts on its own: a fresh virtualenv, `pip install .` (no extras), `python app.py`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
import zipfile
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pymongo import MongoClient

from services.platform.storage import free_port

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 300

pytestmark = pytest.mark.install


def pip_environment() -> dict[str, str]:
    """The machine's pip configuration (indexes, wheel folders, cache), none of the bot's settings."""
    keep = ("PATH", "HOME", "TMPDIR", "LANG", "SSL_CERT_FILE")
    return {k: v for k, v in os.environ.items() if k in keep or k.startswith(("PIP_", "XDG_"))}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """What a clone holds for the product; builds happen in this copy and leave nothing in the checkout."""
    copy = tmp_path_factory.mktemp("fresh-install") / "source"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
        ".venv", ".git", "data", "tests", "sandbox", "bench", "docs", "__pycache__", "*.egg-info", "build"))
    return copy


@pytest.fixture(scope="module")
def installed(source: Path) -> Path:
    """A fresh virtualenv holding only the product and its runtime dependencies; returns its python."""
    venv = source.parent / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(source)],
                   check=True, timeout=INSTALL_TIMEOUT, env=pip_environment(), cwd=source.parent)
    return python


def test_the_package_ships_the_product_and_not_the_sandbox_or_the_tests(tmp_path):
    # Built from the checkout itself (sandbox/ and tests/ present) into a copy, so the exclusion is what is tested.
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(".venv", ".git", "data", "__pycache__", "build",
                                                                  "*.egg-info", "artifacts"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path),
                    str(checkout)], check=True, timeout=INSTALL_TIMEOUT, env=pip_environment(), cwd=tmp_path)
    (wheel,) = tmp_path.glob("*.whl")
    packages = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist() if "dist-info" not in name}
    assert packages == {"bot", "handlers", "services"}


def test_installed_without_extras_app_py_starts_with_production_settings_and_is_healthy(installed, tmp_path,
                                                                                         mongo_uri):
    port, database = free_port(), f"install_check_{uuid.uuid4().hex[:8]}"
    shutil.copy(ROOT / "app.py", tmp_path / "app.py")  # alone: every import must come from the installed package
    env = {
        **pip_environment(),
        "PORT": str(port), "HOST": "127.0.0.1", "DATA_DIR": str(tmp_path / "data"),
        "SLACK_SIGNING_SECRET": "production-signing-secret", "SLACK_BOT_TOKEN": "xoxb-production-token",
        "SLACK_API_URL": "http://127.0.0.1:9/api/", "XERO_CLIENT_ID": "production-client-id",
        "MONGODB_URI": mongo_uri, "MONGODB_DB": database, "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    process = subprocess.Popen([str(installed), "app.py"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        status = wait_for_health(f"http://127.0.0.1:{port}/healthz", process)
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=20)
        with MongoClient(mongo_uri) as client:
            client.drop_database(database)
    assert status == 200, errors
    assert "Traceback" not in errors


def wait_for_health(url: str, process: subprocess.Popen, timeout: float = 60) -> int | str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"app.py exited with code {process.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except OSError:
            time.sleep(0.2)
    return "no answer on /healthz"


def test_the_installed_product_asked_for_the_sandbox_says_it_comes_with_the_source_checkout(installed, tmp_path):
    shutil.copy(ROOT / "app.py", tmp_path / "app.py")
    result = subprocess.run([str(installed), "app.py", "--sandbox"], cwd=tmp_path, env=pip_environment(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Cannot start the sandbox" in result.stderr and "source checkout" in result.stderr
    assert "Traceback" not in result.stderr
