"""Headless Chromium over the DevTools protocol: open a page, record requests and console errors,
check images, take a screenshot, print to PDF. Used by `genlab report --pdf` and the report test.

Needs Debian's `chromium` (or $CHROMIUM) and the `websocket-client` package. Chromium is started with
background networking off and a fresh profile, so the only requests are the page's own.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from genlab.core.errors import GenlabError

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
]


def chromium_path() -> str:
    for cand in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if cand and shutil.which(cand):
            return shutil.which(cand)
    raise GenlabError("headless Chromium not found; install it (Debian: apt-get install chromium) or set CHROMIUM")


@dataclass
class PageVisit:
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    images_total: int = 0
    images_broken: list[str] = field(default_factory=list)


class Browser:
    """One headless Chromium with one tab, driven over CDP."""

    def __init__(self):
        import websocket  # websocket-client

        self.profile = tempfile.mkdtemp(prefix="genlab-chromium-")
        self.proc = subprocess.Popen(
            [chromium_path(), *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.time() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.time() > deadline or self.proc.poll() is not None:
                self.close()
                raise GenlabError("headless Chromium did not start; check 'chromium --headless' works here")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def visit(self, url: str, settle_s: float = 1.0) -> PageVisit:
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=1200, height=900, deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=url)
        deadline = time.time() + 60
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events) and time.time() < deadline:
            self.events.append(json.loads(self.ws.recv()))
        time.sleep(settle_s)
        images = self.call(
            "Runtime.evaluate",
            returnByValue=True,
            expression=(
                "Array.from(document.images).map(i => [i.currentSrc.slice(0, 80), i.complete && i.naturalWidth > 0])"
            ),
        )["result"]["value"]
        self.call("Runtime.evaluate", expression="1")  # drain pending events
        visit = PageVisit(images_total=len(images), images_broken=[src for src, ok in images if not ok])
        for ev in self.events:
            method, p = ev.get("method"), ev.get("params", {})
            if method == "Network.requestWillBeSent":
                visit.requests.append(p["request"]["url"][:120])
            elif method == "Runtime.exceptionThrown":
                visit.console_errors.append(p["exceptionDetails"].get("text", "exception"))
            elif method == "Runtime.consoleAPICalled" and p.get("type") == "error":
                visit.console_errors.append(str(p.get("args")))
            elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
                visit.console_errors.append(p["entry"].get("text", ""))
        return visit

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        params = {"format": "png", "captureBeyondViewport": full_page}
        if full_page:
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 16000), "scale": 1}
        data = self.call("Page.captureScreenshot", **params)["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def pdf(self, path: Path) -> Path:
        data = self.call("Page.printToPDF", printBackground=True, preferCSSPageSize=False)["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        with contextlib.suppress(Exception):
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def check_pdf_support() -> None:
    """One line naming what to install when --pdf cannot work here (checked before anything is written)."""
    try:
        import websocket  # noqa: F401  (websocket-client)
    except ImportError:
        raise GenlabError(
            "--pdf needs the websocket-client package: pip install 'genlab[pdf]' (and a Chromium browser)"
        ) from None
    chromium_path()


def html_to_pdf(html_path: Path, pdf_path: Path) -> Path:
    """Print an HTML file to PDF with headless Chromium (images and backgrounds included)."""
    from genlab.store.runs import atomic_write

    check_pdf_support()
    with Browser() as b:
        b.visit(Path(html_path).resolve().as_uri())
        tmp = Path(pdf_path).with_suffix(".pdf.part")
        b.pdf(tmp)
        atomic_write(Path(pdf_path), tmp.read_bytes())
        tmp.unlink()
    return Path(pdf_path)
