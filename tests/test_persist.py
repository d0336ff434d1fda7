"""jaxmc._persist: solver programs kept on disk, found again without lowering."""

import functools
import json
import textwrap
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _programs import count_compiles
from _subprocess import run_python

import jaxmc
from jaxmc import _persist, _xla
from jaxmc.spectrum import eigenvalues, matrix_operator, trace

_LOWER = "/jax/core/compile/jaxpr_to_mlir_module_duration"
_TRACE = "/jax/core/compile/jaxpr_trace_duration"

# A fresh process: eigenvalues (its program calls LAPACK's eigh, which an
# executable loaded without lowering must find set up) and Hutch++ on the
# Hessian of a small MLP, with the cache in argv[1]; prints the results'
# bits and the jaxmc solver programs ("traced") lowered and compiled.
_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, jax.numpy as jnp, numpy as np
    from jax import monitoring
    import jaxmc
    from jaxmc import _persist
    from jaxmc.spectrum import eigenvalues, hessian_operator, trace

    events = []
    monitoring.register_event_duration_secs_listener(
        lambda e, d, fun_name=None, **kw: events.append((e, fun_name)))
    if sys.argv[1] != "off":
        jaxmc.enable_compilation_cache(sys.argv[1])

    def loss(p, batch):
        X, y = batch
        h = jnp.tanh(X @ p["w1"] + p["b1"])
        return jnp.mean((h @ p["w2"] - y) ** 2)

    k = jax.random.split(jax.random.key(0), 4)
    p = {"w1": jax.random.normal(k[0], (4, 6)), "b1": jnp.zeros(6),
         "w2": jax.random.normal(k[1], (6, 2))}
    data = (jax.random.normal(k[2], (32, 4)), jax.random.normal(k[3], (32, 2)))
    op = hessian_operator(loss, p, data)
    r = eigenvalues(op, 3, key=jax.random.key(1), which="both")
    t = trace(op, key=jax.random.key(2), num_matvecs=12)
    # a warm start at new weights: the solver's program again, for a start
    # vector that is an array (not host zeros), as a tracking loop runs it
    p2 = jax.tree_util.tree_map(lambda a: 1.1 * a, p)
    r2 = eigenvalues(hessian_operator(loss, p2, data), 3, key=jax.random.key(1),
                     which="both", init=r)
    solver = lambda name: sum(1 for e, f in events if e == name and f == "jit(traced)")
    print(json.dumps({
        "values": np.asarray(r.values).tobytes().hex(),
        "vectors": np.concatenate(
            [np.ravel(x) for x in jax.tree_util.tree_leaves(r.vectors)]).tobytes().hex(),
        "trace": np.asarray(t.estimate).tobytes().hex(),
        "warm": np.asarray(r2.values).tobytes().hex(),
        "lowered": solver("/jax/core/compile/jaxpr_to_mlir_module_duration"),
        "compiled": solver("/jax/core/compile/backend_compile_duration"),
        "scipy_linalg": "scipy.linalg" in sys.modules,
        "prefetched": _persist._COUNTS["prefetched"],
    }))
    """
)


@pytest.mark.slow
def test_second_process_loads_solver_programs_without_lowering(tmp_path):
    script = tmp_path / "solve.py"
    script.write_text(_SCRIPT)
    cache = tmp_path / "cache"

    def run(where):
        out = run_python([str(script), where], cwd=tmp_path, timeout=240)
        return json.loads(out.stdout.strip().splitlines()[-1])

    first, second = run(str(cache)), run(str(cache))
    plain = run("off")
    # the first process lowers, compiles and keeps both solver programs (the
    # warm start reuses the eigensolver's) and the warm start's small one
    assert first["lowered"] == 2 and first["compiled"] == 2
    assert len(list((cache / "jaxmc-programs").glob("*.exe"))) == 3
    # the next one traces them, then loads them: no lowering, no compilation;
    # each of the three loaded while it was traced
    assert second["lowered"] == 0 and second["compiled"] == 0
    assert first["prefetched"] == plain["prefetched"] == 0
    assert second["prefetched"] == 3
    # and the loaded programs compute the same bits as a run without cache
    for name in ("values", "vectors", "trace", "warm"):
        assert first[name] == second[name] == plain[name], name
    # LAPACK (eigh, Hutch++'s QR) was set up in each without importing
    # scipy.linalg (jaxmc/_lapack.py), before lowering and before loading
    assert not (
        first["scipy_linalg"] or second["scipy_linalg"] or plain["scipy_linalg"]
    )


# Four CPU devices: the same solve on one device and on data sharded over
# all four, twice with the cache; a one-device program must load onto its
# one device, a sharded one onto all four, in their order.
_SHARDED = textwrap.dedent(
    """
    import json, sys
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import jaxmc
    from _programs import count_compiles
    from jaxmc.spectrum import eigenvalues, hessian_operator

    jax.config.update("jax_enable_x64", True)
    jaxmc.enable_compilation_cache(sys.argv[1])
    loss = lambda p, b: jnp.mean((jnp.tanh(b[0] @ p) - b[1]) ** 2)
    k = jax.random.split(jax.random.key(0), 3)
    p = jax.random.normal(k[0], (3, 2))
    data = (jax.random.normal(k[1], (64, 3)), jax.random.normal(k[2], (64, 2)))
    mesh = Mesh(np.array(jax.devices()), ("data",))
    sharded = jax.device_put(data, NamedSharding(mesh, P("data")))
    out = {}
    with count_compiles() as n:
        for name, d in (("one", data), ("sharded", sharded)):
            r = eigenvalues(hessian_operator(loss, p, d), 2, key=k[0])
            out[name] = np.asarray(r.values).tobytes().hex()
    out["compiled"] = [x for x in n.names if x == "jit(traced)"]
    print(json.dumps(out))
    """
)


def test_programs_load_onto_the_devices_they_were_compiled_for(tmp_path):
    script = tmp_path / "sharded.py"
    script.write_text(_SHARDED)
    cache = str(tmp_path / "cache")

    def run():
        out = run_python([str(script), cache], cwd=tmp_path, timeout=240, devices=4)
        return json.loads(out.stdout.strip().splitlines()[-1])

    first, second = run(), run()
    # (a 6-parameter model exhausts its Krylov space: a solve and its resume)
    assert len(first["compiled"]) >= 2 and second["compiled"] == []
    assert first["one"] == second["one"] and first["sharded"] == second["sharded"]
    np.testing.assert_allclose(
        np.frombuffer(bytes.fromhex(first["one"])),
        np.frombuffer(bytes.fromhex(first["sharded"])),
        rtol=1e-12,
    )


@pytest.fixture
def cache_on(tmp_path):
    """JAX's persistent cache (and so jaxmc's programs) in tmp_path, then off."""
    jaxmc.enable_compilation_cache(tmp_path)
    _persist._forget()
    try:
        yield tmp_path / "jaxmc-programs"
    finally:
        jaxmc.disable_compilation_cache()
        _persist._forget()


def _events(name):
    seen = []

    def listen(event, duration, fun_name=None, **kwargs):
        if event == name:
            seen.append(fun_name)

    jax.monitoring.register_event_duration_secs_listener(listen)
    return seen


def _op(seed=0, n=12):
    A = jax.random.normal(jax.random.key(seed), (n, n))
    return matrix_operator(A + A.T)


# A fresh process: ``scale`` (no custom calls) and, with argv[2] "both",
# ``spectrum`` (LAPACK's eigh), with the cache in argv[1]; prints the result,
# how often ``scale`` was lowered and compiled, and whether jaxlib's LAPACK
# was set up (``jaxmc/_lapack.py``).
_SMALL = textwrap.dedent(
    """
    import sys
    import jax, jax.numpy as jnp, numpy as np
    import jaxmc
    from jaxmc import _lapack, _xla

    jaxmc.enable_compilation_cache(sys.argv[1])
    events = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda e, d, fun_name=None, **kw: events.append((e, fun_name)))

    @_xla.jit(persist=True)
    def scale(x):
        return 3.0 * x

    @_xla.jit(persist=True)
    def spectrum(x):
        return jnp.linalg.eigvalsh(x)

    if sys.argv[2] == "both":
        assert np.allclose(spectrum(jnp.diag(jnp.arange(3.0))), [0, 1, 2])
    out = np.asarray(scale(jnp.arange(3.0))).tolist()
    count = lambda name: events.count((name, "jit(scale)"))
    print(out, count("/jax/core/compile/jaxpr_to_mlir_module_duration"),
          count("/jax/core/compile/backend_compile_duration"),
          _lapack._ready)
    """
)


def test_kept_files_say_whether_lapack_is_needed_and_survive_a_new_key(tmp_path):
    script = tmp_path / "small.py"
    script.write_text(_SMALL)
    cache = tmp_path / "cache"
    kept = cache / "jaxmc-programs"

    def run(which):
        out = run_python([str(script), str(cache), which], cwd=tmp_path, timeout=120)
        return out.stdout.split("\n")[-2]

    assert run("both") == "[0.0, 3.0, 6.0] 1 1 True"
    flags = sorted(p.read_bytes().split(b"\n")[1] for p in kept.glob("*.exe"))
    assert flags == [b"custom-calls", b"no-custom-calls"]
    # jaxmc's files gone, JAX's cache still full (as after an upgrade of
    # jaxmc, whose keys are new): the next process finds ``scale`` in JAX's
    # cache, compiles it once more past it (JAX reports a compile for its
    # cache's hit too) and keeps it; LAPACK is set up before any lowering of
    # a solver (0.01 s), since only the lowered program tells whether it
    # calls LAPACK
    for path in kept.glob("*.exe"):
        path.unlink()
    assert run("scale") == "[0.0, 3.0, 6.0] 1 2 True"
    assert len(list(kept.glob("*.exe"))) == 1
    # the one after loads it: nothing lowered or compiled, and no LAPACK set
    # up for a program without custom calls
    assert run("scale") == "[0.0, 3.0, 6.0] 0 0 False"


@pytest.mark.parametrize("writable", [True, False])
def test_a_program_from_jax_cache_is_compiled_again_only_to_keep_it(
    cache_on, monkeypatch, writable
):
    # as if JAX's cache held the program (a new jaxmc's key): compiled once
    # more past JAX's cache when it can be kept, else used as JAX gave it (a
    # program no other test compiles: one compiled in this process already
    # comes from JAX's memory, and is not kept)
    calls = []
    compile_ = _persist._compile

    def spy(lowered, options=None):
        compiled, fresh, _ = compile_(lowered, options)
        calls.append(options)
        return (compiled, False, True) if options is None else (compiled, fresh, False)

    monkeypatch.setattr(_persist, "_compile", spy)
    if not writable:
        cache_on.parent.mkdir(exist_ok=True)
        cache_on.write_text("a file where the directory would go")
    est = trace(_op(n=10), key=jax.random.key(0), num_matvecs=12).estimate
    if writable:
        assert calls == [None, _persist._MISS_JAX_CACHE]
        assert len(list(cache_on.glob("*.exe"))) == 1
    else:
        assert calls == [None]
    jaxmc.disable_compilation_cache()
    ref = trace(_op(n=10), key=jax.random.key(0), num_matvecs=12).estimate
    assert float(est) == float(ref)


def test_in_process_calls_reuse_the_loaded_program(cache_on):
    traces = _events(_TRACE)
    key = jax.random.key(0)
    op0, op1 = _op(0), _op(1)
    first = eigenvalues(op0, 2, key=key)
    kept = sorted(cache_on.glob("*.exe"))
    assert kept  # the solve's programs (a small matrix exhausts its Krylov space
    # and resumes: two of them)
    # a fresh operator at new values of the same shapes: no trace, no compile
    start = len(traces)
    with count_compiles() as n:
        second = eigenvalues(op1, 2, key=key)
    assert n[0] == 0
    assert "traced" not in traces[start:]
    assert sorted(cache_on.glob("*.exe")) == kept
    jaxmc.disable_compilation_cache()
    reference = eigenvalues(_op(1), 2, key=key)
    np.testing.assert_array_equal(second.values, reference.values)
    assert not np.array_equal(first.values, second.values)


def test_a_damaged_file_is_compiled_again(cache_on):
    key = jax.random.key(0)
    want = trace(_op(), key=key, num_matvecs=12).estimate
    (path,) = cache_on.glob("*.exe")
    path.write_bytes(b"not an executable")
    _persist._forget()
    got = trace(_op(), key=key, num_matvecs=12).estimate
    assert float(got) == float(want)
    # dropped (a process that compiles the program afresh writes it again)
    assert not path.exists()


def test_a_kept_program_loads_while_its_call_traces(cache_on):
    # a size of its own: a program compiled before in this process is in
    # JAX's memory, and is not kept (see _persist._load_or_compile)
    key, op = jax.random.key(0), functools.partial(_op, n=7)
    want = trace(op(), key=key, num_matvecs=12)
    (exe,) = cache_on.glob("*.exe")
    (hint,) = (cache_on / "hints").iterdir()
    assert hint.read_text() == exe.stem  # the guess names the kept program
    before = _persist._COUNTS["prefetched"]
    _persist._forget()  # as a new process: the files only
    got = trace(op(), key=key, num_matvecs=12)
    assert _persist._COUNTS["prefetched"] == before + 1
    assert not [t for t in threading.enumerate() if t.name == "jaxmc-load"]
    assert float(got.estimate) == float(want.estimate)
    assert float(got.std_error) == float(want.std_error)
    # a guess that names another program (as when another program of the
    # same signature was kept last; here one that takes the same arguments):
    # loaded for nothing, then the right one, and the guess mended
    trace(op(), key=key, num_matvecs=16)
    other = sorted({p.stem for p in cache_on.glob("*.exe")} - {exe.stem})[0]
    hint.write_text(other)
    _persist._forget()
    again = trace(op(), key=key, num_matvecs=12)
    assert _persist._COUNTS["prefetched"] == before + 1
    assert float(again.estimate) == float(want.estimate)
    assert hint.read_text() == exe.stem


def test_an_unwritable_directory_only_skips_keeping(cache_on):
    cache_on.parent.mkdir(exist_ok=True)
    cache_on.write_text("a file where the directory would go")
    est = trace(_op(), key=jax.random.key(0), num_matvecs=12).estimate
    jaxmc.disable_compilation_cache()
    ref = trace(_op(), key=jax.random.key(0), num_matvecs=12).estimate
    assert float(est) == float(ref)


def test_programs_with_callbacks_or_effects_are_not_kept(cache_on):
    def host(x):
        return np.asarray(x) * 2

    @_xla.jit(persist=True)
    def with_callback(x):
        return jax.pure_callback(host, jax.ShapeDtypeStruct(x.shape, x.dtype), x) + 1

    @_xla.jit(persist=True)
    def with_effect(x):
        jax.debug.callback(lambda v: None, x)
        return x + 1

    x = jnp.arange(3.0)
    np.testing.assert_array_equal(with_callback(x), 2 * np.arange(3.0) + 1)
    np.testing.assert_array_equal(with_effect(x), np.arange(3.0) + 1)
    assert not list(cache_on.glob("*.exe"))


def test_off_without_jax_cache_and_under_transformations(cache_on):
    calls = []

    @_xla.jit(persist=True)
    def f(x):
        calls.append(1)
        return x * 3

    assert float(jax.jit(lambda x: f(x))(2.0)) == 6.0  # traced: plain jit
    assert not list(cache_on.glob("*.exe"))
    jaxmc.disable_compilation_cache()
    assert _persist.directory() is None
    assert float(f(2.0)) == 6.0
    assert not list(cache_on.glob("*.exe"))


def _key_of(fun, *args, options=()):
    return _persist._key(jax.jit(fun).trace(*args), options)


@pytest.mark.parametrize("size", [3, 2000])
def test_key_depends_on_every_input_of_the_program(size):
    x = jnp.ones(size)
    a, b = np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64)
    b[-1] += 1.0  # one number apart, in a constant of either size
    base = _key_of(lambda v: v * a, x)
    assert _key_of(lambda v: v * a, x) == base  # deterministic
    assert _key_of(lambda v: v * b, x) != base  # constants' values
    assert _key_of(lambda v: v * a, x, options=(("o", 1),)) != base  # options
    assert _key_of(lambda v: v * a, jnp.ones(size, jnp.float32)) != base  # dtypes
    assert _key_of(lambda v: v * a + 1.0, x) != base  # the program
    assert _key_of(lambda v: v * a + 2.0, x) != _key_of(lambda v: v * a + 1.0, x)
