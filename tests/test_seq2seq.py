"""rnnrs.Seq2Seq through its public API: it learns the built-in dates task, decodes greedily,
by beam and by sampling, reports its attention, evaluates with several references, saves and
loads, and rejects bad input with clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import rnnrs
from rnnrs.text.dates import dates_task
from rnnrs.text.tasks import read_pairs


def make_model(src: list[str], tgt: list[str], **kwargs: object) -> rnnrs.Seq2Seq:
    options: dict = {"cell": "gru", "embed_size": 16, "hidden_size": 48, **kwargs}
    return rnnrs.Seq2Seq(
        rnnrs.CharTokenizer.fit("".join(src)), rnnrs.CharTokenizer.fit("".join(tgt)), **options
    )


@pytest.fixture(scope="module")
def trained() -> tuple[rnnrs.Seq2Seq, list[str], list[str]]:
    src, tgt = dates_task(1500, seed=0)
    test_src, test_tgt = dates_task(100, seed=1)
    model = make_model(src, tgt)
    history = model.fit(
        src,
        tgt,
        valid=(test_src, test_tgt),
        epochs=10,
        batch_size=32,
        optimizer=rnnrs.Adam(lr=8e-3),
        monitor="exact_match",
    )
    assert history[-1]["exact_match"] is not None
    return model, test_src, test_tgt


def test_it_learns_the_dates_task(trained: tuple[rnnrs.Seq2Seq, list[str], list[str]]) -> None:
    model, src, tgt = trained
    result = model.evaluate(src, tgt)
    # 100 dates drawn from a century: a constant answer gets at most a few right
    assert result.exact_match > 0.5 and result.token_error_rate < 0.1
    assert result.bleu.score > 0
    beam = model.evaluate(src, tgt, beam=4)
    assert beam.exact_match >= result.exact_match - 0.05


def test_beam_of_one_is_greedy_and_rows_decode_alone(
    trained: tuple[rnnrs.Seq2Seq, list[str], list[str]],
) -> None:
    model, src, _ = trained
    greedy = model.translate(src[:20])
    assert model.translate(src[:20], beam=1) == greedy
    assert [model.translate([s])[0] for s in src[:5]] == greedy[:5]
    beams = model.translate(src[:10], beam=3)
    assert [model.translate([s], beam=3)[0] for s in src[:3]] == beams[:3]


def test_sampling_is_seeded(trained: tuple[rnnrs.Seq2Seq, list[str], list[str]]) -> None:
    model, src, _ = trained
    a = model.translate(src[:8], sample=True, temperature=1.5, seed=3)
    assert a == model.translate(src[:8], sample=True, temperature=1.5, seed=3)
    cold = model.translate(src[:8], sample=True, temperature=1e-4, seed=3)
    assert cold == model.translate(src[:8])


def test_attention_rows_sum_to_one(trained: tuple[rnnrs.Seq2Seq, list[str], list[str]]) -> None:
    model, src, tgt = trained
    att = model.attention(src[0], tgt[0])
    assert att.weights.shape == (len(tgt[0]) + 1, len(src[0]))
    assert np.allclose(att.weights.sum(axis=1), 1.0, atol=1e-5)
    assert att.target_tokens[-1] == "</s>" and "".join(att.source_tokens) == src[0]
    assert model.attention(src[0]).weights.shape[1] == len(src[0])


def test_several_references_count_a_hit_if_any_matches(
    trained: tuple[rnnrs.Seq2Seq, list[str], list[str]],
) -> None:
    model, src, _ = trained
    hyp = model.translate(src[:1])[0]
    assert model.evaluate(src[:1], [["nothing like it", hyp]]).exact_match == 1.0
    assert model.evaluate(src[:1], [["nothing like it"]]).exact_match == 0.0


def test_save_and_load_round_trip(
    trained: tuple[rnnrs.Seq2Seq, list[str], list[str]], tmp_path: Path
) -> None:
    model, src, _ = trained
    model.save(tmp_path / "m")
    back = rnnrs.load(tmp_path / "m")
    assert isinstance(back, rnnrs.Seq2Seq)
    assert back.translate(src[:10]) == model.translate(src[:10])
    names = set(back.to_torch_state_dict())
    assert {"encoder.rnn.weight_ih_l0_reverse", "decoder.rnn.weight_hh_l0"} <= names


@pytest.mark.parametrize("attention", ["dot", "general", None])
def test_every_attention_and_lstm_trains(attention: str) -> None:
    src, tgt = dates_task(64, seed=2)
    model = make_model(
        src,
        tgt,
        cell="lstm",
        attention=attention,
        label_smoothing=0.1,
        teacher_forcing=0.5,
        dropout=0.2,
        hidden_size=16,
    )
    history = model.fit(src, tgt, epochs=2, batch_size=16)
    assert history[-1]["step"] == 8 and np.isfinite(history[-1]["train_loss"])


def test_bad_input_gets_clear_errors(tmp_path: Path) -> None:
    src, tgt = dates_task(8, seed=0)
    model = make_model(src, tgt)
    with pytest.raises(ValueError, match=r"sources\[1\]: the source text has no tokens"):
        model.fit([src[0], ""], tgt[:2], epochs=1)
    with pytest.raises(ValueError, match=r"targets\[0\]: the target text has no tokens"):
        model.fit(src[:1], [""], epochs=1)
    with pytest.raises(ValueError, match="beam width must be a positive int"):
        model.translate(src[:1], beam=0)
    with pytest.raises(ValueError, match="max_length"):
        model.translate(src[:1], max_length=0)
    with pytest.raises(ValueError, match="hidden_size: a bidirectional encoder"):
        make_model(src, tgt, hidden_size=15)
    with pytest.raises(ValueError, match="attention: expected one of"):
        make_model(src, tgt, attention="mlp")
    bad = tmp_path / "bad.tsv"
    bad.write_text("5 May 2021\t2021-05-05\nno tab here\n", encoding="utf-8")
    with pytest.raises(rnnrs.FormatError, match=r"bad.tsv.*line 2.*no tab"):
        read_pairs(bad)
    tok = rnnrs.CharTokenizer.fit("ab")
    lm = rnnrs.RNNLM(tok.vocab_size, hidden_size=8, tokenizer=tok)
    lm.save(tmp_path / "lm")
    assert not isinstance(rnnrs.load(tmp_path / "lm"), rnnrs.Seq2Seq)


def test_a_source_longer_than_any_seen_is_an_error(
    trained: tuple[rnnrs.Seq2Seq, list[str], list[str]], tmp_path: Path
) -> None:
    model, src, _ = trained
    longest = model.max_source_length
    assert longest is not None and longest >= max(len(s) for s in src[:50]) - 5
    with pytest.raises(ValueError, match=r"texts\[1\]: \d+ tokens, longer than any source seen"):
        model.translate([src[0], "5 May 2021 " * 20])
    model.save(tmp_path / "m")
    assert rnnrs.load(tmp_path / "m").max_source_length == longest


def test_a_resumed_run_trains_exactly_as_an_uninterrupted_one(tmp_path: Path) -> None:
    src, tgt = dates_task(200, seed=4)

    def run() -> tuple[rnnrs.Seq2Seq, rnnrs.Trainer]:
        model = make_model(src, tgt, hidden_size=16, dropout=0.3, teacher_forcing=0.7, seed=2)
        return model, rnnrs.Trainer(model, rnnrs.Adam(lr=3e-3), batch_size=32, progress=False)

    whole, trainer = run()
    trainer.fit((src, tgt), max_steps=10)  # 7 batches per epoch: ends in the second epoch
    first, trainer = run()
    trainer.fit((src, tgt), max_steps=8)
    first.save(tmp_path / "ckpt", trainer=trainer)
    resumed = rnnrs.load(tmp_path / "ckpt")
    again = rnnrs.Trainer(resumed, rnnrs.Adam(lr=3e-3), batch_size=32, progress=False)
    again.load_state_dict(rnnrs.load_training_state(tmp_path / "ckpt")["trainer"])
    again.fit((src, tgt), max_steps=2)
    assert again.step == 10
    for name, value in whole.parameters().items():
        np.testing.assert_array_equal(resumed.parameters()[name], value, err_msg=name)
