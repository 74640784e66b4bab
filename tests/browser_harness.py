"""Headless Chromium for the tests that run JavaScript libraries (ml5, Teachable Machine) on our files.

A test builds a small site (its files, the libraries' dist scripts, an HTML page that sets
``window.__result`` or ``window.__error``), serves it on 127.0.0.1 and opens the page with
Debian's ``chromium`` driven by playwright-core (``js/browser_page.mjs``).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import JS, REQUIRE_ALL, require_node

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def require_browser(*dists: Path) -> str:
    """node, after checking that Chromium, playwright-core and the page's scripts (``dists``) are installed.

    Skips (fails when ``TFJS_CODEC_REQUIRE_ALL=1``) naming what is missing and how to install it.
    """
    node = require_node()
    checks = [
        (f"chromium ({CHROMIUM}): apt-get install chromium", os.access(CHROMIUM, os.X_OK)),
        ("playwright-core in js/node_modules: cd js && npm ci", (JS / "node_modules" / "playwright-core").is_dir()),
    ]
    checks += [(f"{d.relative_to(JS)}: cd js && npm ci", d.is_file()) for d in dists]
    missing = [what for what, ok in checks if not ok]
    if missing:
        reason = "missing " + "; ".join(missing)
        if REQUIRE_ALL:
            pytest.fail(f"{reason} (TFJS_CODEC_REQUIRE_ALL=1: CI must run this test)")
        pytest.skip(reason)
    return node


class _Quiet(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        _Quiet.requests.append(format % args)


def open_in_chromium(node: str, site: Path, out: Path, page: str = "") -> dict[str, Any]:
    """Serve ``site`` on 127.0.0.1, open ``page`` (default: the directory's index) in headless Chromium.

    Returns:
        The report ``js/browser_page.mjs`` wrote: ``{"result": window.__result, "console": [...]}``.
        A page error fails the test with the page's console and the requests the server saw.
    """
    _Quiet.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{page}"  # a directory URL: ml5 resolves model_meta.json against it
        subprocess.run([node, str(JS / "browser_page.mjs"), url, str(out), "90000"], check=True, timeout=150)
    finally:
        server.shutdown()
        server.server_close()
    report = json.loads(out.read_text())
    assert "error" not in report, f"{report['error']}\n" + "\n".join(report.get("console", []) + _Quiet.requests)
    return report
