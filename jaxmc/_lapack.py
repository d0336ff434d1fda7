"""jaxlib's CPU LAPACK kernels, set up without importing ``scipy.linalg``.

On the CPU, jaxlib's linear-algebra kernels (``eigh``, ``qr``, ``cholesky``,
...) call LAPACK through the function pointers that SciPy's Cython modules
``scipy.linalg.cython_blas`` and ``scipy.linalg.cython_lapack`` export.
jaxlib looks them up once per process (``initialize_lapack``), the first time
it lowers such an operation, or when jaxmc loads a kept executable that calls
them (``jaxmc/_persist.py``). Importing those two modules the usual way
imports the whole ``scipy.linalg`` package first: 0.12 to 0.27 s on the
2-core development machine, against 0.01 s for the two modules alone, in the
first call of every fresh process that solves for eigenvalues.

:func:`prepare` loads the two modules from their files and lists them in
``sys.modules`` only while jaxlib reads their pointers, then takes them out
again, so that a later ``import scipy.linalg`` runs as it always does (it
finds the same module objects and sets them as the package's attributes;
tested in ``tests/test_lapack.py``). Where SciPy's linear algebra is already
imported, or anything in that path fails, it is jaxlib's own lookup.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Callable

__all__ = ["prepare", "prepare_for_cpu"]

_MODULES = ("scipy.linalg.cython_blas", "scipy.linalg.cython_lapack")
_lock = threading.Lock()
_ready = False


def prepare() -> None:
    """Sets up jaxlib's CPU LAPACK kernels once per process (idempotent).

    What lowering a linear-algebra operation would do first, without
    importing ``scipy.linalg`` where it is not imported yet.
    """
    global _ready
    if _ready:
        return
    with _lock:
        if _ready:
            return
        from jax._src.lax import linalg

        if "scipy.linalg" not in sys.modules:
            try:
                _initialize_from_files(linalg.initialize_lapack)
            except Exception:  # noqa: BLE001 (jaxlib's own lookup below)
                pass
        linalg.initialize_lapack()  # a no-op once the pointers are read
        _ready = True


def prepare_for_cpu() -> None:
    """:func:`prepare`, where the default backend is the CPU.

    Called before jaxmc's solver programs (``jaxmc._xla.jit(persist=True)``)
    are first lowered, since their ``eigh`` and ``qr`` are LAPACK's on the
    CPU; a no-op after the first call. Best effort: where it fails, lowering
    an ``eigh`` tries again and reports the error (a program without one
    needs none). A kept executable is loaded only after :func:`prepare`
    succeeded (``jaxmc/_persist.py``).
    """
    if not _ready:
        import jax

        if jax.default_backend() == "cpu":
            try:
                prepare()
            except Exception:  # noqa: BLE001 (see above)
                pass


def _initialize_from_files(initialize: Callable[[], None]) -> None:
    """Runs ``initialize`` with SciPy's two Cython modules loaded alone."""
    import scipy

    folder = [f"{path}/linalg" for path in scipy.__path__]
    added = {}
    try:
        for name in _MODULES:
            if name in sys.modules:
                continue
            spec = importlib.machinery.PathFinder.find_spec(name, folder)
            if spec is None or spec.loader is None:
                msg = f"jaxmc._lapack: {name} not found in {folder}"
                raise ImportError(msg)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = added[name] = module
            spec.loader.exec_module(module)
        initialize()
    finally:
        package = sys.modules.get("scipy.linalg")
        for name, module in added.items():
            if package is not None:  # imported meanwhile: the modules stay
                setattr(package, name.rsplit(".", 1)[1], module)
            elif sys.modules.get(name) is module:
                del sys.modules[name]
