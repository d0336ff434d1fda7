"""The spectrum algorithms' compiled programs, for tests that read XLA's analyses
or count XLA compilations."""

import contextlib

import jax

from jaxmc.spectrum import _loops

_EVENT = "/jax/core/compile/backend_compile_duration"
_NAMES: list[str] = []


def _listener(event, duration, fun_name=None, **kwargs):
    if event == _EVENT:
        _NAMES.append(fun_name)


jax.monitoring.register_event_duration_secs_listener(_listener)


class Compiles(list):
    """``[count]`` of the compilations in a block, and ``names``, their functions'."""

    names: list[str]


@contextlib.contextmanager
def count_compiles():
    """Yields a one-element list holding the compilations so far in the block.

    Its ``names`` lists the compiled functions' names, in order.
    """
    out = Compiles([0])
    out.names = []
    start = len(_NAMES)
    try:
        yield out
    finally:
        out.names = _NAMES[start:]
        out[0] = len(out.names)


def compile_core(core, op, *args, **static):
    """``core``'s program for ``op``, as ``_loops.call_compiled`` runs it, compiled.

    Args:
      core: an algorithm's core, ``core(factory, dynamic, *args, **static)``.
      op: the operator (its factory, dynamic arrays and vector sharding).
      *args: the core's array arguments.
      **static: the core's static options.

    Returns:
      The ``jax.stages.Compiled`` program (``memory_analysis()``, ``as_text()``),
      called as ``compiled(op.dynamic, *args)``.
    """
    layout = getattr(op, "vector_sharding", None)
    jitted = _loops._jitted(core, tuple(sorted(static)))
    lowered = jitted.lower(
        op.factory, op.dynamic, *args, _layout=layout, _bar=None, **static
    )
    return lowered.compile()


def compile_eigen(op, key, *, k, m, check_multiplicity):
    """``eigenvalues``' program for ``op`` (``k`` pairs, basis ``m``), compiled.

    Called as ``compiled(op.dynamic, key, cold_start(op))``; its outputs are
    those of ``_eigen._eigen_core`` (values, vectors, residuals, converged, ...).
    """
    from jaxmc.spectrum import _eigen

    static = _eigen.eigen_options("t", op.size, op.dtype, k, "largest", None, None, m)
    return compile_core(
        _eigen._eigen_core,
        op,
        key,
        cold_start(op),
        check_multiplicity=check_multiplicity,
        **static,
    )


def cold_start(op):
    """The ``start`` argument of ``eigenvalues``' program for a cold start."""
    from jaxmc.spectrum import _eigen

    return _eigen._warm_start(op, None, "none")
