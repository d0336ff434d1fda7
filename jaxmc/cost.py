r"""The cost of automatic differentiation: modes compared, chosen, and capped.

For ``f: R^n -> R^m`` with Jacobian ``J`` (``m x n``):

- a JVP ``v -> J v`` (forward mode) costs a small multiple of ``f``;
- a VJP ``u -> u^T J`` (reverse mode) costs a small multiple of ``f`` too, but
  stores the forward pass's intermediates (the residuals) for the way back;
- the dense Jacobian needs ``n`` JVPs (``jax.jacfwd``) or ``m`` VJPs
  (``jax.jacrev``), so forward mode wins for tall Jacobians (``m > n``) and
  reverse mode for wide ones (``n > m``); a gradient (``m = 1``) costs a small
  multiple of ``f`` whatever ``n`` is;
- the dense Hessian of a scalar ``f`` needs ``n`` Hessian-vector products (HVPs),
  each the derivative of the gradient in one direction: forward-over-reverse
  (``jax.jacfwd(jax.jacrev(f))``, what ``jax.hessian`` does),
  reverse-over-forward, or reverse-over-reverse.

:func:`cost_report` measures all of these for one function: XLA's FLOPs and
bytes accessed, the compiled peak temporary memory, the compile time and the
wall time, each also as a ratio to ``f`` itself. :func:`choose_mode` picks
forward or reverse mode for a dense Jacobian. :func:`hessian` builds a dense
Hessian a block of HVPs at a time, so its memory stays bounded, optionally
choosing the block size from XLA's memory analysis to fit a byte limit.

Layout: dense derivatives follow JAX's convention, output axes first then input
axes (a Hessian of ``x`` with shape ``s`` has shape ``s + s``).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks, _memory
from jaxmc._chunked import (
    HESSIAN_MODES,
    JACOBIAN_MODES,
    blocked,
    check_argnums,
    check_chunking,
    size_rule,
    split_argument,
)
from jaxmc._compiled import compile_abstract, cost_figures, memory_figures

__all__ = [
    "MODES",
    "CostReport",
    "CostRow",
    "choose_mode",
    "cost_report",
    "dense_jacobian",
    "hessian",
]

#: Every mode :func:`cost_report` knows, in the order it reports them.
MODES = (
    "f",
    "jvp",
    "vjp",
    "grad",
    "jacfwd",
    "jacrev",
    "hessian_fwd_rev",
    "hessian_rev_fwd",
    "hessian_rev_rev",
    "hvp",
)
_SCALAR_ONLY = ("grad", "hessian_fwd_rev", "hessian_rev_fwd", "hessian_rev_rev", "hvp")
_FIELDS = ("flops", "bytes_accessed", "temp_bytes", "compile_s", "time_s")
# Refinement compiles both modes only when the sizes are this close.
_REFINE_WITHIN = 8.0


# ------------------------------------------------------------------ the report


class CostRow(NamedTuple):
    """One mode's measured cost; ``None`` where XLA gives no figure.

    Attributes:
        mode: one of :data:`MODES`.
        flops: XLA's FLOP count of the compiled program.
        bytes_accessed: XLA's estimate of bytes read and written.
        temp_bytes: temporary buffer bytes from the compiled memory analysis.
        peak_bytes: arguments + outputs + temporaries (bytes held at once).
        compile_s: seconds to lower and compile.
        time_s: median wall time of one call (seconds), after a warm-up call;
            fast programs are called repeatedly within each sample.
    """

    mode: str
    flops: float | None
    bytes_accessed: float | None
    temp_bytes: int | None
    peak_bytes: int | None
    compile_s: float
    time_s: float


def _fmt_num(x: float | None) -> str:
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    exp = int(math.floor(math.log10(abs(x)) / 3))
    exp = max(0, min(exp, 4))
    return f"{x / 10 ** (3 * exp):.3g}{['', 'k', 'M', 'G', 'T'][exp]}"


def _fmt_bytes(x: float | None) -> str:
    if x is None:
        return "n/a"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if x >= scale:
            v = x / scale
            return f"{v:.0f} {unit}" if v >= 100 else f"{v:.3g} {unit}"
    return f"{int(x)} B"


def _fmt_seconds(t: float) -> str:
    if t >= 1.0:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.1f} us"


def _fmt_ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}x"


@dataclasses.dataclass(frozen=True)
class CostReport:
    """The cost of ``f`` and of its derivatives, one :class:`CostRow` per mode.

    Attributes:
        rows: the measured modes, ``f`` first.
        notes: why requested modes were skipped or figures are missing.
        in_shape: shape of the differentiated argument.
        out_shape: shape of ``f``'s output.
        backend: the JAX backend measured on.
        repeats: how many timed calls each median is over.
    """

    rows: tuple[CostRow, ...]
    notes: tuple[str, ...]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    backend: str
    repeats: int

    def row(self, mode: str) -> CostRow:
        """The row of ``mode``; KeyError if it was not measured."""
        for r in self.rows:
            if r.mode == mode:
                return r
        raise KeyError(f"jaxmc.cost.CostReport: no row for mode {mode!r}")

    @property
    def modes(self) -> tuple[str, ...]:
        """The modes measured, in order."""
        return tuple(r.mode for r in self.rows)

    def ratio(self, mode: str, field: str) -> float | None:
        """``field`` of ``mode`` divided by the same figure for ``f``, or None."""
        num, den = getattr(self.row(mode), field), getattr(self.row("f"), field)
        if num is None or den is None or den <= 0:
            return None
        return num / den

    def to_dict(self) -> dict[str, Any]:
        """Plain Python data: figures and ratios per mode, notes, shapes."""
        rows = []
        for r in self.rows:
            d = r._asdict()
            d["ratios"] = {k: self.ratio(r.mode, k) for k in _FIELDS}
            rows.append(d)
        return {
            "in_shape": list(self.in_shape),
            "out_shape": list(self.out_shape),
            "backend": self.backend,
            "repeats": self.repeats,
            "rows": rows,
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        head = [
            "mode",
            "FLOPs",
            "(x f)",
            "bytes",
            "(x f)",
            "temp mem",
            "(x f)",
            "compile",
            "time",
            "(x f)",
        ]
        body = []
        for r in self.rows:
            body.append(
                [
                    r.mode,
                    _fmt_num(r.flops),
                    _fmt_ratio(self.ratio(r.mode, "flops")),
                    _fmt_bytes(r.bytes_accessed),
                    _fmt_ratio(self.ratio(r.mode, "bytes_accessed")),
                    _fmt_bytes(r.temp_bytes),
                    _fmt_ratio(self.ratio(r.mode, "temp_bytes")),
                    _fmt_seconds(r.compile_s),
                    _fmt_seconds(r.time_s),
                    _fmt_ratio(self.ratio(r.mode, "time_s")),
                ]
            )
        widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()

        out = [
            f"cost of f: {self.in_shape} -> {self.out_shape} on {self.backend}, "
            f"median of {self.repeats}",
            line(head),
            line(["-" * w for w in widths]),
            *[line(b) for b in body],
        ]
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)

    def __repr__(self) -> str:
        return (
            f"CostReport(in_shape={self.in_shape}, out_shape={self.out_shape}, "
            f"modes={self.modes}, backend={self.backend!r})"
        )


def _mode_function(mode: str, g: Callable[[jax.Array], Any]) -> Callable[..., Any]:
    """The program for one mode, as a function of (x, extra direction)."""
    if mode == "f":
        return lambda x, _: g(x)
    if mode == "jvp":
        return lambda x, v: jax.jvp(g, (x,), (v,))[1]
    if mode == "vjp":
        return lambda x, u: jax.vjp(g, x)[1](u)[0]
    if mode == "grad":
        return lambda x, _: jax.grad(g)(x)
    if mode == "jacfwd":
        return lambda x, _: jax.jacfwd(g)(x)
    if mode == "jacrev":
        return lambda x, _: jax.jacrev(g)(x)
    if mode == "hessian_fwd_rev":
        return lambda x, _: jax.jacfwd(jax.jacrev(g))(x)
    if mode == "hessian_rev_fwd":
        return lambda x, _: jax.jacrev(jax.jacfwd(g))(x)
    if mode == "hessian_rev_rev":
        return lambda x, _: jax.jacrev(jax.jacrev(g))(x)
    # "hvp": forward-over-reverse Hessian-vector product.
    return lambda x, v: jax.jvp(jax.grad(g), (x,), (v,))[1]


def _measure(
    mode: str, g: Callable[[jax.Array], Any], x: jax.Array, d: jax.Array, repeats: int
) -> CostRow:
    prog = _mode_function(mode, g)
    compiled, compile_s = compile_abstract(prog, [x, d])
    flops, nbytes = cost_figures(compiled)
    temp, peak = memory_figures(compiled)
    (t,) = _paired_times([compiled], x, d, rounds=repeats)
    return CostRow(mode, flops, nbytes, temp, peak, compile_s, t)


def cost_report(
    f: Callable[..., Any],
    /,
    *args: Any,
    argnums: int = 0,
    modes: Sequence[str] | None = None,
    repeats: int = 5,
) -> CostReport:
    r"""Measures f and its derivatives: FLOPs, bytes, memory, compile and run time.

    Each mode is compiled on its own with ``jax.jit(...).lower(...).compile()``;
    its FLOPs and bytes accessed come from XLA's ``cost_analysis()``, its
    temporary and peak memory from ``memory_analysis()``, and its time is the
    median of ``repeats`` samples (after a warm-up call), each sample the mean
    of enough calls (with ``block_until_ready``) to last about 2 ms.
    Every figure is also given as a ratio to ``f`` itself. The modes, for the
    argument ``x = args[argnums]`` (size ``n``) and ``y = f(x)`` (size ``m``):

    ========================  ================================================
    ``f``                     ``f(x)``
    ``jvp`` / ``vjp``         ``J v`` / ``u^T J`` (``v``, ``u`` all ones)
    ``grad``                  ``\nabla f(x)`` (scalar ``f`` only)
    ``jacfwd`` / ``jacrev``   the dense ``m x n`` Jacobian by ``n`` JVPs / ``m``
                              VJPs
    ``hessian_fwd_rev``       ``jacfwd(jacrev(f))`` (what ``jax.hessian`` does)
    ``hessian_rev_fwd``       ``jacrev(jacfwd(f))``
    ``hessian_rev_rev``       ``jacrev(jacrev(f))``
    ``hvp``                   ``H v`` by forward-over-reverse
    ========================  ================================================

    The Hessian modes, ``grad`` and ``hvp`` need a scalar ``f``; for other ``f``
    they are skipped with a note. XLA's analyses are best-effort: a figure the
    backend does not provide (missing, ``-1``) is ``None`` (printed ``n/a``) and
    the timing still stands. XLA counts a loop's body once, so FLOPs of ``f``
    with ``lax.scan``/``fori_loop`` inside are per iteration.

    This function compiles and times, so call it eagerly (not under ``jax.jit``).

    Args:
        f: the function; its output must be one array.
        *args: its arguments (arrays; non-array arguments are held fixed).
        argnums: which positional argument to differentiate (an int).
        modes: the modes to measure, a subset of :data:`MODES` (default: all);
            ``"f"`` is always measured, as the reference for the ratios.
        repeats: timed samples per mode (the median is reported), at least 1.

    Returns:
        A :class:`CostReport`: ``str(report)`` is a table, ``report.to_dict()``
        plain data, ``report.ratio(mode, field)`` one ratio to ``f``.

    Raises:
        TypeError: if ``f`` is not callable, ``x`` is not a floating array, an
            argument is traced, ``modes`` is not a sequence of names, or ``f``
            does not return one array.
        ValueError: for an unknown mode, ``repeats < 1``, a bad ``argnums``,
            an ``x`` with no entries, or ``f`` raising on the arguments (its
            error is quoted).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmc.cost import cost_report
        >>> r = cost_report(lambda x: jnp.sum(x**2), jnp.ones(3),
        ...                 modes=["grad", "jacrev"], repeats=1)
        >>> r.modes
        ('f', 'grad', 'jacrev')
    """
    fn = "jaxmc.cost.cost_report"
    _checks.check_callable(fn, "f", f)
    argnums = check_argnums(fn, argnums)
    repeats = _checks.static_int(fn, "repeats", repeats, minimum=1)
    if modes is None:
        modes = MODES
    if isinstance(modes, str):
        modes = (modes,)
    if not isinstance(modes, Sequence | set | frozenset):
        msg = (
            f"{fn}: argument `modes` must be a mode name or a sequence of them "
            f"(from {', '.join(MODES)}); got {type(modes).__name__} {modes!r:.60}."
        )
        raise TypeError(msg)
    for i, mode in enumerate(modes):
        _checks.check_one_of(fn, f"modes[{i}]", mode, MODES)
    if not _checks.is_concrete(args):
        msg = (
            f"{fn}: the arguments must be concrete arrays, because the report "
            f"compiles and times the function; got traced values. Call "
            f"cost_report outside jax.jit / jax.vmap."
        )
        raise TypeError(msg)
    x, g = split_argument(fn, f, args, argnums)
    xf = x.reshape(-1)
    out = jax.eval_shape(g, xf)
    if not (hasattr(out, "shape") and hasattr(out, "dtype")):
        msg = f"{fn}: `f` must return one array; got {type(out).__name__}."
        raise TypeError(msg)
    out_shape = tuple(out.shape)
    scalar = out_shape == ()
    ordered = ["f"] + [m for m in MODES if m in modes and m != "f"]
    _check_dense_modes(fn, ordered, xf.size, math.prod(out_shape), out.dtype, scalar)
    rows, notes = [], []
    for mode in ordered:
        if mode in _SCALAR_ONLY and not scalar:
            notes.append(
                f"{mode} skipped: it needs a scalar f, and f returns shape {out_shape}."
            )
            continue
        if mode == "vjp":
            d = jnp.ones(out_shape, out.dtype)
        else:
            d = jnp.ones_like(xf)
        rows.append(_measure(mode, g, xf, d, repeats))
    missing = [
        name
        for name, attr in (
            ("FLOPs / bytes (cost_analysis)", "flops"),
            ("memory (memory_analysis)", "temp_bytes"),
        )
        if getattr(rows[0], attr) is None
    ]
    if missing:
        notes.append(
            f"XLA on {jax.default_backend()} gives no {' or '.join(missing)}; "
            f"compare the times."
        )
    return CostReport(
        rows=tuple(rows),
        notes=tuple(notes),
        in_shape=tuple(x.shape),
        out_shape=out_shape,
        backend=jax.default_backend(),
        repeats=repeats,
    )


def _check_dense_modes(
    fn: str, modes: list[str], n: int, m: int, dtype: Any, scalar: bool
) -> None:
    """Raises before a dense mode's result (and its all-at-once basis) cannot fit."""
    itemsize = jnp.dtype(dtype).itemsize
    dense = {
        "jacfwd": 2 * n * m * itemsize,
        "jacrev": 2 * n * m * itemsize,
        "hessian_fwd_rev": 2 * n * n * itemsize,
        "hessian_rev_fwd": 2 * n * n * itemsize,
        "hessian_rev_rev": 2 * n * n * itemsize,
    }
    available = _memory.available_bytes()
    if available is None:
        return
    too_big = [
        mode
        for mode in modes
        if mode in dense
        and (scalar or mode not in _SCALAR_ONLY)
        and dense[mode] > available
    ]
    if too_big:
        keep = [mode for mode in modes if mode not in too_big and mode != "f"]
        _memory.check_fits(
            fn,
            f"the dense derivative of mode {too_big[0]!r} ({n} inputs, {m} "
            f"outputs; result and basis)",
            dense[too_big[0]],
            f"Leave out the dense modes {too_big}: pass modes={keep!r}.",
            available=available,
        )


# ------------------------------------------------------------- mode choice


def choose_mode(
    f: Callable[..., Any], /, *args: Any, argnums: int = 0, refine: bool = False
) -> str:
    """Chooses forward or reverse mode for the dense Jacobian of ``f``.

    The cost model: the dense ``m x n`` Jacobian takes ``n`` JVPs in forward
    mode or ``m`` VJPs in reverse mode, each a small multiple of the cost of
    ``f``. So forward mode for tall Jacobians (``n < m``), reverse mode for
    wide ones (``n > m``). Square ones (``n = m``, equal FLOPs) go to forward
    mode, which stores no residuals; in the benchmark
    (``benchmarks/autodiff_modes.py``, timed in alternating rounds) it was
    within 1.15x of the faster mode at more square sizes than reverse mode.

    With ``refine=True`` and sizes within a factor of 8 of each other (where
    the rule can be wrong), both are compiled and compared: by median wall time
    (alternating rounds) when the arguments are concrete, by XLA's FLOPs when
    they are traced (under ``jax.jit``); if XLA gives no FLOPs, the size rule
    stands.

    Only shapes are needed, so it works under ``jax.jit``: it returns a
    Python string while tracing, to choose a branch with (a jitted function
    cannot return a string, so do not jit ``choose_mode`` itself).

    Args:
        f: the function; its output must be one array.
        *args: its arguments (arrays or ``jax.ShapeDtypeStruct``s when
            ``refine=False``).
        argnums: the position of the differentiated argument.
        refine: compile (and time) both modes when the sizes are close.

    Returns:
        ``"forward"`` or ``"reverse"``.

    Raises:
        TypeError: if ``f`` is not callable, ``x`` is not floating, ``refine``
            is not a bool, or ``f`` returns no single array.
        ValueError: if ``argnums`` is out of range, ``x`` has no entries, or
            ``f`` raises on the arguments.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmc.cost import choose_mode
        >>> choose_mode(lambda x: jnp.sum(x**2), jnp.ones(100))
        'reverse'
        >>> choose_mode(lambda x: jnp.outer(x, x), jnp.ones(3))
        'forward'
        >>> choose_mode(jnp.tanh, jnp.ones(3))
        'forward'
    """
    fn = "jaxmc.cost.choose_mode"
    _checks.check_callable(fn, "f", f)
    argnums = check_argnums(fn, argnums)
    if argnums >= len(args):
        msg = (
            f"{fn}: argnums={argnums} but {len(args)} positional argument(s) "
            f"were given."
        )
        raise ValueError(msg)
    refine = _checks.check_bool(fn, "refine", refine)
    x = args[argnums]
    if not (hasattr(x, "shape") and hasattr(x, "dtype")):
        x = _checks.as_array(fn, f"args[{argnums}]", x)
    _checks.check_floating(fn, f"args[{argnums}]", x)
    _checks.check_nonempty(fn, f"args[{argnums}]", x)
    shape = tuple(np.shape(x))
    before, after = tuple(args[:argnums]), tuple(args[argnums + 1 :])

    def g(v: Any) -> Any:
        return f(*before, v.reshape(shape), *after)

    spec = jax.ShapeDtypeStruct((math.prod(shape),), x.dtype)
    spec_args = (*before, jax.ShapeDtypeStruct(shape, x.dtype), *after)
    _checks.eval_user(fn, "f", f, spec_args)
    out = jax.eval_shape(g, spec)
    if not (hasattr(out, "shape") and hasattr(out, "dtype")):
        msg = f"{fn}: `f` must return one array; got {type(out).__name__}."
        raise TypeError(msg)
    n_in, n_out = math.prod(shape), math.prod(out.shape)
    rule = size_rule(n_in, n_out)
    if not refine or max(n_in, n_out) > _REFINE_WITHIN * min(n_in, n_out):
        return rule
    return _refined_mode(g, x, spec, rule)


def _paired_times(programs: Sequence[Any], *args: Any, rounds: int = 7) -> list[float]:
    """Median times of programs measured in alternating rounds (fair under load).

    After a warm-up call, a round of a fast program calls it ~2 ms worth of
    times and takes the mean; a slow program is called once per round.
    """
    inner = []
    for prog in programs:
        jax.block_until_ready(prog(*args))
        t0 = time.perf_counter()
        jax.block_until_ready(prog(*args))
        inner.append(max(1, int(0.002 / max(time.perf_counter() - t0, 1e-7))))
    samples: list[list[float]] = [[] for _ in programs]
    for _ in range(rounds):
        for prog, k, out in zip(programs, inner, samples, strict=True):
            t0 = time.perf_counter()
            for _ in range(k):
                jax.block_until_ready(prog(*args))
            out.append((time.perf_counter() - t0) / k)
    return [statistics.median(s) for s in samples]


def _refined_mode(g: Callable[..., Any], x: Any, spec: Any, rule: str) -> str:
    modes = ("forward", "reverse")
    compiled = [
        compile_abstract(prog, [spec])[0] for prog in (jax.jacfwd(g), jax.jacrev(g))
    ]
    if isinstance(x, jax.Array | np.ndarray) and _checks.is_concrete(x):
        times = _paired_times(compiled, jnp.reshape(x, (-1,)))
        scores = dict(zip(modes, times, strict=True))
    else:
        scores = {m: cost_figures(c)[0] for m, c in zip(modes, compiled, strict=True)}
    if any(s is None for s in scores.values()):
        return rule
    return min(scores, key=lambda m: (scores[m], m != rule))


# ------------------------------------------------------------ dense Hessian


def hessian(
    f: Callable[..., Any],
    argnums: int = 0,
    *,
    mode: str = "fwd-rev",
    chunk_size: int | None = None,
    memory_limit: int | None = None,
) -> Callable[..., jax.Array]:
    r"""The dense Hessian of a scalar ``f``, built a block of HVPs at a time.

    Column ``i`` of ``H = \nabla^2 f(x)`` is the Hessian-vector product
    ``H e_i``. ``jax.hessian`` computes all ``n`` of them at once, so its
    temporaries grow like ``n`` times those of one HVP; here a loop over blocks
    (like ``lax.map(..., batch_size=chunk_size)``) computes ``chunk_size`` at a
    time and writes them into the result in place, without a transpose copy,
    so the peak memory is the Hessian itself plus ``chunk_size`` HVPs' worth.
    The basis vectors are made from their indices inside the loop; the identity
    is never formed.

    Modes (all give the same matrix up to rounding):

    - ``"fwd-rev"``: forward over reverse, ``H e_i = d/dt grad f(x + t e_i)``,
      linearising the gradient once (what ``jax.hessian`` does, column-wise);
    - ``"rev-rev"``: reverse over reverse, one VJP of the gradient per row;
    - ``"rev-fwd"``: reverse over forward, the gradient of the directional
      derivative ``x -> J(x) e_i`` per row.

    With ``memory_limit`` (bytes), the chunk is the largest one whose compiled
    peak (arguments + result + temporaries, from XLA's memory analysis) fits:
    a linear model from the peaks at chunks 1 and 2, checked by compiling the
    chosen chunk and shrunk until it fits. The choice is cached per input shape.

    Works under ``jax.jit`` (with ``memory_limit`` too: the chunk is chosen
    while tracing, from the shapes). Called eagerly, the block loop is compiled
    anyway (cached per input shapes), so ``memory_limit`` holds either way.
    A Hessian that cannot fit in the memory available (or, without
    ``chunk_size``/``memory_limit``, whose all-at-once products cannot) raises
    a ``MemoryError`` before anything is allocated.

    Args:
        f: scalar-valued function.
        argnums: position of the argument ``x`` to differentiate (an int); it
            must be a floating array of any shape ``s``.
        mode: ``"fwd-rev"`` (default), ``"rev-fwd"`` or ``"rev-rev"``.
        chunk_size: HVPs per block (default: all at once, like ``jax.hessian``).
        memory_limit: the peak memory, in bytes, the computation may use.

    Returns:
        A function taking ``f``'s arguments and returning the Hessian, shape
        ``s + s`` in ``x``'s dtype (JAX's layout: ``H[i..., j...] =
        d^2 f / dx[i...] dx[j...]``).

    Raises:
        TypeError: if ``f`` is not callable, ``argnums``/``chunk_size``/
            ``memory_limit`` are not ints, or ``x`` is not floating.
        ValueError: for an unknown mode, both ``chunk_size`` and
            ``memory_limit``, non-positive sizes, an ``x`` with no entries, a
            non-scalar ``f``, ``f`` raising on the arguments, or a
            ``memory_limit`` that even one HVP at a time cannot meet.

    Example:
        >>> import jax.numpy as jnp
        >>> import jaxmc
        >>> A = jnp.array([[2.0, 1.0], [0.0, 3.0]])
        >>> H = jaxmc.hessian(lambda x: x @ A @ x, chunk_size=1)(jnp.ones(2))
        >>> H.round().tolist()  # A + A^T
        [[4.0, 1.0], [1.0, 6.0]]
    """
    fn = "jaxmc.hessian"
    _checks.check_callable(fn, "f", f)
    argnums = check_argnums(fn, argnums)
    _checks.check_one_of(fn, "mode", mode, HESSIAN_MODES)
    check_chunking(fn, chunk_size, memory_limit)
    cache: dict[Any, int] = {}

    def hess(*args: Any) -> jax.Array:
        return blocked(
            fn, "hessian", f, args, argnums, mode, chunk_size, memory_limit, cache
        )

    hess.__doc__ = f"The Hessian of {getattr(f, '__name__', 'f')} (jaxmc.hessian)."
    return hess


def dense_jacobian(
    f: Callable[..., Any],
    argnums: int = 0,
    *,
    mode: str = "forward",
    chunk_size: int | None = None,
    memory_limit: int | None = None,
    fn: str = "jaxmc.jacobian",
) -> Callable[..., jax.Array]:
    """The dense Jacobian (JAX's layout, out + in axes) built in blocks.

    Forward mode stacks columns ``J e_i`` (``n`` JVPs, linearising once),
    reverse mode rows ``e_j^T J`` (``m`` VJPs, one forward pass), ``chunk_size``
    at a time in a loop over blocks; ``memory_limit`` chooses the chunk from the
    compiled memory analysis as in :func:`hessian`. This is the engine behind
    ``jaxmc.jacobian(..., chunk_size=..., memory_limit=...)``.

    Args:
        f: function returning one array.
        argnums: position of the differentiated (floating) argument.
        mode: ``"forward"`` or ``"reverse"``.
        chunk_size: basis vectors per block (default: all at once).
        memory_limit: the peak memory, in bytes, the computation may use.
        fn: the public name used in error messages.

    Returns:
        A function of ``f``'s arguments returning the Jacobian, shape
        ``out_shape + in_shape``.

    Raises:
        TypeError, ValueError: as for :func:`hessian`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmc.cost import dense_jacobian
        >>> dense_jacobian(lambda x: 2 * x, chunk_size=2)(jnp.ones(3)).tolist()
        [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]]
    """
    _checks.check_callable(fn, "f", f)
    argnums = check_argnums(fn, argnums)
    _checks.check_one_of(fn, "mode", mode, JACOBIAN_MODES)
    check_chunking(fn, chunk_size, memory_limit)
    cache: dict[Any, int] = {}

    def jac(*args: Any) -> jax.Array:
        return blocked(
            fn, "jacobian", f, args, argnums, mode, chunk_size, memory_limit, cache
        )

    return jac
