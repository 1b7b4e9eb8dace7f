"""Configs as data: validation, JSON round trip, official defaults, lazy JAX import."""

import dataclasses
import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aievo.errors import AievoError, InvalidParameterError
from aievo.mesa.nn.config import (
    ATTENTION_KINDS,
    LDSTask,
    OptimConfig,
    RegressionTask,
    TransformerConfig,
    official_setup,
    task_from_dict,
)


@st.composite
def configs(draw):
    fmt = draw(st.sampled_from(["regression", "lds_constructed", "lds_raw"]))
    kinds = ATTENTION_KINDS if fmt != "regression" else ("linear", "softmax")
    n = draw(st.integers(1, 3))
    att = tuple(draw(st.sampled_from(kinds)) for _ in range(n))
    heads = draw(st.one_of(st.integers(1, 4), st.tuples(*[st.integers(1, 4)] * n)))
    proj = draw(st.booleans())
    return TransformerConfig(
        attention=att, heads=heads, key_size=draw(st.integers(1, 8)), token_format=fmt,
        data_dim=draw(st.integers(1, 6)), embed_dim=draw(st.integers(8, 16)) if proj else None,
        input_proj=proj, output_proj=proj, mlp_hidden=draw(st.sampled_from([0, 8])),
        layer_norm=draw(st.booleans()), pos_encoding=draw(st.sampled_from(["none", "input", "kq"])),
        act_clip=draw(st.one_of(st.none(), st.floats(0.5, 10))),
        init=draw(st.sampled_from(["normal", "variance_scaling"])),
    )


@given(configs())
def test_transformer_config_json_round_trip(cfg):
    text = cfg.to_json()
    back = TransformerConfig.from_json(text)
    assert back == cfg and hash(back) == hash(cfg)
    assert json.loads(text)["type"] == "TransformerConfig"


def test_other_configs_round_trip():
    for obj in (OptimConfig(), OptimConfig(decay_steps=None, clip=None), LDSTask(kind="contracting"),
                RegressionTask(d=3, N=7)):
        assert type(obj).from_json(obj.to_json()) == obj
    assert task_from_dict({"type": "LDSTask", **LDSTask(D=3).to_dict()}) == LDSTask(D=3)


@pytest.mark.parametrize(
    "kw, name",
    [
        (dict(attention=("linear", "relu")), "attention[1]"),
        (dict(attention=()), "attention"),
        (dict(heads=(1, 2, 3)), "heads"),
        (dict(key_size=0), "key_size"),
        (dict(token_format="tokens"), "token_format"),
        (dict(embed_dim=64), "input_proj"),
        (dict(token_format="lds_raw", embed_dim=5, input_proj=True), "output_proj"),
        (dict(token_format="regression", attention=("mesa",)), "attention"),
        (dict(act_clip=-1.0), "act_clip"),
        (dict(pos_encoding="rope"), "pos_encoding"),
        (dict(init="xavier"), "init"),
        (dict(layer_norm=1), "layer_norm"),
    ],
)
def test_bad_config_names_the_field(kw, name):
    with pytest.raises(InvalidParameterError, match=rf"{name.replace('[', '.').replace(']', '.')}"):
        TransformerConfig(**kw)


def test_unknown_field_in_json_is_an_error():
    data = TransformerConfig().to_dict() | {"dropout": 0.1}
    with pytest.raises(InvalidParameterError, match="dropout"):
        TransformerConfig.from_dict(data)
    with pytest.raises(InvalidParameterError, match="type"):
        TransformerConfig.from_json(OptimConfig().to_json())


def test_official_defaults():
    b = official_setup("vonoswald2023b_lds")
    assert b.model.attention == ("linear", "linear") and b.model.heads == 4 and b.model.key_size == 20
    assert b.model.token_width == 40 and b.model.act_clip == 1.5 and b.model.init_scale == 2e-4
    assert (b.optim.lr, b.optim.warmup_steps, b.optim.decay_steps, b.optim.end_lr) == (3e-4, 1000, 20000, 1e-5)
    assert (b.optim.weight_decay, b.optim.clip, b.optim.clip_kind) == (0.05, 1.0, "elementwise")
    assert (b.batch_size, b.steps, b.task) == (256, 2500, LDSTask(D=10, T=50, noise=0.01))
    a = official_setup("vonoswald2023a_regression", attention=("linear",) * 4)
    assert a.model.init == "variance_scaling" and a.model.init_scale == pytest.approx(0.002 / 4)
    assert (a.optim.lr, a.optim.b2, a.optim.weight_decay, a.optim.clip_kind) == (1e-3, 0.98, 0.0, "global_norm")
    with pytest.raises(InvalidParameterError, match="name"):
        official_setup("gpt2")


def test_lr_schedule_shape():
    o = OptimConfig()
    assert o.lr_at(0) == 0.0 and o.lr_at(500) == pytest.approx(1.5e-4)
    assert o.lr_at(1000) == pytest.approx(3e-4) and o.lr_at(20000) == pytest.approx(1e-5)
    assert o.lr_at(30000) == pytest.approx(1e-5)
    assert OptimConfig(warmup_steps=0, decay_steps=None).lr_at(7) == 3e-4


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TransformerConfig().key_size = 3


def test_importing_mesa_does_not_import_jax():
    code = ("import sys, aievo, aievo.mesa, aievo.mesa.nn; c = aievo.mesa.TransformerConfig(); "
            "print('jax' in sys.modules, 'optax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_missing_jax_names_the_extra():
    code = (
        "import sys; sys.modules['jax'] = None\n"
        "import aievo.mesa as m\n"
        "try:\n    m.train_transformer\nexcept ImportError as e:\n"
        "    from aievo.errors import AievoError; print(isinstance(e, AievoError)); print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, msg = out.stdout.split("\n", 1)
    assert first == "True" and 'pip install "aievo[jax]"' in msg
    assert issubclass(__import__("aievo.mesa.nn", fromlist=["x"]).MissingExtraError, AievoError)
