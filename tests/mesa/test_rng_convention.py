"""One ``rng=`` convention across aievo.mesa, and the renamed keywords that still work for a release.

Every public mesa function that draws random numbers takes ``rng=`` and accepts what
:func:`numpy.random.default_rng` accepts. For the functions below the identity
``f(rng=s) == f(rng=default_rng(s)) == f(rng=SeedSequence(s))`` holds exactly: each turns
``rng`` into one Generator at entry (``as_rng``) and draws only from it, and an int ``s``, a
fresh ``default_rng(s)`` and ``SeedSequence(s)`` all give the same PCG64 state. It does not
hold for ``rng=None`` (fresh OS entropy each call) nor for a Generator that has already been
drawn from (its state has moved on); a Generator passed in is used, and advanced, in place.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aievo.errors import InvalidParameterError
from aievo.mesa import faithfulness, tasks, train
from aievo.mesa import regressors as R
from aievo.mesa._checks import as_rng


def _lds_states(rng):
    inputs, targets, _ = tasks.sample_lds(0, 2, 3, 4)
    return tasks.observe(np.concatenate([inputs, targets[:, -1:]], axis=1), 2, rng=rng)


#: name -> f(rng) returning arrays; each draws only from as_rng(rng)
DRAWS = {
    "sample_regression_tasks": lambda rng: tasks.sample_regression_tasks(rng, 3, 2, 4, noise=0.1),
    "sample_sine_tasks": lambda rng: tasks.sample_sine_tasks(rng, 3, 4),
    "haar_orthogonal": lambda rng: tasks.haar_orthogonal(rng, 2, 3),
    "sample_lds orthogonal": lambda rng: tasks.sample_lds(rng, 2, 3, 4),
    "sample_lds contracting": lambda rng: tasks.sample_lds(rng, 2, 3, 4, kind="contracting"),
    "observe": _lds_states,
    "icl_sequences": lambda rng: tasks.icl_sequences(rng, 2, 3, 2, noise=0.1),
    "lsa_init": lambda rng: train.lsa_init(3, rng),
    "linear_tf_init": lambda rng: train.linear_tf_init(2, 1, 1, 2, rng=rng),
    "sample_lsa_split": lambda rng: faithfulness.sample_lsa_split(rng, 3, 2, 4, law="laplace"),
}


def test_train_lsa_int_generator_and_seedsequence_train_identically():
    """train_lsa draws only from as_rng(rng) too (its three streams are spawned from it)."""
    pytest.importorskip("jax")

    def run(rng):
        r = train.train_lsa(d=2, N=3, steps=3, batch=4, eval_every=1, eval_tasks=8, rng=rng)
        return _flat((r.params, r.train_loss, r.eval_loss))

    ref = run(7)
    for rng in (np.random.default_rng(7), np.random.SeedSequence(7)):
        for a, b in zip(run(rng), ref):
            np.testing.assert_array_equal(a, b)


def _flat(out):
    if isinstance(out, dict):
        return [np.asarray(out[k]) for k in sorted(out)]
    if isinstance(out, (list, tuple)):
        return [a for item in out for a in _flat(item)]
    return [np.asarray(out)]


@settings(deadline=None, max_examples=15)
@given(seed=st.integers(0, 2**63), name=st.sampled_from(sorted(DRAWS)))
def test_int_generator_and_seedsequence_give_identical_draws(seed, name):
    f = DRAWS[name]
    ref = _flat(f(seed))
    for rng in (np.random.default_rng(seed), np.random.SeedSequence(seed)):
        got = _flat(f(rng))
        assert len(got) == len(ref)
        for a, b in zip(got, ref):
            np.testing.assert_array_equal(a, b)  # the same stream: bit for bit


def test_as_rng_accepts_what_default_rng_accepts():
    g = np.random.default_rng(5)
    assert as_rng(g) is g  # a Generator is used as is
    x = np.random.default_rng(5).random(3)
    for rng in (5, np.int64(5), np.random.SeedSequence(5), np.random.PCG64(5)):
        np.testing.assert_array_equal(as_rng(rng).random(3), x)
    np.testing.assert_array_equal(as_rng([1, 2]).random(3), np.random.default_rng([1, 2]).random(3))
    assert isinstance(as_rng(None), np.random.Generator)
    assert as_rng(None).random() != as_rng(None).random()  # fresh entropy each time


@pytest.mark.parametrize("bad", [-1, True, 1.5, "7", [], [-2], [1.5], object()])
def test_as_rng_refuses_what_default_rng_refuses_or_misreads(bad):
    with pytest.raises(InvalidParameterError, match="SeedSequence"):
        as_rng(bad)


def test_mesa_functions_take_rng_none_and_seedsequence():
    X, y, xq, yq, w = tasks.sample_regression_tasks(None, 2, 2, 3)
    assert X.shape == (2, 3, 2)
    a = faithfulness.sample_lsa_split(np.random.SeedSequence(1), 2, 2, 3)
    b = faithfulness.sample_lsa_split(1, 2, 2, 3)
    np.testing.assert_array_equal(a[0], b[0])


# ---------------------------------------------------------------------------- renamed keywords
def test_regressor_seed_keyword_is_deprecated_for_random_state():
    with pytest.warns(DeprecationWarning, match=r"get_regressor\(seed=\.\.\.\) is deprecated: use random_state="):
        old = R.get_regressor("random", seed=17)
    new = R.get_regressor("random", random_state=17)
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10.0)
    np.testing.assert_array_equal(old.fit(X, y).predict(X), new.fit(X, y).predict(X))
    with pytest.warns(DeprecationWarning, match=r"SklearnRegressor\(seed=\.\.\.\)"):
        assert R.SklearnRegressor("ridge", seed=4).random_state == 4
    with pytest.warns(DeprecationWarning, match=r"get_icl_regressor\(seed="):
        R.get_icl_regressor("icl_ridge", seed=0)
    with pytest.raises(InvalidParameterError, match="not both"):
        R.get_regressor("random", seed=1, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new keyword warns about nothing
        R.get_regressor("ridge", random_state=3)


@given(st.integers(0, 2**32 - 1), st.integers(1, 5))
def test_spawn_gives_the_children_of_generator_spawn(seed, n):
    from aievo.mesa._checks import spawn

    ours = [g.random(3) for g in spawn(np.random.default_rng(seed), n)]
    bg = np.random.default_rng(seed).bit_generator
    # the same children built by hand from the seed sequence, as numpy < 1.25 needs
    theirs = [np.random.Generator(type(bg)(s)).random(3) for s in bg._seed_seq.spawn(n)]
    np.testing.assert_array_equal(ours, theirs)
