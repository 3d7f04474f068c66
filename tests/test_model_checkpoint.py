"""model.save / rnnrs.load, exact resume of training, and the PyTorch interchange."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import rnnrs
from rnnrs import CheckpointError
from rnnrs.io.checkpoint import MODEL_JSON, VERSION, checkpoint_folder
from rnnrs.models.registry import load as registry_load
from rnnrs.models.registry import model_kinds, register_model


def corpus_ids(n: int = 3000, vocab: int = 11, seed: int = 0) -> np.ndarray:
    """A learnable stream: a noisy repeating pattern."""
    rng = np.random.default_rng(seed)
    ids = np.tile(np.arange(vocab), n // vocab + 1)[:n]
    noise = rng.random(n) < 0.1
    ids[noise] = rng.integers(0, vocab, noise.sum())
    return ids.astype(np.uint32)


def small_model(**kw: object) -> rnnrs.RNNLM:
    args: dict = {"cell": "lstm", "hidden_size": 12, "num_layers": 2, "embed_size": 6, "seed": 3}
    args.update(kw)
    return rnnrs.RNNLM(11, **args)


def test_save_load_round_trip_with_tokenizer(tmp_path: Path) -> None:
    tok = rnnrs.CharTokenizer.fit("abcdefghij")
    model = small_model(tokenizer=tok)
    model.save(tmp_path / "ck")
    back = rnnrs.load(tmp_path / "ck")
    assert back.config == model.config
    for name, value in model.parameters().items():
        np.testing.assert_array_equal(back.parameters()[name], value, err_msg=name)
    assert back.tokenizer.encode("cab").tolist() == tok.encode("cab").tolist()
    x = tok.encode("abcabc")[None, :]
    np.testing.assert_array_equal(back.logits(x)[0], model.logits(x)[0])
    with pytest.raises(CheckpointError, match="no training state"):
        rnnrs.load_training_state(tmp_path / "ck")


def test_safetensors_file_carries_pytorch_names(tmp_path: Path) -> None:
    model = small_model(tie_weights=True, embed_size=12)
    model.save(tmp_path)
    names = set(rnnrs.io.safetensors.load_safetensors(tmp_path / "model.safetensors"))
    assert names == set(model.parameters())
    assert "rnn.weight_hh_l1" in names and "output.weight" not in names


def test_mismatched_tokenizer_is_refused(tmp_path: Path) -> None:
    model = small_model(tokenizer=rnnrs.CharTokenizer.fit("abcdefghij"))
    model.save(tmp_path)
    doc = json.loads((checkpoint_folder(tmp_path) / MODEL_JSON).read_text())
    doc["tokenizer"]["chars"] = list("abc")
    (checkpoint_folder(tmp_path) / MODEL_JSON).write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="tokenizer has 4 tokens but the model 11"):
        rnnrs.load(tmp_path)
    doc["tokenizer"]["kind"] = "sentencepiece"
    (checkpoint_folder(tmp_path) / MODEL_JSON).write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="sentencepiece"):
        rnnrs.load(tmp_path)


def test_load_dispatches_on_the_kind_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    small_model().save(tmp_path)
    doc = json.loads((checkpoint_folder(tmp_path) / MODEL_JSON).read_text())
    assert doc["kind"] == "RNNLM" and rnnrs.load is registry_load
    assert type(rnnrs.load(tmp_path)) is rnnrs.RNNLM
    (checkpoint_folder(tmp_path) / MODEL_JSON).write_text(
        json.dumps({**doc, "kind": "SequenceTagger"})
    )
    with pytest.raises(CheckpointError, match=r"kind 'SequenceTagger'.*it loads 'RNNLM'"):
        rnnrs.load(tmp_path)


def test_a_kind_belongs_to_one_class() -> None:
    class Impostor(rnnrs.RNNLM):
        kind = "RNNLM"

    with pytest.raises(ValueError, match="already the kind of RNNLM"):
        register_model(Impostor)
    with pytest.raises(TypeError, match="from_checkpoint"):
        register_model(type("NoKind", (), {"kind": "NoKind"}))
    assert "NoKind" not in model_kinds()


def test_newer_version_and_inconsistent_config(tmp_path: Path) -> None:
    small_model().save(tmp_path)
    doc = json.loads((checkpoint_folder(tmp_path) / MODEL_JSON).read_text())
    (checkpoint_folder(tmp_path) / MODEL_JSON).write_text(
        json.dumps({**doc, "version": VERSION + 1})
    )
    with pytest.raises(CheckpointError, match="newer rnnrs"):
        rnnrs.load(tmp_path)
    (checkpoint_folder(tmp_path) / MODEL_JSON).write_text(
        json.dumps({**doc, "config": {**doc["config"], "hidden_size": 13}})
    )
    with pytest.raises(CheckpointError, match="do not fit"):
        rnnrs.load(tmp_path)


def test_a_tokenizer_that_cannot_be_saved_is_a_clear_error(tmp_path: Path) -> None:
    class Plain:
        def encode(self, text: str) -> list[int]:
            return [0]

        def decode(self, ids: list[int]) -> str:
            return ""

    with pytest.raises(TypeError, match="Plain cannot be saved"):
        small_model(tokenizer=Plain()).save(tmp_path)
    assert not any(tmp_path.iterdir())


def make_trainer(model: rnnrs.RNNLM) -> rnnrs.Trainer:
    return rnnrs.Trainer(
        model, rnnrs.Adam(lr=0.01), bptt=7, batch_size=4, eval_every=10, progress=False
    )


def test_resumed_training_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    ids = corpus_ids()
    train, valid = ids[:2600], ids[2600:]
    # Uninterrupted: 50 steps (dropout on, so the RNG state matters too).
    a = small_model(dropout=0.2)
    ta = make_trainer(a)
    full = ta.fit(train, valid, max_steps=50)
    # Interrupted after 30 steps (mid-epoch: 92 chunks per epoch), saved, loaded, resumed.
    b = small_model(dropout=0.2)
    tb = make_trainer(b)
    first = tb.fit(train, valid, max_steps=30)
    b.save(tmp_path / "ck", trainer=tb)
    c = rnnrs.load(tmp_path / "ck")
    tc = make_trainer(c)
    tc.load_state_dict(rnnrs.load_training_state(tmp_path / "ck")["trainer"])
    rest = tc.fit(train, valid, max_steps=20)
    assert tc.step == 50
    assert [r["valid_loss"] for r in [*first, *rest]] == [r["valid_loss"] for r in full]
    assert [r["train_loss"] for r in [*first, *rest]] == [r["train_loss"] for r in full]
    for name, value in ta.model.parameters().items():
        np.testing.assert_array_equal(c.parameters()[name], value, err_msg=name)


def test_resume_with_other_data_or_optimizer_is_refused(tmp_path: Path) -> None:
    ids = corpus_ids()
    model = small_model()
    trainer = make_trainer(model)
    trainer.fit(ids, max_steps=40)
    state = trainer.state_dict()
    other = rnnrs.Trainer(model, rnnrs.SGD(lr=0.1), bptt=7, batch_size=4, progress=False)
    with pytest.raises(ValueError, match="saved with optimizer"):
        other.load_state_dict(state)
    same = make_trainer(model)
    same.load_state_dict(state)
    with pytest.raises(ValueError, match="same data"):
        same.fit(ids[:200], max_steps=1)


# ---------------------------------------------------------------------- PyTorch


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_torch_state_dict_round_trip(cell: str) -> None:
    model = small_model(cell=cell)
    sd = model.to_torch_state_dict()
    back = rnnrs.RNNLM.from_torch_state_dict(sd, cell="rnn_relu" if cell == "rnn_relu" else None)
    assert back.config == {**model.config, "seed": 0}
    for name, value in model.parameters().items():
        np.testing.assert_array_equal(back.parameters()[name], value)


@pytest.mark.parametrize(("cell", "tie"), [("lstm", False), ("gru", True), ("rnn_tanh", False)])
def test_torch_module_gives_the_same_logits(cell: str, tie: bool) -> None:
    torch = pytest.importorskip("torch")
    from rnnrs.io.torch_interop import torch_module

    model = small_model(cell=cell, tie_weights=tie, embed_size=12 if tie else 6)
    module = torch_module(model.config)
    missing = module.load_state_dict(
        {k: torch.from_numpy(v) for k, v in model.to_torch_state_dict().items()}
    )
    assert not missing.missing_keys and not missing.unexpected_keys
    module.eval()
    x = corpus_ids(40)[None, :].astype(np.int64).reshape(2, 20)
    ours, state = model.logits(x)
    with torch.no_grad():
        theirs, tstate = module(torch.from_numpy(x))
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-4, atol=1e-5)
    h = tstate[0] if cell == "lstm" else tstate
    np.testing.assert_allclose(state[0], h.numpy(), rtol=1e-4, atol=1e-5)
    # ... and a torch-trained module comes back.
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.01)
    back = rnnrs.RNNLM.from_torch_state_dict(module.state_dict())
    assert back.config["tie_weights"] is tie
    with torch.no_grad():
        expected = module(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(back.logits(x)[0], expected, rtol=1e-4, atol=1e-5)


def test_safetensors_checkpoint_loads_into_torch(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    from rnnrs.io.torch_interop import torch_module

    model = small_model(cell="gru")
    model.save(tmp_path)
    module = torch_module(model.config)
    module.load_state_dict(st_torch.load_file(str(tmp_path / "model.safetensors")))
    x = np.array([[1, 2, 3, 4]])
    with torch.no_grad():
        theirs = module(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(model.logits(x)[0], theirs, rtol=1e-4, atol=1e-5)
