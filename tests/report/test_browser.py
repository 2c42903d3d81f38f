"""The report pages in headless Chromium: no console error, no network request, every image decoded,
no dialog, and hostile names from the data shown as text (not run as HTML, Markdown or script).

Drives Chromium through the DevTools protocol (websocket-client). Skips only when /usr/bin/chromium (or
`chromium` on PATH) is absent; .ci/run installs the Debian package when it is missing.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import test_report_support as support

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "",
                              shutil.which("chromium-browser") or "")
                 if p and os.path.exists(p)), None)
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install chromium)"),
    pytest.mark.skipif(not support.have_sample(), reason="data/sample has not been generated"),
]


class Browser:
    """A minimal Chrome DevTools protocol client: one page, console/log/network/dialog events recorded."""

    def __init__(self, profile: Path):
        import websocket

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--remote-allow-origins=*", f"--user-data-dir={profile}",
             "--remote-debugging-port=0", "--window-size=1200,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = self._devtools_url(timeout=60)
        self.ws = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)

    def _devtools_url(self, timeout: float) -> str:
        found: list[str] = []

        def read():
            for line in self.proc.stderr:
                m = re.search(r"DevTools listening on (ws://\S+)", line)
                if m:
                    found.append(m.group(1))
                    break
            for _ in self.proc.stderr:  # keep draining so Chromium never blocks on a full pipe
                pass

        threading.Thread(target=read, daemon=True).start()
        t0 = time.monotonic()
        while not found:
            if time.monotonic() - t0 > timeout or self.proc.poll() is not None:
                raise RuntimeError("Chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        return found[0]

    def call(self, method: str, *, session: bool = False, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._event(reply)

    def _event(self, ev: dict) -> None:
        self.events.append(ev)
        if ev.get("method") == "Page.javascriptDialogOpening":  # record, then dismiss so the page goes on
            self.next_id += 1
            self.ws.send(json.dumps({"id": self.next_id, "method": "Page.handleJavaScriptDialog",
                                     "params": {"accept": False}, "sessionId": self.session}))

    def wait_for(self, method: str, timeout: float = 60.0) -> None:
        t0 = time.monotonic()
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"{method} not seen within {timeout}s")
            self.ws.settimeout(max(0.1, timeout - (time.monotonic() - t0)))
            self._event(json.loads(self.ws.recv()))

    def drain(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.ws.settimeout(max(0.05, end - time.monotonic()))
            try:
                self._event(json.loads(self.ws.recv()))
            except Exception:  # noqa: BLE001 - timeout: nothing more arrived
                break
        self.ws.settimeout(60)

    def load(self, path: Path) -> dict:
        """Open a file and report what happened: console errors, dialogs, network requests, images, text."""
        self.events = []
        self.call("Page.navigate", session=True, url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired")
        self.drain(0.5)
        js = ("JSON.stringify({text: document.body ? document.body.innerText : '',"
              " images: Array.from(document.images).map(i => ({ok: i.complete && i.naturalWidth > 0,"
              " src: i.src.slice(0, 40)})), scripts: document.scripts.length})")
        page = json.loads(self.call("Runtime.evaluate", session=True, expression=js, returnByValue=True)
                          ["result"]["value"])
        errors = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
            elif m == "Runtime.exceptionThrown":
                errors.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:300])
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                errors.append("log: " + p["entry"].get("text", "")[:300])
        requests = [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"
                    and not e["params"]["request"]["url"].startswith(("file:", "data:", "about:"))]
        dialogs = [e["params"].get("message") for e in self.events if e.get("method") == "Page.javascriptDialogOpening"]
        return {"errors": errors, "requests": requests, "dialogs": dialogs, **page}

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except Exception:  # noqa: BLE001
            pass
        try:
            self.ws.close()
        finally:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("chromium_profile"))
    yield b
    b.close()


def _pages(result) -> list[Path]:
    return [result.out_dir / "index.html"] + [r.html for r in result.runs if r.html]


def _check_clean(seen: dict, page: Path) -> None:
    assert seen["dialogs"] == [], f"{page.name}: a dialog fired: {seen['dialogs']}"
    assert seen["errors"] == [], f"{page.name}: console errors: {seen['errors']}"
    assert seen["requests"] == [], f"{page.name}: network requests: {seen['requests']}"
    bad = [i["src"] for i in seen["images"] if not i["ok"]]
    assert bad == [], f"{page.name}: images not decoded: {bad}"
    assert seen["scripts"] == 0, f"{page.name}: has {seen['scripts']} script elements"


@pytest.mark.slow
def test_sample_report_pages_load_clean(browser, tmp_path_factory):
    result = support.sample_report(tmp_path_factory)
    pages = _pages(result)
    assert len(pages) == 1 + len(result.runs)
    images = 0
    for page in pages:
        seen = browser.load(page)
        _check_clean(seen, page)
        images += len(seen["images"])
        assert seen["text"].strip(), f"{page.name} is blank"
    ok_runs = [r for r in result.runs if r.status == "ok"]
    if ok_runs:  # the topic notebooks draw charts: they must reach the page as decoded images
        assert images > 0


@pytest.mark.slow
def test_hostile_names_are_shown_as_text_and_nothing_runs(browser, tmp_path_factory):
    result = support.hostile_report(tmp_path_factory)
    by = {r.notebook: r for r in result.runs}
    assert by["90_probe"].status == "ok", by["90_probe"].error
    assert by["91_fails"].status == "failed" and support.HOSTILE[0] in by["91_fails"].error
    for page in _pages(result):
        seen = browser.load(page)
        _check_clean(seen, page)
        if page.name in ("index.html", "90_probe.html"):
            for name in support.HOSTILE:
                assert name in seen["text"], f"{page.name}: {name!r} is not visible as text"
        if page.name in ("index.html", "91_fails.html"):  # the failing cell's hostile message, as text
            assert support.HOSTILE[0] in seen["text"] and support.HOSTILE[1] in seen["text"]
        if page.name == "index.html":
            browser.screenshot(ARTIFACTS / "report_index_hostile.png")
    assert (ARTIFACTS / "report_index_hostile.png").stat().st_size > 1000


@pytest.mark.slow
def test_chinese_management_report_with_missing_tables_loads_clean(browser, tmp_path_factory):
    _, _, out = support.opportunities_only_report(tmp_path_factory)  # exit code: test_report_e2e's business
    pages = [out / "index.html"] + sorted(out.glob("[0-9][0-9]_*.html"))
    for page in pages:
        seen = browser.load(page)
        _check_clean(seen, page)
        assert seen["text"].strip(), f"{page.name} is blank"
    assert "核心指标" in browser.load(out / "index.html")["text"]


@pytest.mark.slow
def test_index_screenshot_of_sample_report(browser, tmp_path_factory):
    result = support.sample_report(tmp_path_factory)
    browser.load(result.out_dir / "index.html")
    browser.screenshot(ARTIFACTS / "report_index.png")
    assert (ARTIFACTS / "report_index.png").stat().st_size > 1000
