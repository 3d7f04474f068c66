"""rnnrs.interpolate: mixtures of word-level RNN and n-gram models, EM weights, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import rnnrs
from rnnrs.cli import main
from rnnrs.models.interpolated import em_weights, mix_logprobs

LINES = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog met on the mat",
    "the log was on the mat",
    "a dog sat",
] * 4
HELD_OUT = ["the cat sat on the log", "a dog and a cat sat on the mat", "the mat was on a log"]


@pytest.fixture
def tok() -> rnnrs.WordTokenizer:
    return rnnrs.WordTokenizer.fit(LINES)


@pytest.fixture
def rnn(tok: rnnrs.WordTokenizer) -> rnnrs.RNNLM:
    model = rnnrs.RNNLM(tok.vocab_size, cell="gru", hidden_size=12, tokenizer=tok, seed=3)
    trainer = rnnrs.Trainer(model, rnnrs.Adam(lr=1e-2), bptt=8, batch_size=2, progress=False)
    trainer.fit(tok.encode_lines(LINES), max_steps=30)
    return model


@pytest.fixture
def ngram() -> rnnrs.NGramLM:
    return rnnrs.NGramLM(3, "witten_bell").fit(LINES)


def rnn_stream_logprobs(model: rnnrs.RNNLM, lines: list[str]) -> np.ndarray:
    """The RNN's log-probabilities of every word and </s>, read after </s> as one stream."""
    ids = np.concatenate([[model.tokenizer.eos_id], model.tokenizer.encode_lines(lines)])
    return model.token_logprobs(ids)


def test_em_weights_known_optimum() -> None:
    # Tokens of type 1 (p = 0.6 vs 0.2) twice... the likelihood's derivative in lambda,
    # 3 * 0.4 / (0.2 + 0.4 l) - 2 * 0.4 / (0.6 - 0.4 l) = 0, vanishes at l = 0.7.
    lp = np.log([[0.6, 0.6, 0.6, 0.2, 0.2], [0.2, 0.2, 0.2, 0.6, 0.6]])
    weights, iterations = em_weights(lp, tol=1e-15)
    assert np.allclose(weights, [0.7, 0.3], atol=1e-6) and iterations > 1
    # Identical models: the likelihood is flat; EM stays at its equal start.
    same, _ = em_weights(np.log([[0.1, 0.3], [0.1, 0.3]]))
    assert np.allclose(same, [0.5, 0.5])


def test_em_weights_on_real_models() -> None:
    # Unigram MLE models: A gives a 3/5 and b 1/5, B the reverse, both </s> 1/5. On "a a a
    # b b" the optimum of 3 log(0.2 + 0.4 l) + 2 log(0.6 - 0.4 l) is l = 0.7 (</s> is the
    # same under both and does not move it).
    a = rnnrs.NGramLM(1, "mle").fit(["a a a b"])
    b = rnnrs.NGramLM(1, "mle").fit(["a b b b"])
    mix = rnnrs.interpolate([a, b], tune_on=["a a a b b"])
    assert np.allclose(mix.weights, [0.7, 0.3], atol=1e-4)
    expected = np.log([0.7 * 0.6 + 0.3 * 0.2] * 3 + [0.7 * 0.2 + 0.3 * 0.6] * 2 + [0.2])
    assert np.allclose(mix.token_logprobs(["a a a b b"]), expected, atol=1e-4)


def test_mixture_of_a_model_with_itself(rnn: rnnrs.RNNLM, ngram: rnnrs.NGramLM) -> None:
    mix = rnnrs.interpolate([rnn, rnn], weights=[0.3, 0.7])
    assert np.allclose(mix.token_logprobs(HELD_OUT), rnn_stream_logprobs(rnn, HELD_OUT))
    same = rnnrs.interpolate([ngram, ngram], weights=[0.9, 0.1])
    assert math.isclose(same.perplexity(HELD_OUT), ngram.perplexity(HELD_OUT), rel_tol=1e-12)


def test_rnn_and_ngram_score_the_same_tokens(rnn: rnnrs.RNNLM, ngram: rnnrs.NGramLM) -> None:
    mix = rnnrs.interpolate([rnn, ngram], weights=[0.25, 0.75])
    result = mix.evaluate(HELD_OUT)
    tokens = sum(len(s.split()) + 1 for s in HELD_OUT)
    assert result["tokens"] == tokens
    rnn_lp = rnn_stream_logprobs(rnn, HELD_OUT)
    ng_lp = ngram.score_ids(ngram.encode(HELD_OUT), per_token=True) * math.log(10)
    assert len(rnn_lp) == len(ng_lp) == tokens
    # The mixture normalises the RNN's float32 logits with float32 exponentials summed in
    # float64; token_logprobs normalises in float64: they agree to float32 precision.
    assert math.isclose(result["perplexities"][0], math.exp(-rnn_lp.mean()), rel_tol=1e-6)
    assert math.isclose(result["perplexities"][1], ngram.perplexity(HELD_OUT), rel_tol=1e-9)
    mixed = np.log(0.25 * np.exp(rnn_lp) + 0.75 * np.exp(ng_lp))
    assert math.isclose(result["mixture_perplexity"], math.exp(-mixed.mean()), rel_tol=1e-6)
    assert result["mixture_perplexity"] < max(result["perplexities"])


def test_probabilities_sum_to_one(rnn: rnnrs.RNNLM, ngram: rnnrs.NGramLM) -> None:
    mix = rnnrs.interpolate([rnn, ngram], weights=[0.4, 0.6])
    state = mix.gen_start(mix.encode_prompt("the cat"))
    for word in ["sat", "on", "zebra"]:
        assert math.isclose(float(np.exp(mix.gen_logprobs(state)).sum()), 1.0, rel_tol=1e-9)
        state = mix.gen_advance(state, mix.encode_prompt(word)[0])
    assert mix.vocab[:4] == ["<unk>", "<s>", "</s>", "<pad>"]


def test_intersection_folds_words_into_unk(rnn: rnnrs.RNNLM) -> None:
    other = rnnrs.NGramLM(2, "witten_bell").fit(["the cat sat on a rug", "a bird sat"])
    with pytest.raises(ValueError, match=r"vocabularies differ.*intersection"):
        rnnrs.interpolate([rnn, other], weights=[0.5, 0.5])
    mix = rnnrs.interpolate([rnn, other], weights=[0.5, 0.5], vocab="intersection")
    assert set(mix.vocab) - {"<unk>", "<s>", "</s>", "<pad>"} == {"the", "cat", "sat", "on", "a"}
    # Each model's distribution, carried into the shared vocabulary, still sums to 1, and a
    # sentence's score equals the product of the generation distributions along it (with
    # words no model knows: a word one model knows is what that model reads when scoring).
    sentence = "the zebra sat on a yak"
    ids = mix.encode_prompt(sentence)
    assert ids.count(mix.unk_id) == 2
    state, total = mix.gen_start([]), 0.0
    for token in [*ids, mix.end_id]:
        logprobs = mix.gen_logprobs(state)
        assert math.isclose(float(np.exp(logprobs).sum()), 1.0, rel_tol=1e-9)
        total += float(logprobs[token])
        state = mix.gen_advance(state, token)
    scores = mix.score_sentences([sentence])
    assert math.isclose(float(scores.logprob[0]), total, rel_tol=1e-5)
    assert math.isclose(float(scores.log10[0]), total / math.log(10), rel_tol=1e-5)


def test_generation_protocol(rnn: rnnrs.RNNLM, ngram: rnnrs.NGramLM) -> None:
    mix = rnnrs.interpolate([rnn, ngram], weights=[0.5, 0.5])
    text = mix.generate("the", 8, seed=1)
    assert isinstance(text, str) and text == mix.generate("the", 8, seed=1)
    assert all(w in mix.vocab for w in text.split())
    best = mix.beam_search("the cat", beam_width=3, max_new_tokens=6)
    assert isinstance(best, str) and best.split()


def test_bad_input(rnn: rnnrs.RNNLM, ngram: rnnrs.NGramLM) -> None:
    for weights, message in (
        ([0.5, 0.6], "sum to 1"),
        ([1.5, -0.5], "non-negative"),
        ([1.0], "one weight per model"),
    ):
        with pytest.raises(ValueError, match=message):
            rnnrs.interpolate([rnn, ngram], weights=weights)
    with pytest.raises(ValueError, match="give one"):
        rnnrs.interpolate([rnn, ngram], weights=[0.5, 0.5], tune_on=HELD_OUT)
    with pytest.raises(ValueError, match="tune_on"):
        rnnrs.interpolate([rnn, ngram])
    with pytest.raises(ValueError, match="at least 2"):
        rnnrs.interpolate([rnn], weights=[1.0])
    chars = rnnrs.CharTokenizer.fit("the cat")
    char_lm = rnnrs.RNNLM(chars.vocab_size, hidden_size=4, tokenizer=chars)
    with pytest.raises(ValueError, match="word-level"):
        rnnrs.interpolate([char_lm, ngram], weights=[0.5, 0.5])
    stupid = rnnrs.NGramLM(2, "stupid_backoff").fit(LINES)
    with pytest.raises(ValueError, match="stupid_backoff"):
        rnnrs.interpolate([stupid, ngram], weights=[0.5, 0.5])
    with pytest.raises(TypeError, match="RNNLM or an NGramLM"):
        rnnrs.interpolate([ngram, "model.arpa"], weights=[0.5, 0.5])


def test_mix_logprobs_zero_weight() -> None:
    lp = np.log([[0.5, 0.25], [0.1, 0.1]])
    assert np.allclose(mix_logprobs(lp, np.array([1.0, 0.0])), lp[0])


def test_cli_eval_interpolate(
    tmp_path: Path, rnn: rnnrs.RNNLM, ngram: rnnrs.NGramLM, capsys: pytest.CaptureFixture[str]
) -> None:
    rnn.save(tmp_path / "rnn")
    ngram.to_arpa(tmp_path / "lm.arpa")
    test, valid = tmp_path / "test.txt", tmp_path / "valid.txt"
    test.write_text("\n".join(HELD_OUT) + "\n", encoding="utf-8")
    valid.write_text("\n".join(LINES[:5]) + "\n", encoding="utf-8")
    args = ["eval", str(tmp_path / "rnn"), str(tmp_path / "lm.arpa"), str(test), "--interpolate"]

    assert main([*args, "--weights", "0.6,0.4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    expected = rnnrs.interpolate([rnn, ngram], weights=[0.6, 0.4]).evaluate(HELD_OUT)
    assert result["weights"] == [0.6, 0.4] and result["tokens"] == expected["tokens"]
    assert np.allclose(result["perplexities"], expected["perplexities"], rtol=1e-6)
    assert math.isclose(result["mixture_perplexity"], expected["mixture_perplexity"], rel_tol=1e-6)
    # The RNN's own `rnnrs eval` scores the same tokens, so it reports the same perplexity.
    assert main(["eval", str(tmp_path / "rnn"), str(test), "--json"]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert alone["scored"] == alone["tokens"] == result["tokens"]
    assert math.isclose(alone["perplexity"], result["perplexities"][0], rel_tol=1e-6)

    assert main([*args, "--tune-on", str(valid), "--json"]) == 0
    tuned = json.loads(capsys.readouterr().out)
    fitted = rnnrs.interpolate([rnn, ngram], tune_on=LINES[:5]).weights
    assert np.allclose(tuned["weights"], fitted, atol=1e-9) and tuned["tuned_on"] == str(valid)

    assert main([*args, "--tune-on", str(valid)]) == 0
    table = capsys.readouterr().out
    assert "fit by EM" in table and "mixture" in table

    for extra, message in (
        ([], "either --weights or --tune-on"),
        (["--weights", "0.7,0.4"], "sum to 1"),
    ):
        assert main([*args, *extra]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--weights", "a,b"])
    assert exit_info.value.code == 2 and "comma-separated" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "rnn"), str(test), "--weights", "0.5,0.5"]) == 2
    assert "--interpolate" in capsys.readouterr().err
