"""What an operator sees: health, logs without secrets, start-up messages."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from bot.logging_setup import KeyValueFormatter, Redactor
from services.platform.storage import Storage, free_port
from tests.support.xero_identity import connect_organisations

ROOT = Path(__file__).resolve().parents[2]


async def test_healthz_answers_200_when_the_database_is_reachable(bot):
    response = await bot.client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["database"] == "reachable"


async def test_healthz_answers_503_when_the_database_is_not(bot):
    unreachable = Storage("mongodb://127.0.0.1:9", "x", timeout_ms=200)
    bot.container.storage = unreachable
    response = await bot.client.get("/healthz")
    assert response.status == 503
    await unreachable.close()


def test_json_log_lines_carry_the_event_and_its_fields():
    import json

    from bot.logging_setup import JsonFormatter

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "command", None, None)
    record.fields = {"team": "T1", "user": "U1", "subcommand": "list"}
    line = json.loads(JsonFormatter().format(record))
    assert line["event"] == "command" and line["team"] == "T1" and line["subcommand"] == "list"


def test_redactor_masks_tokens_whatever_the_message():
    redactor = Redactor(["my-signing-secret"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1,
                               "sent xoxb-123-abc with Bearer eyJhbGciOi and refresh_token=abc123 my-signing-secret",
                               None, None)
    redactor.filter(record)
    line = KeyValueFormatter().format(record)
    for secret in ("xoxb-123-abc", "eyJhbGciOi", "abc123", "my-signing-secret"):
        assert secret not in line


async def test_a_whole_connect_flow_logs_no_token(bot, xero, caplog):
    caplog.set_level(logging.DEBUG)
    await connect_organisations(bot, xero)
    await bot.ask("list")
    logged = "\n".join(r.getMessage() + str(getattr(r, "fields", "")) for r in caplog.records)
    assert "command" in logged and "consent.completed" in logged
    for secret in ("access-token-1-secret", "refresh-token-1-secret", "test-client-secret-0000",
                   "test-signing-secret-0000", "xoxb-test-bot-token-0000"):
        assert secret not in logged


def run_app(env: dict, *args: str) -> subprocess.CompletedProcess:
    clean = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", **env}
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], env=clean, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_missing_settings_are_named_with_their_purpose_and_no_traceback():
    result = run_app({"SLACK_SIGNING_SECRET": "set", "SLACK_BOT_TOKEN": "", "XERO_CLIENT_ID": "",
                      "MONGODB_URI": "mongodb://127.0.0.1:9"})
    assert result.returncode != 0
    assert "SLACK_BOT_TOKEN" in result.stderr and "Bot User OAuth Token" in result.stderr
    assert "XERO_CLIENT_ID" in result.stderr and "TOKEN_ENCRYPTION_KEY" in result.stderr
    assert "SLACK_SIGNING_SECRET:" not in result.stderr
    assert "manifest.yml" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_mongodb_stops_start_up_naming_the_uri_without_password():
    result = run_app({"SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "xoxb-1", "XERO_CLIENT_ID": "c",
                      "MONGODB_URI": "mongodb://bot:hunter2@127.0.0.1:9/x?serverSelectionTimeoutMS=300",
                      "TOKEN_ENCRYPTION_KEY": "x" * 43 + "="})
    assert result.returncode == 1
    assert "mongodb://bot:***@127.0.0.1:9" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def start_app(tmp_path, *args: str) -> tuple[subprocess.Popen, str]:
    """Starts app.py and returns once it printed the URL to open."""
    bot_port, sandbox_port = free_port(), free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "DATA_DIR": str(tmp_path), "PORT": str(bot_port)}
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--sandbox-port", str(sandbox_port), *args],
                               env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in process.stdout:  # returns as soon as the banner is printed
            lines.append(line)
            if "Open http" in line:
                break
    except BaseException:
        process.kill()
        raise
    return process, "".join(lines) + f"\nsandbox_port={sandbox_port}"


def stop_app(process: subprocess.Popen) -> str:
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    process.terminate()
    process.wait(timeout=10)
    for pid in children:  # the embedded database stops with the bot
        assert not still_running(pid), "nx-27017 left running"
    return process.stderr.read()


def still_running(pid: str) -> bool:
    """Alive and not a zombie (an exited child that init here may never reap)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def test_without_slack_settings_make_run_starts_the_sandbox_and_prints_one_url(tmp_path):
    process, printed = start_app(tmp_path)
    sandbox_port = printed.rsplit("sandbox_port=", 1)[1]
    assert f"Open http://127.0.0.1:{sandbox_port}/" in printed
    assert (tmp_path / "sandbox" / "bot.db").exists()
    assert "Traceback" not in stop_app(process)


def test_reset_starts_the_sandbox_afresh(tmp_path):
    old = tmp_path / "sandbox" / "slack"
    old.mkdir(parents=True)
    (old / "left-over.json").write_text("{}")
    process, printed = start_app(tmp_path, "--reset")
    assert "Open http" in printed
    assert not (old / "left-over.json").exists()
    stop_app(process)
