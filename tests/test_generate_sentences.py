"""Generation goes on across sentence ends unless told to stop there, for n-gram and neural
word models alike, in the API and on the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import rnnrs
from rnnrs import NGramLM
from rnnrs.cli import main

LINES = ["the cat sat", "a dog ran", "the dog sat"]


def test_ngram_generation_starts_a_new_sentence_after_the_end() -> None:
    lm = NGramLM(3, "witten_bell").fit(LINES * 2)
    text = lm.generate("the", 40, seed=1, stop_at_end=False)
    assert len(text.split()) == 40 and "</s>" in text.split()
    assert "</s>" not in lm.generate("the", 40, seed=1).split()
    # After </s> the next word is drawn as at the start of a sentence.
    eos = lm.word_id("</s>")
    after = lm.gen_advance(lm.gen_start(lm.encode_prompt("the cat")), eos)
    np.testing.assert_array_equal(lm.gen_logprobs(after), lm.gen_logprobs(lm.gen_start([])))
    assert lm.gen_start(lm.encode_prompt("the cat </s> a")) == lm.gen_start(lm.encode_prompt("a"))
    # So a greedy run repeats the likeliest sentence, each time from <s>.
    greedy = lm.generate("", 8, greedy=True, stop_at_end=False).split()
    first = greedy.index("</s>") + 1
    assert greedy[first : 2 * first] == greedy[:first]


def test_ngram_generate_command_counts_tokens_across_sentences(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus, model = tmp_path / "corpus.txt", tmp_path / "m.ngram"
    corpus.write_text("\n".join(LINES * 2) + "\n")
    args = [str(corpus), "-o", "3", "--smoothing", "witten_bell", "--output", str(model)]
    assert main(["ngram", "build", *args]) == 0
    capsys.readouterr()
    command = ["ngram", "generate", str(model), "--prompt", "the", "--tokens", "30", "--seed", "2"]
    assert main(command) == 0
    out = capsys.readouterr().out
    expected = NGramLM.load(model).generate("the", 30, seed=2, stop_at_end=False)
    assert len(expected.split()) == 30
    assert out == "the " + expected.replace(" </s> ", "\n").removesuffix(" </s>") + "\n"
    assert out.count("\n") > 2  # several sentences, one a line
    assert main([*command, "--stop-at-end"]) == 0
    once = capsys.readouterr().out
    assert once.count("\n") == 1 and once == out[: len(once) - 1] + "\n"


def test_neural_generate_command_goes_across_sentence_ends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tok = rnnrs.WordTokenizer.fit("\n".join(LINES))
    model = rnnrs.RNNLM(tok.vocab_size, hidden_size=8, tokenizer=tok, seed=0)
    model.save(tmp_path / "run")
    command = ["generate", str(tmp_path / "run"), "--prompt", "the", "--tokens", "40"]
    assert main([*command, "--seed", "3"]) == 0
    out = capsys.readouterr().out
    loaded = rnnrs.load(tmp_path / "run")
    expected = loaded.generate("the", 40, seed=3, stop_at_end=False)
    assert len(expected.split()) == 40 and "</s>" in expected.split()
    shown = " ".join(["the", expected]).split(" ")
    lines = " ".join(shown).replace(" </s> ", "\n").removesuffix(" </s>")
    assert out == lines + "\n" and "\n" in out.rstrip("\n")
    assert main([*command, "--seed", "3", "--stop-at-end"]) == 0
    assert capsys.readouterr().out.count("\n") == 1
