"""`jaxmc spectrum MODULE:FUNCTION` on user models, --params, --out, jaxmc plot.

The CLI runs in-process (``main(argv)``) on tiny models; the eigenvalues it
saves are compared with those of the dense Hessian (or GGN) at the
checkpoint's parameters.
"""

import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxmc.cli import main
from jaxmc.cli import spectrum as cli_spectrum
from jaxmc.cli._problem import save_npz
from jaxmc.spectrum import EigenResult, SpectralDensity, TraceEstimate, load

FAST = ["--k", "1", "--trace-matvecs", "4", "--density-runs", "2"]
FAST += ["--density-steps", "6", "--deflate", "1", "--quiet"]

DICT_MODEL = """
import jax.numpy as jnp
import numpy as np

def problem():
    rng = np.random.default_rng(0)
    X = jnp.asarray(rng.normal(size=(20, 3)))
    y = jnp.asarray(rng.normal(size=20))
    params = {
        "w1": jnp.asarray(0.5 * rng.normal(size=(3, 4))),
        "b1": jnp.zeros(4),
        "w2": jnp.asarray(0.5 * rng.normal(size=4)),
    }

    def loss_fn(p, batch):
        X, y = batch
        h = jnp.tanh(X @ p["w1"] + p["b1"][None, :])
        return jnp.mean((h @ p["w2"] - y) ** 2)

    return loss_fn, params, (X, y)

def not_a_problem():
    return "hello"

def broken_loss():
    return (lambda p, b: p["missing"].sum()), {"w": jnp.ones(3)}, jnp.ones((4, 3))
"""

FLAX_MODEL = """
import jax
import jax.numpy as jnp
import flax.linen as nn

class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(2)(jnp.tanh(nn.Dense(3)(x)))

def problem():
    model = MLP()
    X = jax.random.normal(jax.random.key(0), (12, 2))
    y = (X[:, 0] > 0).astype(jnp.int32)
    variables = model.init(jax.random.key(1), X)

    def model_fn(v, batch):
        return model.apply(v, batch[0])

    def loss_fn(logits, batch):
        picked = jnp.take_along_axis(logits, batch[1][:, None], axis=1)[:, 0]
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)

    return model_fn, loss_fn, variables, (X, y)
"""

EQX_MODEL = """
import jax
import jax.numpy as jnp
import equinox as eqx

def problem():
    model = eqx.nn.MLP(2, 1, 3, 1, activation=jnp.tanh, key=jax.random.key(0))
    X = jax.random.normal(jax.random.key(1), (10, 2))
    Y = jnp.sin(X[:, :1])

    def loss_fn(m, batch):
        X, Y = batch
        return jnp.mean((jax.vmap(m)(X) - Y) ** 2)

    return {"loss_fn": loss_fn, "params": model, "data": (X, Y),
            "description": "equinox MLP 2-3-1"}
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def dense_eigvalsh(loss_fn, params, data):
    flat, unravel = ravel_pytree(params)
    H = jax.hessian(lambda f: loss_fn(unravel(f), data))(flat)
    return np.linalg.eigvalsh(np.asarray(H))


def test_plain_dict_model_with_npz_checkpoint_out_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import matplotlib.image

    model = write(tmp_path, "dict_model.py", DICT_MODEL)
    ns = {}
    exec(DICT_MODEL, ns)
    loss_fn, params, data = ns["problem"]()
    trained = jax.tree_util.tree_map(lambda x: 1.5 * x + 0.1, params)
    ckpt = tmp_path / "ckpt.npz"
    save_npz(ckpt, trained)
    assert sorted(np.load(ckpt).files) == ["b1", "w1", "w2"]
    out = tmp_path / "results.json"
    argv = ["spectrum", f"{model}:problem", "--params", ckpt, "--out", out, *FAST]
    code, text, err = run(argv, capsys)
    assert code == 0, err
    assert err == ""  # --quiet: no progress lines
    assert "Hessian eigenvalues" in text and "results ->" in text
    res = load(out)
    assert isinstance(res["eigenvalues"], EigenResult)
    assert isinstance(res["trace"], TraceEstimate)
    assert isinstance(res["density"], SpectralDensity)
    assert (
        res["problem"]["num_params"] == 20 and res["problem"]["operator"] == "Hessian"
    )
    assert res["problem"]["params_file"] == str(ckpt)
    assert set(res["timings"]) >= {"build", "eigenvalues", "trace", "density", "total"}
    # the values are those of the checkpoint's Hessian, not the initial one
    exact = dense_eigvalsh(loss_fn, trained, data)
    np.testing.assert_allclose(
        res["eigenvalues"].values, [exact[-1], exact[0]], rtol=1e-7
    )
    assert float(res["density"].outliers[0]) == pytest.approx(exact[-1], rel=1e-7)
    assert (tmp_path / "results.npz").exists()
    # jaxmc plot redraws from the file
    fig = tmp_path / "fig.png"
    code, text, err = run(["plot", out, "--out", fig], capsys)
    assert code == 0, err
    img = matplotlib.image.imread(fig)
    assert img.shape[0] > 100 and float(img[..., :3].std()) > 0.02
    # positional arr_0, arr_1, ... in leaf order work as well
    leaves = jax.tree_util.tree_leaves(trained)
    np.savez(tmp_path / "pos.npz", *[np.asarray(x) for x in leaves])
    from jaxmc.cli._problem import load_params

    back = load_params(str(tmp_path / "pos.npz"), params)
    for a, b in zip(jax.tree_util.tree_leaves(back), leaves, strict=True):
        np.testing.assert_array_equal(a, b)


def parse(argv):
    from jaxmc.cli import build_parser

    return build_parser().parse_args(["spectrum", *[str(a) for a in argv]])


def test_flax_model_ggn_and_msgpack_checkpoint(tmp_path):
    """--ggn on a flax model with a msgpack checkpoint: the operator is the GGN.

    The command's later phases (Lanczos, trace, --out) are the same for every
    model and run end to end in the plain-dict test; here the operator the
    command builds is compared with the dense GGN, which is cheaper.
    """
    pytest.importorskip("flax")
    from flax import serialization

    model = write(tmp_path, "flax_model.py", FLAX_MODEL)
    ns = {"__name__": "flax_model_test"}
    exec(FLAX_MODEL, ns)
    model_fn, out_loss, variables, data = ns["problem"]()
    trained = jax.tree_util.tree_map(lambda x: 2.0 * x + 0.05, variables)
    ckpt = tmp_path / "ckpt.msgpack"
    ckpt.write_bytes(serialization.to_bytes(trained))
    built = cli_spectrum.build_operator(
        parse([f"{model}:problem", "--ggn", "--params", ckpt, "--quiet"])
    )
    assert built.kind == "GGN" and built.op.size == 2 * 3 + 3 + 3 * 2 + 2
    flat, unravel = ravel_pytree(trained)
    z = model_fn(trained, data)
    J = jax.jacfwd(lambda f: model_fn(unravel(f), data))(flat).reshape(z.size, -1)
    Hz = jax.hessian(lambda u: out_loss(u.reshape(z.shape), data))(z.ravel())
    # flax initialises its parameters in float32 (param_dtype), hence the tolerance
    G = J.T @ Hz @ J
    np.testing.assert_allclose(
        built.op.to_dense(), G, rtol=1e-5, atol=1e-6 * abs(G).max()
    )
    # npz names for flax variables are the '/'-joined key paths
    save_npz(tmp_path / "flax.npz", trained)
    assert "params/Dense_0/kernel" in np.load(tmp_path / "flax.npz").files
    built = cli_spectrum.build_operator(
        parse([f"{model}:problem", "--params", tmp_path / "flax.npz"])
    )
    assert built.kind == "Hessian" and built.problem.description.endswith(":problem")


def test_equinox_module_with_static_leaves(tmp_path):
    """An equinox module as params: its functions are held fixed."""
    pytest.importorskip("equinox")
    import equinox as eqx

    model = write(tmp_path, "eqx_model.py", EQX_MODEL)
    built = cli_spectrum.build_operator(parse([f"{model}:problem"]))
    assert built.problem.description == "equinox MLP 2-3-1"
    assert built.op.size == 2 * 3 + 3 + 3 * 1 + 1
    ns = {}
    exec(textwrap.dedent(EQX_MODEL), ns)
    prob = ns["problem"]()
    params, static = eqx.partition(prob["params"], eqx.is_array)
    flat, unravel = ravel_pytree(params)

    def loss(f):
        return prob["loss_fn"](eqx.combine(unravel(f), static), prob["data"])

    np.testing.assert_allclose(
        built.op.to_dense(), jax.hessian(loss)(flat), rtol=1e-9, atol=1e-12
    )
    # npz names of an equinox module's leaves: its fields' key paths
    from jaxmc.cli._problem import leaf_names

    assert leaf_names(built.params) == [
        "layers/0/weight",
        "layers/0/bias",
        "layers/1/weight",
        "layers/1/bias",
    ]


def check_one_line_error(code, out, err, *words):
    assert code == 2
    assert "Traceback" not in err + out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--examples", "0"], ["--examples", "at least 1"]),
        (["--k", "0"], ["--k", "at least 1"]),
        (["--hidden", "-1"], ["--hidden", "at least 1"]),
        (["--hidden", "8", "0"], ["--hidden", "at least 1"]),
        (["--steps", "-3"], ["--steps", "at least 0"]),
        (["--deflate", "-2"], ["--deflate", "at least 0"]),
        (["--batch-size", "0"], ["--batch-size", "at least 1"]),
        (["--trace-matvecs", "2"], ["--trace-matvecs", "at least 4"]),
        (["--density-runs", "-1"], ["--density-runs", "at least 0"]),
        (["--density-runs", "0", "--layers"], ["--density-runs 0", "--layers"]),
        (["--plot", "/nonexistent-dir/x.png"], ["--plot", "does not exist"]),
        (["--plot", "{tmp}"], ["--plot", "is a directory"]),
        (["--plot", "{tmp}/x.txt"], ["--plot", "must end in .png"]),
        (["--out", "{tmp}/r.csv"], ["--out", "must end in .json"]),
        (["no_such_module_xyz:f"], ["cannot import module 'no_such_module_xyz'"]),
        (["{tmp}/missing.py:f"], ["does not exist"]),
        (["justaname"], ["MODULE:FUNCTION"]),
        (["{model}:nothing"], ["has no attribute 'nothing'"]),
        (["{model}:not_a_problem"], ["returned a str", "(loss_fn, params, data)"]),
        (["{model}:broken_loss"], ["loss_fn", "missing"]),
        (["{model}:problem", "--ggn"], ["--ggn needs the model"]),
        (["{model}:problem", "--hidden", "3"], ["--hidden apply to the built-in"]),
        (["{model}:problem", "--params", "{tmp}/nope.npz"], ["--params", "no such"]),
        (["{model}:problem", "--params", "{tmp}/bad.npz"], ["'w1' has shape (4, 3)"]),
        (["{model}:problem", "--params", "{tmp}/few.npz"], ["missing ['b1', 'w2']"]),
        (["{model}:problem", "--params", "{tmp}/c.txt"], ["unknown checkpoint"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_bad_inputs_one_line_exit_2(argv, words, tmp_path, capsys):
    model = write(tmp_path, "m.py", DICT_MODEL)
    np.savez(tmp_path / "bad.npz", w1=np.ones((4, 3)), b1=np.ones(4), w2=np.ones(4))
    np.savez(tmp_path / "few.npz", w1=np.ones((3, 4)))
    (tmp_path / "c.txt").write_text("x")
    argv = [a.format(tmp=tmp_path, model=model) for a in argv]
    code, out, err = run(["spectrum", *argv, "--quiet"], capsys)
    check_one_line_error(code, out, err, "jaxmc spectrum: error:", *words)


def test_k_larger_than_the_model(tmp_path, capsys):
    model = write(tmp_path, "m.py", DICT_MODEL)
    argv = ["spectrum", f"{model}:problem", "--k", "11", "--quiet"]
    code, out, err = run(argv, capsys)
    check_one_line_error(code, out, err, "--k 11", "20-parameter", "use --k 10")


def test_plot_bad_inputs(tmp_path, capsys):
    code, out, err = run(["plot", tmp_path / "none.json", "--out", "x.png"], capsys)
    check_one_line_error(code, out, err, "jaxmc plot: error:", "no such file")
    TraceEstimate(jnp.float32(1.0), jnp.float32(0.1), 4).save(tmp_path / "t.json")
    code, out, err = run(
        ["plot", tmp_path / "t.json", "--out", tmp_path / "f.png"], capsys
    )
    check_one_line_error(code, out, err, "holds no density")


def test_x64_changes_only_the_precision():
    """Issue 20: the float64 problem is the float32 one, cast (same data)."""
    kw = dict(num_examples=16, hidden=(3,), train_steps=0)
    p32 = cli_spectrum.default_problem(dtype="float32", **kw)
    p64 = cli_spectrum.default_problem(dtype="float64", **kw)
    assert p64.data[0].dtype == jnp.float64 and p32.data[0].dtype == jnp.float32
    np.testing.assert_array_equal(p64.data[0].astype(jnp.float32), p32.data[0])
    np.testing.assert_array_equal(p64.data[1], p32.data[1])
    for a, b in zip(
        jax.tree_util.tree_leaves(p32.params),
        jax.tree_util.tree_leaves(p64.params),
        strict=True,
    ):
        np.testing.assert_array_equal(b.astype(jnp.float32), a)
    l32 = float(p32.loss_fn(p32.params, p32.data))
    l64 = float(p64.loss_fn(p64.params, p64.data))
    assert l32 == pytest.approx(l64, rel=1e-6)
    # the GGN parts compose to the loss
    z = p64.model_fn(p64.params, p64.data)
    assert float(p64.output_loss_fn(z, p64.data)) == l64


def test_orbax_and_msgpack_checkpoints_map_onto_params(tmp_path):
    """--params from an orbax directory and a flax msgpack file, leaf by leaf."""
    from jaxmc.cli._problem import UsageError, load_params

    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    new = {"w": jnp.full((3, 2), 2.0), "b": jnp.arange(2.0)}
    wrong = {"w": jnp.ones((2, 2)), "b": jnp.zeros(2)}
    ocp = pytest.importorskip("orbax.checkpoint")
    ocp.PyTreeCheckpointer().save(tmp_path / "orbax", new)
    back = load_params(str(tmp_path / "orbax"), params)
    np.testing.assert_array_equal(back["w"], new["w"])
    np.testing.assert_array_equal(back["b"], new["b"])
    with pytest.raises(UsageError, match=r"'w' has shape \(3, 2\); the problem's"):
        load_params(str(tmp_path / "orbax"), wrong)
    serialization = pytest.importorskip("flax.serialization")
    (tmp_path / "p.msgpack").write_bytes(serialization.to_bytes(new))
    back = load_params(str(tmp_path / "p.msgpack"), params)
    np.testing.assert_array_equal(back["b"], new["b"])
    with pytest.raises(UsageError, match=r"'w' has shape \(3, 2\)"):
        load_params(str(tmp_path / "p.msgpack"), wrong)
