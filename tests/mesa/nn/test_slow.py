"""Long checks of trained JAX transformers against published values and GD (``-m slow``)."""

import numpy as np
import pytest

import aievo.mesa as m

pytest.importorskip("jax")

pytestmark = pytest.mark.slow


def test_trained_one_layer_lsa_matches_one_gd_step():
    """Official 2023a setup (5000 steps at batch 512 instead of 50000 at 2048): loss and predictions of 1-step GD.

    Measured once: TF 0.2079, GD 0.2074 (best eta 6.1) on 20000 tasks, mean |yhat_TF - yhat_GD| 0.025
    (mean |y| 0.72); 207 s on the shared 2-core machine.
    """
    s = m.official_setup("vonoswald2023a_regression")
    res = m.train_transformer(s.model, s.task, 5000, 512, 0, eval_every=1000, eval_sequences=2048)
    X, y, xq, yq, _ = m.sample_regression_tasks(7, 20000)
    tf = res.predict(m.concat_tokens(X, y, xq))[:, 0, 0]
    eta, gd_loss, _ = m.scan_eta(X, y, xq, yq)
    gd = m.gd_steps(X, y, xq, eta, 1)
    # Monte-Carlo tolerance of the reference check values at 20k tasks: +-0.015
    assert abs(m.regression_loss(tf, yq) - gd_loss) < 0.015
    assert np.mean(np.abs(tf - gd)) < 0.1 * np.mean(np.abs(yq))


def test_trained_one_layer_linear_tf_on_lds_is_at_least_one_gd_step():
    """Official LDS task, 1 layer x 2 heads (key size 20), 800 steps at batch 64, lr 2e-3 with warm-up + cosine.

    Measured once (2000 held-out sequences): TF mean 0.834, Prop-1 GD at the grid-best global eta 0.032
    mean 0.901; the TF is below GD at every position, by at most 0.12 (t = 18): with two heads it finds
    a slightly better one-layer algorithm than one GD step with a single step size. 61 s.
    """
    task = m.LDSTask()
    cfg = m.TransformerConfig(attention=("linear",), heads=2, key_size=20, init_scale=0.02)
    opt = m.OptimConfig(lr=2e-3, warmup_steps=30, decay_steps=800, end_lr=2e-5)
    res = m.train_transformer(cfg, task, 800, 64, 0, optim=opt, eval_every=200)
    inputs, targets = task.sample(np.random.default_rng(11), 2000)
    tf = m.sequence_loss(res.predict(inputs), targets)
    eta, gd_mean, _ = m.scan_eta_sequence(inputs, targets)
    gd = m.sequence_loss(m.gd_sequence_predict(inputs, eta), targets)
    assert np.all(tf <= gd + 0.02)  # Monte-Carlo tolerance per position at 2000 sequences
    assert gd_mean - 0.15 < tf.mean() <= gd_mean


def test_official_two_layer_linear_tf_reaches_the_published_curve():
    """Official 2023b setup (2 layers x 4 linear heads, official init, optimiser and schedule), 2500 steps, batch 256.

    Published (official run_sandbox, 5 seeds x 256 sequences): mean over positions 0.431, t = 0: 1.677,
    t = 49: 0.273. Measured once (seed 0, 1280 sequences): mean 0.426, t = 0: 1.666, t = 49: 0.228;
    40 min on the shared 2-core machine under load 10-25, 6 min (361 s) when it was idle.
    Tolerance: the evaluation's Monte-Carlo s.d. at 1280 sequences is 0.0055 (other evaluation seeds gave 0.431, 0.436, 0.443); 0.03 also allows for
    the spread over training seeds, which the published value averages over.
    """
    s = m.official_setup("vonoswald2023b_lds")
    res = m.train_transformer(s.model, s.task, s.steps, s.batch_size, 0)
    pp = m.evaluate(res, s.task, 5 * 256, 100)
    assert abs(pp.mean() - 0.431) < 0.03
    assert abs(pp[0] - 1.677) < 0.05  # the zero predictor's 1.667: nothing to learn from at t = 0
    assert pp[-1] < 0.35
