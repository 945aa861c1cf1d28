"""The mixer in a real browser: `make test-browser` (after `make demo`). Not part of `make test`: the file name is
not test_*.py, so `pytest tests` does not collect it; the Makefile names it (marker: browser).

It starts play.py on the demo's runs (PLAY_RUNS, default runs) on a free port, opens the page in Debian's chromium
(driven by playwright, with chromium's own binary: nothing is downloaded), asks the fixed benign prompt greedily
with the TS-DPO vectors, types alpha_verbosity = -1 and then +1 into the slider's box (leaving the box is a slider
release: the page answers), reads the word counts from the answer table and checks -1 < +1. It saves the page as
docs/play.png (PLAY_SCREENSHOT)."""
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PROMPT = "tell me about cats ."


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def url():
    runs = Path(os.environ.get("PLAY_RUNS", ROOT / "runs")).resolve()
    if not (runs / "ts-verbosity" / "task_vector.safetensors").exists():
        pytest.fail(f"PLAY_RUNS={runs}: no demo runs there (ts-verbosity); run make demo first")
    port = free_port()  # run beside the runs folder, as `make play` does: the page names `runs`, not a full path
    cmd = ["play.py", "--runs", runs.name, "--base", f"{runs.name}/base", "--port", str(port)]
    proc = subprocess.Popen([sys.executable, str(ROOT / cmd[0]), *cmd[1:]], cwd=runs.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:  # until the page is served (or play.py ends: its one-line error is in the failure)
        lines.append(line)
        if "the mixer is at" in line:
            break
    if proc.poll() is not None:
        pytest.fail("play.py ended before serving: " + "".join(lines[-5:]))
    yield f"http://127.0.0.1:{port}/"
    proc.send_signal(signal.SIGINT)  # Ctrl-C: it stops cleanly
    out = proc.communicate(timeout=60)[0]
    assert "Traceback" not in out and "play.py: stopped" in out, out


# the answer as shown (its quote and table), or null while the page is still answering (its status tracker is up)
SHOWN = """() => { const el = document.querySelector('#answer');
  if (!el) return null;
  const busy = el.querySelector('[data-testid=status-tracker]'), table = el.querySelector('table');
  const quote = el.querySelector('blockquote');
  if ((busy && !busy.classList.contains('hide')) || !table || !quote) return null;
  return quote.innerText + '\\n' + table.innerText; }"""


def words_after(page, value, timeout_ms=120_000):
    """Type alpha_verbosity = value into the slider's box and leave it (a release); the word count it answers with."""
    before = page.evaluate(SHOWN)
    box = page.locator("#alpha-verbosity input[type=number]")
    box.fill(str(value))
    box.blur()
    page.wait_for_function(f"prev => {{ const now = ({SHOWN})(); return now !== null && now !== prev; }}",
                           arg=before, timeout=timeout_ms)
    assert page.locator("#alpha-verbosity input[type=range]").input_value() == str(value)
    table = page.locator("#answer table").first
    heads = [h.strip() for h in table.locator("th").all_inner_texts()]
    cells = [c.strip() for c in table.locator("td").all_inner_texts()]
    return int(cells[heads.index("words")]), page.locator("#answer blockquote").first.inner_text()


@pytest.mark.browser
def test_verbosity_slider_lengthens_the_answer(url):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 860})
            page.goto(url)
            page.wait_for_function(f"() => ({SHOWN})() !== null", timeout=120_000)  # the base's answer, on load
            page.get_by_label("TS-DPO (linearized)").check()
            page.locator("#prompt textarea").fill(PROMPT)
            assert page.locator("#greedy input[type=checkbox]").is_checked()
            (short, text_short), (long, text_long) = words_after(page, -1), words_after(page, 1)
            print(f"\nalpha_verbosity -1: {short} words: {text_short}\nalpha_verbosity +1: {long} words: {text_long}")
            shot = Path(os.environ.get("PLAY_SCREENSHOT", ROOT / "docs" / "play.png"))
            page.screenshot(path=str(shot), full_page=True)
            from PIL import Image  # matplotlib's own dependency: 128 colours keep the page's PNG small
            Image.open(shot).convert("RGB").quantize(colors=128).save(shot, optimize=True)
            assert short < long, (short, long)
        finally:
            browser.close()
