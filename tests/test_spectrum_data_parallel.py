"""Data parallelism in every path, and every algorithm on sharded data.

Each test runs one subprocess with 4 CPU devices (the device count must be set
before JAX starts) on a tanh MLP whose 64 examples are sharded over a 1-D
"data" mesh:

* the compiled programs keep the data parallel: an all-reduce, per-device
  batches of 64 / 4 = 16 examples (hidden activations ``f64[16,6]``) and never
  the full batch (``f64[64,6]``), for the operator passed as an argument,
  closed over inside ``jax.jit`` (built outside or inside the jitted
  function, as a training step does, and through ``eigenvalues``), batched
  with ``batch_size`` (per-device ``f64[8,6]`` of the 32-example batches) and
  streamed (the per-batch program of sharded batches);
* every algorithm, eagerly and under ``jax.jit``, equals its one-device value
  to 1e-10 in float64 (24 compilations, about 1 minute on 2 cores since the
  eigensolver's program shrank; the densities that once hung are also
  checked, eagerly and under jit, in ``test_spectrum_sharding.py``). Each call runs under a watchdog
  (``faulthandler.dump_traceback_later(exit=True)``) so that a hang ends the
  subprocess with the stuck call's stack instead of stalling CI; the per-call
  times are printed (``pytest -s``).
"""

import textwrap

import pytest
from _subprocess import run_python

PRELUDE = """
import faulthandler, time
import jax, jax.flatten_util, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from _spectrum_problems import mlp_problem
from jaxmc.spectrum import (
    diagonal, eigenvalues, hessian_operator, inverse, kpm_density,
    logdet, power_iteration, spectral_density, trace,
)
from jaxmc.spectrum import _hessian

assert jax.device_count() == 4, jax.devices()
params, data, loss, *_ = mlp_problem(jnp.float64, n=64)
mesh = Mesh(np.array(jax.devices()), ("data",))
spec = NamedSharding(mesh, P("data"))
sharded = jax.device_put(data, spec)
params_r = jax.device_put(params, NamedSharding(mesh, P()))
key = jax.random.key(0)
v = jnp.ones(51)
single = hessian_operator(loss, params, data)
op = hessian_operator(loss, params_r, sharded)


def check_hlo(name, lowered, per=16, full=(64,)):
    compiled = lowered.compile()
    hlo = compiled.as_text()
    assert "all-reduce" in hlo, f"{name}: no all-reduce in the compiled program"
    assert f"f64[{per},6]" in hlo, f"{name}: no per-device batch f64[{per},6]"
    for n in full:
        assert f"f64[{n},6]" not in hlo, f"{name}: a device computes f64[{n},6]"
    print("HLO", name, "ok", flush=True)
    return compiled


def run(name, f, *args, limit=400):
    # a hang (a deadlock in a host loop) exits with the stuck stack
    faulthandler.dump_traceback_later(limit, exit=True)
    t = time.perf_counter()
    out = jax.block_until_ready(f(*args))
    faulthandler.cancel_dump_traceback_later()
    print(f"TIME {name} {time.perf_counter() - t:.2f}s", flush=True)
    return out


def close(got, want, what):
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(
            a, b, rtol=1e-10, atol=1e-10, err_msg=what
        ),
        got,
        want,
    )
"""

HLO_SCRIPT = """
mv = jax.jit(lambda f, v: f(v))
want = single.matvec(v)
close(check_hlo("argument", mv.lower(op.flat_matvec, v))(op.flat_matvec, v), want, "arg")
closed = check_hlo("closed-over", jax.jit(lambda v: op.matvec(v)).lower(v))
close(closed(v), want, "closed-over")
# a training step: built inside the jitted function from its arguments
step = jax.jit(lambda p, d, v: hessian_operator(loss, p, d).matvec(v))
close(check_hlo("step", step.lower(params_r, sharded, v))(params_r, sharded, v), want, "step")
theta, unravel = jax.flatten_util.ravel_pytree(params)
eig = jax.jit(lambda k: eigenvalues(op, 2, key=k).values)
eig_c = check_hlo("closed-over eigenvalues", eig.lower(key))
dense = jax.hessian(lambda t: loss(unravel(t), data))(theta)
top = jnp.linalg.eigvalsh(dense)[::-1][:2]
got = run("closed-over eigenvalues", eig_c, key)
np.testing.assert_allclose(got, top, rtol=1e-9)
opb = hessian_operator(loss, params_r, sharded, batch_size=32)
batched = check_hlo("batched", mv.lower(opb.flat_matvec, v), per=8, full=(64, 32))
close(batched(opb.flat_matvec, v), want, "batched")
bc = jax.jit(lambda v: opb.matvec(v))
close(check_hlo("batched closed-over", bc.lower(v), per=8, full=(64, 32))(v), want, "bc")
batches = [
    jax.device_put(jax.tree_util.tree_map(lambda x: x[i : i + 32], data), spec)
    for i in range(0, 64, 32)
]
st = hessian_operator(loss, params, lambda: batches, progress=False)
# one program for a group of equally shaped batches, stacked: one batch after
# another in a scan (8 rows a device) or all together (2 batches of 8 a device)
group = (st.factory, params_r, tuple(batches), v, jnp.zeros_like(v), 32, 64)
lowered = _hessian._batch_matvec.lower(*group, together=False)
check_hlo("streamed batch", lowered, per=8, full=(64, 32))
lowered = _hessian._batch_matvec.lower(*group, together=True)
check_hlo("streamed group", lowered, per="2,8", full=(64, 32, "2,32"))
assert _hessian._together(st.factory, params_r, batches, v, "sig")  # small
close(run("streamed matvec", st.matvec, v), want, "streamed")
print("OK")
"""

ALGORITHMS = """
algorithms = {
    "eigenvalues": lambda o: eigenvalues(o, 3, key=key).values,
    "power_iteration": lambda o: power_iteration(o, 1, key=key, max_iters=20).values,
    "trace": lambda o: trace(o, num_matvecs=9, key=key).estimate,
    "diagonal": lambda o: diagonal(o, num_matvecs=4, key=key).estimate,
    # the defaults that deadlocked eagerly: two runs of 40+ steps
    "spectral_density": lambda o: spectral_density(
        o, key=key, num_runs=2, lanczos_steps=40
    ).density,
    "kpm_density": lambda o: kpm_density(
        o, key=key, num_moments=20, num_probes=2
    ).density,
    "logdet": lambda o: logdet(
        o.damped(1.0), key=key, num_probes=2, lanczos_steps=10
    ).estimate,
    "inverse": lambda o: inverse(o.damped(1.0), tol=1e-12).matvec(v),
}
import warnings
warnings.simplefilter("ignore")  # unresolved estimates at these tiny budgets
"""

ALGO_SCRIPT = """
ref = {n: run(n + " one-device", f, single) for n, f in algorithms.items()}
eager = {n: run(n + " sharded eager", f, op) for n, f in algorithms.items()}
# each under jit, closing over the sharded operator (one program each: a
# single program holding all of them compiles superlinearly slower)
jitted = {}
for n, f in algorithms.items():
    jitted[n] = run(n + " sharded jit", jax.jit(lambda f=f: f(op)))
for n in algorithms:
    close(eager[n], ref[n], n + " eager")
    close(jitted[n], ref[n], n + " jit")
print("OK")
"""


# Streamed batches sharded over every device, at a size where the programs no
# longer run inline: launched from inside a compiled solve's host callback,
# the batch program's cross-device reduction waited forever for one device
# (a 32-64-10 MLP on 8,192 examples hung; the 4-6-3 one did not). The solve
# now runs from the host.
STREAM_SCRIPT = """
params, big, *_ = mlp_problem(jnp.float64, n=8192, d=32, h=64, c=10)
v = jnp.ones(2762)  # for "inverse"
batches = [
    jax.device_put(jax.tree_util.tree_map(lambda x: x[i : i + 2048], big), spec)
    for i in range(0, 8192, 2048)
]
st = hessian_operator(loss, params, lambda: batches, progress=False)
mem = hessian_operator(loss, params, big)
for n, f in algorithms.items():
    want = run(n + " in memory", f, mem)
    got = run(n + " streamed sharded", f, st, limit=120)
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10, err_msg=n),
        got,
        want,
    )
# inside jax.jit the solve is one program: a clear error, never a hang
try:
    jax.jit(lambda k: eigenvalues(st, 2, key=k).values)(key)
except Exception as e:
    assert "cannot be computed from inside a compiled program" in str(e), str(e)
else:
    raise AssertionError("streamed sharded batches inside jax.jit: no error")
print("OK")
"""


def _run(script, tmp_path, timeout):
    proc = run_python(
        ["-c", textwrap.dedent(PRELUDE + script)],
        cwd=tmp_path,
        devices=4,
        timeout=timeout,
    )
    assert proc.stdout.rstrip().endswith("OK"), proc.stdout[-3000:]
    print(proc.stdout)
    return proc.stdout


@pytest.mark.slow
def test_every_path_keeps_the_data_parallel(tmp_path):
    out = _run(HLO_SCRIPT, tmp_path, timeout=300)
    assert out.count("HLO ") == 8


@pytest.mark.slow
def test_every_algorithm_on_sharded_data_eager_and_jit(tmp_path):
    out = _run(ALGORITHMS + ALGO_SCRIPT, tmp_path, timeout=900)
    assert out.count("TIME ") == 3 * 8


@pytest.mark.slow
def test_every_algorithm_on_streamed_sharded_batches(tmp_path):
    out = _run(ALGORITHMS + STREAM_SCRIPT, tmp_path, timeout=600)
    assert out.count("TIME ") == 2 * 8
