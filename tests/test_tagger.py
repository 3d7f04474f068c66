"""rnnrs.SequenceTagger through its public API on the active backend: it learns (synthetic
POS-like and BIO entity tasks, a slice of UD EWT), predicts the same alone or in a batch,
evaluates with entity scores, saves and loads, and rejects bad input clearly."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rnnrs
from rnnrs.text.tasks import read_conll, read_conllu

NOUNS = ["dog", "cat", "bird", "fish", "horse", "cow"]
VERBS = ["runs", "sleeps", "eats", "sees", "likes"]
DETS = ["the", "a", "this"]
NAMES = {"LOC": ["Paris", "Berlin", "Munich", "Tokyo"], "PER": ["Pankaj", "Maria", "Ana", "Li"]}


def synthetic_pos(n: int, seed: int) -> tuple[list[list[str]], list[list[str]]]:
    """Sentences DET NOUN VERB [DET NOUN]; "fish" is a NOUN after a DET and a VERB after a
    NOUN (context decides)."""
    rng = np.random.default_rng(seed)
    sents, tags = [], []
    for _ in range(n):
        s = [str(rng.choice(DETS)), str(rng.choice(NOUNS))]
        t = ["DET", "NOUN"]
        s.append("fish" if rng.random() < 0.3 else str(rng.choice(VERBS)))
        t.append("VERB")
        if rng.random() < 0.5:
            s += [str(rng.choice(DETS)), str(rng.choice(NOUNS))]
            t += ["DET", "NOUN"]
        sents.append(s)
        tags.append(t)
    return sents, tags


def synthetic_ner(n: int, seed: int) -> tuple[list[list[str]], list[list[str]]]:
    """Fillers with one- or two-word names of places and people."""
    rng = np.random.default_rng(seed)
    sents, tags = [], []
    fillers = ["we", "went", "to", "see", "in", "and", "then", "home"]
    for _ in range(n):
        s: list[str] = []
        t: list[str] = []
        for _ in range(int(rng.integers(3, 7))):
            if rng.random() < 0.3:
                kind = "LOC" if rng.random() < 0.5 else "PER"
                width = int(rng.integers(1, 3))
                s += [str(rng.choice(NAMES[kind])) for _ in range(width)]
                t += [f"B-{kind}"] + [f"I-{kind}"] * (width - 1)
            else:
                s.append(str(rng.choice(fillers)))
                t.append("O")
        sents.append(s)
        tags.append(t)
    return sents, tags


def make(sents: list[list[str]], tags: list[list[str]], **kw: Any) -> rnnrs.SequenceTagger:
    tok = rnnrs.WordTokenizer.fit(" ".join(s) for s in sents)
    tag_set = sorted({t for row in tags for t in row})
    args: dict[str, Any] = {
        "embed_size": 16,
        "hidden_size": 16,
        "char_embed_size": 8,
        "char_hidden_size": 8,
    }
    args.update(kw)
    return rnnrs.SequenceTagger(tok, tag_set, **args)


@pytest.mark.parametrize(
    "char_encoder,output", [(None, "softmax"), ("lstm", "softmax"), ("cnn", "crf")]
)
def test_learns_context_well_above_the_majority_tag(char_encoder: Any, output: str) -> None:
    sents, tags = synthetic_pos(200, 0)
    tagger = make(sents, tags, char_encoder=char_encoder, output=output)
    tagger.fit(sents, tags, epochs=6, batch_size=16, optimizer=rnnrs.Adam(lr=0.02))
    dev_s, dev_t = synthetic_pos(60, 1)
    result = tagger.evaluate(dev_s, dev_t)
    majority = Counter(t for row in dev_t for t in row).most_common(1)[0][1] / result.tokens
    assert result.accuracy > 0.97 > majority + 0.5
    assert result.f1 is None  # not an entity tag set


def test_crf_tagger_finds_entities_and_reports_entity_scores() -> None:
    sents, tags = synthetic_ner(300, 2)
    tagger = make(sents, tags, char_encoder="lstm", output="crf")
    history = tagger.fit(
        sents,
        tags,
        valid=synthetic_ner(50, 3),
        epochs=6,
        batch_size=16,
        optimizer=rnnrs.Adam(lr=0.02),
        monitor="f1",
    )
    assert history[-1]["f1"] is not None
    dev_s, dev_t = synthetic_ner(80, 4)
    result = tagger.evaluate(dev_s, dev_t)
    assert result.f1 is not None and result.f1 > 0.8
    assert set(result.per_type) == {"LOC", "PER"}
    assert "LOC" in result.table()
    # decoding is constrained: no I- tag follows O or starts a sentence
    for row in tagger.predict(dev_s):
        for prev, cur in zip(["O", *row], row):
            assert not (cur.startswith("I-") and prev[2:] != cur[2:])


def test_a_sentence_gets_the_same_tags_alone_or_in_a_batch() -> None:
    sents, tags = synthetic_pos(30, 5)
    tagger = make(sents, tags, char_encoder="lstm", output="crf", seed=3)
    together = tagger.predict(sents)
    assert [tagger.predict([s])[0] for s in sents] == together
    assert all(len(p) == len(s) for p, s in zip(together, sents))


def test_save_load_round_trip_gives_identical_predictions(tmp_path: Path) -> None:
    sents, tags = synthetic_ner(40, 6)
    tagger = make(sents, tags, char_encoder="cnn", output="crf", seed=2)
    tagger.fit(sents, tags, epochs=1, batch_size=8)
    tagger.save(tmp_path / "m")
    loaded = rnnrs.load(tmp_path / "m")
    assert isinstance(loaded, rnnrs.SequenceTagger)
    assert loaded.config == tagger.config
    assert loaded.predict(sents) == tagger.predict(sents)
    for name, value in tagger.to_torch_state_dict().items():
        np.testing.assert_array_equal(loaded.parameters()[name], value)


def test_bad_input_is_a_clear_error() -> None:
    sents, tags = synthetic_pos(10, 7)
    tagger = make(sents, tags)
    with pytest.raises(ValueError, match=r"tags\[0\]: unknown tag 'ADJ'"):
        tagger.evaluate(sents[:1], [["ADJ"] * len(sents[0])])
    with pytest.raises(ValueError, match=r"sentences\[1\]: the sentence has no tokens"):
        tagger.predict([["a"], []])
    with pytest.raises(ValueError, match=r"tags\[0\]: expected 3 tags"):
        tagger.evaluate([["a", "b", "c"]], [["DET"]])
    with pytest.raises(TypeError, match="list of tokens"):
        tagger.predict(["the dog runs"])
    tok = rnnrs.WordTokenizer.fit(["a b"])
    with pytest.raises(ValueError, match="char_encoder"):
        rnnrs.SequenceTagger(tok, ["X", "Y"], char_encoder="gru")
    with pytest.raises(ValueError, match="output"):
        rnnrs.SequenceTagger(tok, ["X", "Y"], output="hmm")
    with pytest.raises(ValueError, match="at least two tags"):
        rnnrs.SequenceTagger(tok, ["X"])


def test_unknown_words_and_characters_are_tagged() -> None:
    sents, tags = synthetic_pos(10, 8)
    tagger = make(sents, tags, char_encoder="lstm")
    (out,) = tagger.predict([["the", "zebra", "ëats", "€"]])
    assert len(out) == 4 and set(out) <= set(tagger.tags)


def test_ud_ewt_slice_learns_upos_well_above_the_majority_tag(shared_data: Path) -> None:
    train = read_conllu(shared_data / "ud-ewt" / "train.conllu")
    dev = read_conllu(shared_data / "ud-ewt" / "dev.conllu")
    sents, tags = train.tokens[:600], train.tags
    assert tags is not None and dev.tags is not None
    tagger = make(sents, tags[:600], char_encoder="cnn", embed_size=32, hidden_size=32)
    tagger.fit(sents, tags[:600], epochs=3, batch_size=16, optimizer=rnnrs.Adam(lr=0.01))
    dev_s = [s for s in dev.tokens[:150]]
    dev_t = [t for t in dev.tags[:150]]
    seen = set(tagger.tags)
    kept = [(s, t) for s, t in zip(dev_s, dev_t) if set(t) <= seen]
    result = tagger.evaluate([s for s, _ in kept], [t for _, t in kept])
    majority = Counter(t for _, row in kept for t in row).most_common(1)[0][1] / result.tokens
    assert result.accuracy > majority + 0.35


def test_wnut_reader_feeds_the_tagger(shared_data: Path) -> None:
    data = read_conll(shared_data / "wnut17" / "dev.conll")
    assert data.tags is not None
    tagger = make(data.tokens[:50], data.tags[:50], output="crf")
    result = tagger.evaluate(data.tokens[:50], data.tags[:50])
    assert result.f1 is not None and 0.0 <= result.f1 <= 1.0


@pytest.mark.parametrize("char_encoder", ["lstm", "cnn"])
def test_the_torch_module_gives_the_same_scores_loss_and_paths(char_encoder: str) -> None:
    torch = pytest.importorskip("torch")
    from rnnrs.io.torch_tagger import torch_tagger

    sents, tags = synthetic_ner(12, 9)
    tagger = make(sents, tags, char_encoder=char_encoder, output="crf", constrained=False)
    module = torch_tagger(tagger.config, tagger.tokenizer.vocab_size)
    module.load_state_dict(
        {k: torch.from_numpy(v) for k, v in tagger.to_torch_state_dict().items()}
    )
    module.eval()
    data = tagger.tag_batches((sents, tags), 12)
    ids, lengths, tag_arr, chars, cl = data.batch(list(range(12)))
    t = [torch.from_numpy(a.astype(np.int64)) for a in (ids, lengths, tag_arr, chars, cl)]
    with torch.no_grad():
        scores = module(t[0], t[1], t[3], t[4])
        nll = module.crf_nll(scores, t[2], t[1]).item()
        paths = module.viterbi(scores, t[1])
    engine_scores = tagger.engine.emissions(ids, lengths, chars, cl)  # (T, B, K)
    valid = np.arange(ids.shape[1])[None, :] < lengths[:, None]
    np.testing.assert_allclose(
        scores.numpy()[valid], np.transpose(engine_scores, (1, 0, 2))[valid], rtol=1e-4, atol=1e-5
    )
    loss, _ = tagger.engine.loss_and_grads(ids, lengths, tag_arr, chars, cl, train=False)
    assert nll / int(lengths.sum()) == pytest.approx(loss, rel=1e-4)
    assert paths == [[tagger.tags.index(x) for x in row] for row in tagger.predict(sents)]


def test_the_torch_modules_constrained_viterbi_decodes_as_predict() -> None:
    torch = pytest.importorskip("torch")
    from rnnrs.io.torch_tagger import torch_tagger
    from rnnrs.reference.crf import allowed_transitions

    sents, tags = synthetic_ner(12, 4)
    tagger = make(sents, tags, char_encoder="lstm", output="crf")  # constrained by default
    module = torch_tagger(tagger.config, tagger.tokenizer.vocab_size)
    cons = allowed_transitions(tagger.tags)
    assert cons is not None
    # Transitions that favour the forbidden ones (I-X after O, I-X first), so that the
    # constraints decide the paths.
    state = tagger.to_torch_state_dict()
    state["crf.transitions"] = np.where(cons.allowed, 0.0, 20.0).astype(np.float32)
    state["crf.start_transitions"] = np.where(cons.allowed_start, 0.0, 20.0).astype(np.float32)
    tagger.set_parameters(state)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    module.eval()
    ids, lengths, _, chars, cl = tagger.tag_batches((sents, tags), 12).batch(list(range(12)))
    t = [torch.from_numpy(a.astype(np.int64)) for a in (ids, lengths, chars, cl)]
    with torch.no_grad():
        scores = module(t[0], t[1], t[2], t[3])
        plain = module.viterbi(scores, t[1])
        constrained = module.viterbi(scores, t[1], tuple(cons))
    want = [[tagger.tags.index(x) for x in row] for row in tagger.predict(sents)]
    assert constrained == want
    assert plain != want


def test_the_readme_tagging_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shlex

    from rnnrs.cli import main

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Sequence tagging", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    scope: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["result"].f1 > 0.9
    assert isinstance(rnnrs.load(tmp_path / "ner"), rnnrs.SequenceTagger)
    for command in section.split("```bash\n", 1)[1].split("```", 1)[0].splitlines():
        argv = shlex.split(command.split("#", 1)[0])
        assert main(argv[1:]) == 0, command
    assert read_conll(tmp_path / "pred.conll").tokens == read_conll(tmp_path / "dev.conll").tokens


def test_a_resumed_run_trains_exactly_as_an_uninterrupted_one(tmp_path: Path) -> None:
    sents, tags = synthetic_ner(100, 10)

    def run() -> tuple[rnnrs.SequenceTagger, rnnrs.Trainer]:
        tagger = make(sents, tags, char_encoder="lstm", output="crf", dropout=0.3, seed=2)
        return tagger, rnnrs.Trainer(tagger, rnnrs.Adam(lr=3e-3), batch_size=16, progress=False)

    whole, trainer = run()
    trainer.fit((sents, tags), max_steps=10)  # 7 batches per epoch: ends in the second epoch
    first, trainer = run()
    trainer.fit((sents, tags), max_steps=8)
    first.save(tmp_path / "ckpt", trainer=trainer)
    resumed = rnnrs.load(tmp_path / "ckpt")
    again = rnnrs.Trainer(resumed, rnnrs.Adam(lr=3e-3), batch_size=16, progress=False)
    again.load_state_dict(rnnrs.load_training_state(tmp_path / "ckpt")["trainer"])
    again.fit((sents, tags), max_steps=2)
    assert again.step == 10 and again.epochs_done == 1
    for name, value in whole.parameters().items():
        np.testing.assert_array_equal(resumed.parameters()[name], value, err_msg=name)


def test_rare_words_become_unk_in_training_batches_only() -> None:
    sents = [["a", "b", "rare1"], ["a", "b", "rare2"], ["a", "b"]]
    tags = [["X", "Y", "X"], ["X", "Y", "Y"], ["X", "Y"]]
    tagger = make(sents, tags, unk_replace=1.0, char_encoder="lstm")
    data = tagger.tag_batches((sents, tags), 3)
    assert [r.tolist() for r in data.rare] == [
        [False, False, True],
        [False, False, True],
        [False, False],
    ]
    ((ids, lengths, _, chars, _),) = data.epoch_batches(0, [0])
    unk = tagger.tokenizer.unk_id
    rows = {tuple(r[:n].tolist()) for r, n in zip(ids, lengths)}
    a, b = (tagger.tokenizer.token_to_id(w) for w in ("a", "b"))
    assert rows == {(a, b, unk), (a, b)}
    assert (chars > 0).any()  # the characters of a replaced word stay
    (again,) = data.epoch_batches(0, [0])
    np.testing.assert_array_equal(again[0], ids)  # drawn from the seed: the same every time
    batches, _ = data.sorted_batches()  # evaluation sees the words
    assert unk not in np.concatenate([b[0][i, :n] for b in batches for i, n in enumerate(b[1])])
    with pytest.raises(ValueError, match="unk_replace"):
        make(sents, tags, unk_replace=1.5)


def test_pretrained_embeddings_seed_and_can_freeze_the_word_table() -> None:
    sents, tags = synthetic_pos(40, 11)
    vectors = rnnrs.WordVectors(["dog", "cat", "zebra"], np.ones((3, 6), dtype=np.float32))
    tagger = make(sents, tags, embed_size=None, embeddings=vectors, freeze_embeddings=True)
    table = tagger.parameters()["embedding.weight"]
    assert table.shape[1] == 6 and tagger.embedding_overlap is not None
    np.testing.assert_array_equal(table[tagger.tokenizer.token_to_id("dog")], np.ones(6))
    tagger.fit(sents, tags, epochs=1, batch_size=8)
    np.testing.assert_array_equal(tagger.parameters()["embedding.weight"], table)
    assert tagger.config["freeze_embeddings"] is True
