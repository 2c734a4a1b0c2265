"""Make lava-nc 0.10.0 importable on Python 3.11 without editing site-packages.

lava-nc 0.10.0 declares ``Requires-Python <3.11``. On 3.11 exactly one module fails to import:
``lava.magma.compiler.var_model`` gives three dataclasses a mutable ``ByteEncoder()`` default,
which 3.11 rejects. :func:`import_lava` loads that module from Lava's own source with those
defaults rewritten to ``field(default_factory=ByteEncoder)`` and registers it in
``sys.modules`` before anything else of Lava is imported. Lava's worker processes are forked,
so they inherit the patched module.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import threading

from neurorecon.errors import NeuroreconError

_PATCHED_MODULE = "lava.magma.compiler.var_model"
_lock = threading.Lock()
_LAVA_MODULES = (
    "lava.magma.core.run_configs",
    "lava.magma.core.run_conditions",
    "lava.proc.io.source",
    "lava.proc.lif.process",
    "lava.proc.dense.process",
    "lava.proc.monitor.process",
    "lava.utils.weightutils",
    "lava.utils.loihi",
)


def _patch_var_model() -> None:
    if _PATCHED_MODULE in sys.modules:
        return
    spec = importlib.util.find_spec(_PATCHED_MODULE)
    source = spec.loader.get_source(_PATCHED_MODULE)
    source, count = re.subn(
        r":\s*ByteEncoder\s*=\s*ByteEncoder\(\)",
        ": ByteEncoder = field(default_factory=ByteEncoder)",
        source,
    )
    if count:
        source = source.replace(
            "from dataclasses import dataclass, InitVar",
            "from dataclasses import dataclass, InitVar, field",
            1,
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules[_PATCHED_MODULE] = module
    try:
        exec(compile(source, spec.origin, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[_PATCHED_MODULE]
        raise


def import_lava() -> None:
    """Import lava-nc (applying the Python 3.11 fix first) or raise a clear error."""
    with _lock:
        if importlib.util.find_spec("lava") is None:
            raise NeuroreconError(
                "the Lava backend needs lava-nc 0.10.0, which is not installed; "
                "run `make setup` (it installs lava-nc with the Python 3.11 fix)"
            )
        if sys.version_info >= (3, 11):
            _patch_var_model()
        # Import everything the backend and exports use now, in the parent process: some Lava
        # modules set the multiprocessing start method at import, which fails in a child.
        for module in _LAVA_MODULES:
            importlib.import_module(module)


def lava_loihi_available() -> bool:
    """True when Intel's Loihi runtime (lava-loihi, INRC members only) is importable.

    Uses Lava's own test, ``lava.utils.loihi.is_installed``.
    """
    import_lava()
    from lava.utils.loihi import is_installed

    return is_installed()
