"""tfjs_codec never imports torch by itself; tfjs_codec.torch says how to install it."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_import_tfjs_codec_does_not_import_torch():
    r = _run("import sys, tfjs_codec, tfjs_codec.cli; print('torch' in sys.modules)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_import_tfjs_codec_torch_without_torch_says_how_to_install():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('No module named ' + repr(name))\n"
        "sys.meta_path.insert(0, Block())\n"
        "import tfjs_codec\n"
        "try:\n"
        "    import tfjs_codec.torch\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    r = _run(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "tfjs_codec.torch needs PyTorch, which is not installed: pip install tfjs-codec[torch]"
