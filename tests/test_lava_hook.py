"""The Python 3.11 import fix for lava-nc 0.10.0 (SPEC section 8)."""

import hashlib
import importlib.util
import subprocess
import sys


def test_lava_imports_through_the_hook_without_editing_site_packages():
    origin = importlib.util.find_spec("lava.magma.compiler.var_model").origin
    before = hashlib.sha256(open(origin, "rb").read()).hexdigest()
    code = (
        "from neurorecon.simulate.lava_backend import import_lava; import_lava();"
        "import dataclasses, lava.magma.compiler.var_model as vm;"
        "print(dataclasses.fields(vm.CoreEncoder)[0].default_factory.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ByteEncoder"
    assert hashlib.sha256(open(origin, "rb").read()).hexdigest() == before


def test_plain_lava_import_fails_on_this_python_without_the_hook():
    """Proves the hook is needed (and so that the test above tests something)."""
    code = "import lava.magma.compiler.var_model"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if sys.version_info >= (3, 11):
        assert out.returncode != 0 and "mutable default" in out.stderr
