"""Small trained transformers as programs: the numpy forward pass, measured fitness, design moves, the scenario."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

import aievo as ae
from aievo.errors import InvalidParameterError, ShapeError
from aievo.evolving import (
    DesignRules,
    DesignSpace,
    Evaluator,
    ExperimentConfig,
    InputRange,
    TaskDistribution,
    Transformer,
    run_experiment,
)
from aievo.evolving import transformers as tf
from aievo.mesa.tasks import concat_tokens

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "examples" / "scenarios" / "evolving_transformers.toml"
MEMBERS = list(itertools.product(tf.ATTENTION, tf.LAYERS, tf.HALFWIDTHS))


def _evaluator(draws: int = 400, seed: int = 0) -> Evaluator:
    return Evaluator(TaskDistribution(x_halfwidth=0.5), TaskDistribution(x_halfwidth=1.5), draws=draws, seed=seed)


def test_every_member_is_shipped_with_a_recipe():
    from aievo.mesa.nn import shipped

    known = shipped.recipes()
    for a, L, h in MEMBERS:
        name = tf.checkpoint_name(a, L, h)
        assert name in known and (shipped.CHECKPOINT_DIR / f"{name}.json").is_file()
        m = Transformer(h, L, a).model()
        assert m.config.attention == (a,) * L and m.task.x_halfwidth == h and m.meta["steps"] == tf.STEPS


@pytest.mark.parametrize("member", [("linear", 2, 0.5), ("softmax", 1, 1.0), ("softmax", 2, 1.5)])
def test_numpy_forward_equals_the_jax_model(member):
    """The numpy path against the JAX model on the same float64 weights (rounding only: rtol 1e-9)."""
    jax = pytest.importorskip("jax")
    from aievo.mesa.nn import TrainedTransformer

    learner = Transformer(member[2], member[1], member[0])
    model = learner.model()
    X, y, xq, _ = TaskDistribution(x_halfwidth=1.5).sample(np.random.default_rng(5), 64)
    with jax.enable_x64(True):
        p64 = jax.tree_util.tree_map(lambda a: np.asarray(a, dtype=np.float64), model.params)
        ref = TrainedTransformer(model.config, p64).predict(concat_tokens(X, y, xq))[:, 0, 0]
    np.testing.assert_allclose(learner.predict(X, y, xq), ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("member", [("linear", 2, 1.5), ("softmax", 2, 0.5)])
def test_measured_fitness_is_the_score_of_jax_predictions_within_monte_carlo_error(member):
    """The evaluator's score against scores computed from JAX float32 predictions on an independent sample."""
    pytest.importorskip("jax")
    learner = Transformer(member[2], member[1], member[0])
    ev = _evaluator()
    for which, dist in (("proxy", ev.proxy), ("deployment", ev.deployment)):
        m = ev.measure(learner, which)
        # the same tasks: float32 against float64 arithmetic (scores agree to float32 rounding)
        X, y, xq, yq = ev.tasks(which)
        pred = learner.model().predict(concat_tokens(X, y, xq))[:, 0, 0]
        assert m.score == pytest.approx(np.mean(1 / (1 + 0.5 * (pred - yq) ** 2)), abs=1e-5)
        # fresh tasks (another seed, 4000 of them): the same score within four combined standard errors
        X, y, xq, yq = dist.sample(np.random.default_rng(123), 4000)
        s = 1 / (1 + 0.5 * (learner.model().predict(concat_tokens(X, y, xq))[:, 0, 0] - yq) ** 2)
        se = np.hypot(m.score_se, s.std(ddof=1) / np.sqrt(s.size))
        assert abs(m.score - s.mean()) <= 4 * se


@pytest.mark.parametrize("member", [(a, L, h) for a, L, h in MEMBERS if h in (0.5, 1.5)])
def test_measured_loss_on_the_training_range_is_the_training_runs_evaluation(member):
    """No JAX needed: the loss measured by running the checkpoint in numpy, on tasks of its training range,
    against the final evaluation of the training run (2000 fresh tasks scored by JAX), within four
    combined Monte-Carlo errors."""
    a, L, h = member
    learner = Transformer(h, L, a)
    ev = _evaluator(draws=2000, seed=7)
    m = ev.measure(learner, "proxy" if h == 0.5 else "deployment")
    trained = float(learner.model().history["eval_loss"][-1])
    se = m.loss_se * np.sqrt(1 + 2000 / tf.EVAL_TASKS)  # the training evaluation's error is about as large
    assert abs(m.loss - trained) <= 4 * se, (m.loss, m.loss_se, trained)


def test_transformer_moves_and_kernel_rows():
    rules = DesignRules(K_max=2, p_attention=0.1, detector=InputRange(0.5))
    row = rules.successors(Transformer(1.0))
    assert row[Transformer(1.0, layers=2)] == pytest.approx(rules.p_step)
    assert row[Transformer(1.5)] == pytest.approx(rules.p_retune / 2)
    assert row[Transformer(0.5)] == pytest.approx(rules.p_retune / 2)
    assert row[Transformer(1.0, attention="softmax")] == pytest.approx(0.1)
    # gamma+- have nothing to change: they are copies, with the rest
    assert row[Transformer(1.0)] == pytest.approx(1 - 0.3 - 0.3 - 0.1 - 0.1)
    assert sum(row.values()) == pytest.approx(1.0, abs=1e-15)
    # the deepest shipped model and K_max stop the step
    assert rules.successors(Transformer(1.0, layers=2)).get(Transformer(1.0, layers=2), 0) > 0.2
    assert Transformer(1.0, layers=2) not in DesignRules(K_max=1).successors(Transformer(1.0))
    space = DesignSpace.explore(rules, Transformer(1.0))
    assert space.n == 12 + 12 * 12  # the whole family and every ordered pair as a branch
    np.testing.assert_allclose(np.asarray(space.T.sum(axis=1)).ravel(), 1.0, rtol=0, atol=1e-12)
    # other learners have no attention move: with p_attention it is a copy
    from aievo.evolving import GD

    # (gamma+- on a one-value grid, branch without a detector and attention stay; copy gets 1 - 1.0 = 0)
    row = DesignRules(p_attention=0.2, gamma_grid=(0.0,)).successors(GD(1.0, 1))
    assert row[GD(1.0, 1)] == pytest.approx(0.1 + 0.1 + 0.2)


def test_bad_members_and_inputs_are_refused():
    with pytest.raises(InvalidParameterError, match=r"x_halfwidth=0\.75"):
        Transformer(0.75)
    with pytest.raises(InvalidParameterError, match=r"layers=3"):
        Transformer(1.0, layers=3)
    with pytest.raises(InvalidParameterError, match=r"attention='mesa'"):
        Transformer(1.0, attention="mesa")
    with pytest.raises(InvalidParameterError, match=r"retrain='yes'"):
        Transformer(1.0, retrain="yes")
    with pytest.raises(InvalidParameterError, match=r"p_attention"):
        DesignRules(p_attention=0.5)  # 0.3 + 0.3 + 0.1 + 0.1 + 0.5 > 1
    from aievo.errors import ScenarioError

    data = {"scenario": {"kind": "evolving_mesa", "generations": 5}, "locking": {"eta": 0.1},
            "design": {"root": {"learner": "Transformer", "x_halfwidth": 0.75}}}
    with pytest.raises(ScenarioError, match=r"design\.root: x_halfwidth=0\.75"):
        ae.load_scenario(data)
    X, y, xq, _ = TaskDistribution(d=3).sample(np.random.default_rng(0), 4)
    with pytest.raises(ShapeError, match=r"X\.shape"):
        Transformer(1.0).predict(X, y, xq)
    from aievo.mesa.nn import TrainedTransformer, TransformerConfig

    lds = TrainedTransformer(TransformerConfig(attention=("linear",), token_format="lds_raw", data_dim=2), params={})
    X, y, xq, _ = TaskDistribution().sample(np.random.default_rng(0), 4)
    with pytest.raises(InvalidParameterError, match=r"token_format"):
        tf.numpy_predict(lds, X, y, xq)


def test_identical_evaluator_and_deployment_give_identical_runs_with_transformers():
    dist = TaskDistribution(x_halfwidth=1.5)
    rules = DesignRules(K_max=2, p_attention=0.1, p_precondition=0.0, detector=InputRange(1.5))
    res = run_experiment(ExperimentConfig(proxy=dist, deployment=dist, rules=rules, root=Transformer(1.0),
                                          generations=60, draws=100, name="same"))
    h, o = res.runs["human_judged"], res.runs["objective"]
    np.testing.assert_array_equal(h.graph.fitness, o.graph.fitness)
    np.testing.assert_array_equal(h.trajectory.shares, o.trajectory.shares)
    for k in h.trajectory.trait_means:
        np.testing.assert_array_equal(h.trajectory.trait_means[k], o.trajectory.trait_means[k])
    np.testing.assert_array_equal(res.measured["deception"], 0.0)


def test_aievo_run_on_the_transformer_scenario_prints_the_documented_table(tmp_path, capsys):
    from aievo.cli import main
    from aievo.figures.evolving import transformer_config

    sc = ae.load_scenario(SCENARIO)
    cfg = transformer_config()  # what the figure draws
    for key in ("proxy", "deployment", "rules", "root", "generations", "eta", "draws", "seed"):
        assert getattr(sc.config, key) == getattr(cfg, key), key
    assert main(["run", str(SCENARIO), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {}
    for name in ("human_judged", "objective"):
        m = re.search(rf"^  {name}\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(.+) \((\S+)\)$", out, re.M)
        assert m, out
        rows[name] = [float(m[i]) for i in (1, 2, 3, 4, 5)]
    # the divergence: under human judgement deployment loss explodes, capability falls and deception rises
    assert rows["human_judged"][1] > 1e3 * rows["human_judged"][0]
    assert rows["human_judged"][3] > rows["objective"][3] + 0.3
    assert rows["objective"][2] > rows["human_judged"][2] + 0.3
    assert (tmp_path / "evolving_transformers.png").stat().st_size > 10_000
    page = (ROOT / "docs" / "evolving-mesa-optimizers.md").read_text()
    head = "$ aievo run examples/scenarios/evolving_transformers.toml\n"
    quoted = page[page.index(head) + len(head):].split("```", 1)[0]
    printed = "".join(line + "\n" for line in out.splitlines() if not line.startswith("  wrote "))
    assert quoted == printed


def test_figure_marks_the_softmax_transformers():
    from aievo.figures import REGISTRY, accepts_retrain
    from aievo.figures.evolving import evolving_mesa_transformers

    assert REGISTRY["evolving_mesa_transformers"].group == "evolving"
    assert accepts_retrain("evolving_mesa_transformers")
    fig = evolving_mesa_transformers(quick=True)
    pts = {c.get_gid(): c.get_offsets() for ax in fig.axes for c in ax.collections if c.get_gid()}
    # the quick figure measures 200 tasks of seed 0: the same sample here
    ev = _evaluator(draws=200)
    want = []
    for L, h in itertools.product(tf.LAYERS, tf.HALFWIDTHS):
        v = Transformer(h, L, "softmax")
        c = ev.measure(v, "deployment").score
        want.append((c, ev.measure(v, "proxy").score - c))
    np.testing.assert_allclose(sorted(map(tuple, pts["softmax_learners"])), sorted(want), rtol=0, atol=1e-12)
    assert len(pts["learners"]) == 6


@pytest.mark.slow
@pytest.mark.parametrize("member", MEMBERS)
def test_retraining_reproduces_the_shipped_checkpoint(member):
    """Retrain one member from its recipe (about 10 s alone): the training run's final evaluation loss
    within 10% and the measured proxy and deployment scores within 0.02 of the shipped model's. Same-machine
    retraining is expected to be bitwise equal; the tolerances allow float32 training on another XLA build,
    whose last-bit differences 2000 Adam steps can grow into small weight differences."""
    pytest.importorskip("jax")
    a, L, h = member
    shipped, fresh = Transformer(h, L, a), Transformer(h, L, a, retrain=True)
    assert fresh.model().history["eval_loss"][-1] == pytest.approx(
        shipped.model().history["eval_loss"][-1], rel=0.1)
    ev = _evaluator()
    for which in ("proxy", "deployment"):
        assert ev.measure(fresh, which).score == pytest.approx(ev.measure(shipped, which).score, abs=0.02)
