"""Open WebUI wiring without Docker: flags, the environment it gets, pull progress, the CLI's errors."""

from __future__ import annotations

import pytest

from conftest import run_cli
from localv4.errors import UsageError
from localv4.webui.events import PullProgress
from localv4.serve.endpoint import Endpoint
from localv4.webui.settings import DEFAULT_IMAGE, load_settings, parse_mode, parse_ui_port
from localv4.webui.wiring import connection_env, desktop_url, fingerprint

# The stream a real `docker pull` of a one-layer image gave on this machine's engine (20.10).
RECORDED_PULL = [
    {"status": "Pulling from open-webui", "id": "p"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "57444aaa571e"},
    {"status": "Downloading", "progressDetail": {"current": 69213, "total": 4066030}, "id": "57444aaa571e"},
    {"status": "Verifying Checksum", "progressDetail": {}, "id": "57444aaa571e"},
    {"status": "Download complete", "progressDetail": {}, "id": "57444aaa571e"},
    {"status": "Extracting", "progressDetail": {"current": 65536, "total": 4066030}, "id": "57444aaa571e"},
    {"status": "Pull complete", "progressDetail": {}, "id": "57444aaa571e"},
    {"status": "Digest: sha256:d078755fcea9a4e7d7b0c5a4625f32bdd6e71d6f80ce74138f710bcc0ab3f714"},
    {"status": "Status: Downloaded newer image for 127.0.0.1:5999/open-webui:p"},
]


def test_unknown_mode_and_bad_ports_are_usage_errors() -> None:
    assert parse_mode(None) == "docker"
    assert parse_mode(" Native ") == "native"
    with pytest.raises(UsageError, match="unknown UI mode 'podman'"):
        parse_mode("podman")
    for bad in ("0", "65536", "abc", "-1", "30 00"):
        with pytest.raises(UsageError, match="--port must be a number from 1 to 65535"):
            parse_ui_port(bad)
    assert parse_ui_port("3001") == 3001


def test_settings_default_to_the_pinned_image_on_loopback_3000(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.image == DEFAULT_IMAGE == "ghcr.io/open-webui/open-webui:v0.12.4"
    assert (settings.port, settings.url, settings.name, settings.volume) == (
        3000, "http://127.0.0.1:3000", "localv4-webui", "localv4-webui-data")
    monkeypatch.setenv("LOCALV4_WEBUI_IMAGE", "example.org/owui:test")
    monkeypatch.setenv("LOCALV4_WEBUI_PORT", "3005")
    assert (load_settings().image, load_settings().port, load_settings(3009).port) == ("example.org/owui:test", 3005, 3009)
    monkeypatch.setenv("LOCALV4_WEBUI_NETWORK", "bridge")
    with pytest.raises(UsageError, match="LOCALV4_WEBUI_NETWORK must be one of auto, host, published"):
        load_settings()


def test_the_ui_gets_only_the_local_endpoint_with_its_key() -> None:
    upstream = Endpoint("127.0.0.1", 8484, "deepseek-v4-flash", "sk-local-123")
    env = connection_env(upstream, upstream.v1_url)
    assert env["OPENAI_API_BASE_URL"] == "http://127.0.0.1:8484/v1"
    assert env["OPENAI_API_KEY"] == "sk-local-123"
    assert env["ENABLE_OLLAMA_API"] == "False" and env["WEBUI_AUTH"] == "True"
    assert env["ENABLE_PERSISTENT_CONFIG"] == "False"  # the connection follows the endpoint on every start
    assert env["DEFAULT_MODELS"] == "deepseek-v4-flash"
    assert "OPENAI_API_KEY" not in connection_env(Endpoint("127.0.0.1", 8484), upstream.v1_url)
    assert "sk-local-123" not in repr(upstream)


def test_the_endpoint_as_each_kind_of_container_sees_it() -> None:
    assert Endpoint("0.0.0.0", 9000).v1_url == "http://127.0.0.1:9000/v1"
    assert desktop_url(Endpoint("127.0.0.1", 9000)) == "http://host.docker.internal:9000/v1"
    assert desktop_url(Endpoint("0.0.0.0", 9000)) == "http://host.docker.internal:9000/v1"
    assert desktop_url(Endpoint("127.0.0.2", 9000)) == "http://host.docker.internal:9000/v1"
    assert desktop_url(Endpoint("::1", 9000)) == "http://host.docker.internal:9000/v1"
    assert desktop_url(Endpoint("192.168.1.20", 9000)) == "http://192.168.1.20:9000/v1"
    assert Endpoint("::1", 9000).v1_url == "http://[::1]:9000/v1"


def test_a_changed_port_or_key_changes_the_fingerprint() -> None:
    def env(port: int, key: str | None) -> dict:
        upstream = Endpoint("127.0.0.1", port, api_key=key)
        return connection_env(upstream, upstream.v1_url)

    assert fingerprint(env(8484, "a")) == fingerprint(env(8484, "a"))
    assert fingerprint(env(8484, "a")) != fingerprint(env(8485, "a"))
    assert fingerprint(env(8484, "a")) != fingerprint(env(8484, "b"))


def test_pull_progress_folds_a_real_stream_into_one_byte_count() -> None:
    progress = PullProgress("127.0.0.1:5999/open-webui:p")
    events = [e for e in map(progress.update, RECORDED_PULL) if e]
    assert [e.kind for e in events] == ["pull"] * 4
    assert (events[0].completed, events[0].total) == (0, None)
    assert (events[1].completed, events[1].total) == (69213, 4066030)
    assert (events[-1].completed, events[-1].total) == (4066030, 4066030)
    assert events[-1].message == "pulling 127.0.0.1:5999/open-webui:p: 1/1 layers"


def test_cli_bad_mode_and_port_are_one_line_exit_2() -> None:
    for args, expected in (
        (["ui", "start", "--mode", "podman"], "localv4: unknown UI mode 'podman': use 'docker' or 'native'.\n"),
        (["ui", "start", "--port", "70000"], "localv4: --port must be a number from 1 to 65535 (got '70000').\n"),
        (["ui", "start", "--port", "abc"], "localv4: --port must be a number from 1 to 65535 (got 'abc').\n"),
    ):
        done = run_cli(*args)
        assert (done.returncode, done.stderr, done.stdout) == (2, expected, "")


def test_cli_without_a_running_endpoint_says_how_to_start_one() -> None:
    done = run_cli("ui", "start", "--no-open")
    assert done.returncode == 1
    assert done.stderr == "localv4: no model is running. Start one with `localv4 up`.\n"


def test_cli_status_open_stop_before_any_start() -> None:
    assert "not started" in run_cli("ui", "status").stdout
    assert '"state": "not started"' in run_cli("ui", "status", "--json").stdout
    opened = run_cli("ui", "open")
    assert (opened.returncode, opened.stderr) == (1, "localv4: Open WebUI is not running: start it with `localv4 ui start` (or `localv4 up --ui`).\n")
    stopped = run_cli("ui", "stop")
    assert (stopped.returncode, stopped.stdout) == (0, "Open WebUI was not running.\n")
