"""The spectrum algorithms' compiled programs, for tests that read XLA's analyses."""

from jaxmc.spectrum import _loops


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
