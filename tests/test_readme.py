"""Every fenced ```python block of README.md and of docs/*.md runs as written.

Each block runs on its own (a fresh namespace: a block imports what it uses) in
a temporary working directory holding a copy of ``fixtures/``, so the paths the
README names resolve and whatever a block writes lands in that directory. URLs
of ``https://example.com/models/`` are served from the fixtures by a server on
127.0.0.1 started here; the download cache goes to the temporary directory too.
Blocks that use torch skip without it (and fail under TFJS_CODEC_REQUIRE_ALL=1).
Snippets that are not meant to run are fenced ```text, ```sh or ```js.
"""

from __future__ import annotations

import contextlib
import functools
import re
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, require_torch

README = ROOT / "README.md"
#: The pages whose blocks run: the front page and every page of docs/.
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

#: Where the README's URL examples point; served from the fixtures directory.
EXAMPLE_BASE = "https://example.com/models/"

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line number, code)`` of every ```python block."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _FENCE.finditer(text)]


BLOCKS = [(page, line, code) for page in PAGES for line, code in python_blocks(page.read_text(encoding="utf-8"))]


def test_the_readme_has_python_blocks_and_the_harness_finds_them():
    assert sum(page == README for page, _, _ in BLOCKS) >= 3
    assert len({page for page, _, _ in BLOCKS}) >= 5  # docs pages too
    sample = "x\n```python\nprint(1)\n```\n```text\nno\n```\n```python\n\nprint(2)\n```\n"
    assert python_blocks(sample) == [(2, "print(1)\n"), (8, "\nprint(2)\n")]


@pytest.fixture(scope="module")
def fixtures_copy(tmp_path_factory) -> Path:
    """One copy of fixtures/ for all blocks (a block must never write into the repository)."""
    root = tmp_path_factory.mktemp("readme_fixtures")
    shutil.copytree(FIXTURES, root / "fixtures", symlinks=True)
    return root / "fixtures"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize(
    "page, line, code", BLOCKS, ids=[f"{page.relative_to(ROOT).as_posix()}:{line}" for page, line, _ in BLOCKS]
)
def test_readme_block_runs(page, line, code, fixtures_copy, tmp_path, monkeypatch):
    if re.search(r"^\s*(import torch\b|from tfjs_codec import torch\b|import tfjs_codec\.torch\b)", code, re.M):
        require_torch()
    work = tmp_path / "work"
    work.mkdir()
    (work / "fixtures").symlink_to(fixtures_copy, target_is_directory=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("TFJS_CODEC_CACHE", str(tmp_path / "cache"))
    with serve(fixtures_copy) as base:
        source = code.replace(EXAMPLE_BASE, base)
        exec(compile(source, f"{page}:{line}", "exec"), {"__name__": "__readme__"})  # noqa: S102 (the README's own code)
