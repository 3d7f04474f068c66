"""Property and fuzz targets: every file parser and every public constructor of rnnrs, fed
hostile input, may raise only the exception classes its documentation names (a FormatError
for a malformed file, TypeError/ValueError/MemoryError for a bad argument): never a crash,
an abort, a PanicException, a bare OverflowError, RecursionError or UnicodeError.

File targets start from valid files rnnrs wrote and mutate their bytes (flips, numbers
written over fields, insertions, deletions, truncation, splices); the checksummed formats
are also fuzzed with the checksum recomputed after the mutation, to reach the checks behind
it. Constructor targets draw every argument from a pool of hostile values.

    python tests/fuzzing.py --seconds 600            # each target for 600 s (scripts/fuzz.sh)
    python tests/fuzzing.py --seconds 60 --targets arpa,ngram_binary

tests/test_fuzz.py runs every target briefly and deterministically in CI.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import struct
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import rnnrs
from rnnrs.io.checkpoint import MODEL_JSON, checkpoint_folder
from rnnrs.io.safetensors import load_safetensors
from rnnrs.io.word_vectors import WordVectors
from rnnrs.text.nbest import read_nbest
from rnnrs.text.tasks import read_classification, read_conll, read_conllu, read_pairs

BACKENDS = ("numpy", "rust") if rnnrs.rust_available() else ("numpy",)
SENTENCES = ["the cat sat on the mat", "the dog sat on a log", "a cat saw a dog", "the end"]
FILE_ERRORS = (rnnrs.FormatError,)
ARGUMENT_ERRORS = (TypeError, ValueError, MemoryError)


@dataclass(frozen=True)
class Target:
    """A fuzz target: inputs drawn from ``strategy`` and given to ``run``, which may raise
    only ``allowed``."""

    name: str
    strategy: st.SearchStrategy[Any]
    run: Callable[[Any], None]
    allowed: tuple[type[BaseException], ...]


# ------------------------------------------------------------------ valid files to mutate


@cache
def seed_files() -> dict[str, tuple[bytes, ...]]:
    """Valid files of every format, written by rnnrs (the mutations' starting points)."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        lm = rnnrs.NGramLM(3, "witten_bell", backend="numpy").fit(SENTENCES)
        lm.to_arpa(d / "m.arpa")
        lm.save(d / "m.ngram")
        stupid = rnnrs.NGramLM(2, "stupid_backoff", backend="numpy").fit(SENTENCES)
        stupid.save(d / "s.ngram")
        counts = rnnrs.NGramCounts(3, backend="numpy").add(SENTENCES)
        char = rnnrs.CharTokenizer.fit(" ".join(SENTENCES))
        word = rnnrs.WordTokenizer.fit(SENTENCES)
        bpe = rnnrs.BPETokenizer.train(SENTENCES * 4, 270, backend="numpy")
        for name, tok in (("char", char), ("word", word), ("bpe", bpe)):
            tok.save(d / f"{name}.json")
        model = rnnrs.RNNLM(char.vocab_size, hidden_size=4, tokenizer=char, backend="numpy")
        model.save(d / "ck")
        folder = checkpoint_folder(d / "ck")
        vectors = WordVectors(["the", "cat", "sat"], np.arange(12, dtype=np.float32).reshape(3, 4))
        vectors.save_glove(d / "glove.txt")
        vectors.save_word2vec_format(d / "w2v.txt")
        vectors.save_word2vec_format(d / "w2v.bin", binary=True)
        return {
            "arpa": ((d / "m.arpa").read_bytes(),),
            "ngram_binary": ((d / "m.ngram").read_bytes(), (d / "s.ngram").read_bytes()),
            "counts": (counts.to_bytes(),),
            "tokenizer": tuple((d / f"{n}.json").read_bytes() for n in ("char", "word", "bpe")),
            "model_json": ((folder / MODEL_JSON).read_bytes(),),
            "safetensors": ((folder / "model.safetensors").read_bytes(),),
            "tsv": (b"label\ttext\npos\tgood fun\nneg\tdull\n",),
            "jsonl": (b'{"text": "good fun", "label": "pos"}\n{"text": "dull", "label": 0}\n',),
            "fasttext": (b"__label__pos good fun\n__label__neg dull\n",),
            "conll": (b"-DOCSTART- O\n\nEU B-ORG\nrejects O\n\nPeter B-PER\n",),
            "conllu": (
                b"# sent_id = 1\n1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_\n"
                b"2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n2\tdo\tdo\tAUX\tVBP\t_\t0\troot\t_\t_\n"
                b"3\tn't\tnot\tPART\tRB\t_\t2\tadvmod\t_\t_\n\n",
            ),
            "pairs": (b"5 May 2021\t2021-05-05\nread\tR EH1 D\nread\tR IY1 D\n",),
            "nbest": (b"1\t-4.1\tthe cat sat\n1\t-4.5\tthe cat sits\n\n2\t-2\ta dog\n",),
            "glove": ((d / "glove.txt").read_bytes(),),
            "word2vec_text": ((d / "w2v.txt").read_bytes(),),
            "word2vec_binary": ((d / "w2v.bin").read_bytes(),),
        }


# ------------------------------------------------------------------ mutations

NUMBERS = [0, 1, 3, 255, 2**31, 2**32 - 1, 2**32, 2**63, 2**64 - 1]
FLOATS = [math.nan, math.inf, -math.inf, 1e308, -1e-308, 0.5, -0.0]
TEXT_BITS = [
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\n",
    b"\t",
    b" ",
    b"-",
    b"nan",
    b"inf",
    b"1e999",
    b"99999999999999999999",
    b"\\",
    b'"',
    b"[",
    b"{",
    b"}",
    b"]",
    b"\\ud800",
    b"-99",
    b"0.5",
    b"<s>",
    b"</s>",
    b"<unk>",
    b"\\data\\",
    b"\\end\\",
    b"ngram 1=",
]


@st.composite
def mutated(draw: st.DrawFn, seeds: tuple[bytes, ...]) -> bytes:
    """A seed file with up to 6 mutations."""
    data = bytearray(draw(st.sampled_from(seeds)))
    # Positions uniform over the file (integer strategies favour 0: the magic bytes).
    positions = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "number", "float", "insert", "delete", "cut", "dup"]))
        at = positions.randrange(max(len(data), 1))
        if op == "flip" and data:
            # The top bit (which breaks UTF-8 text at once) one time in eight.
            data[at] ^= 1 << draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 7]))
        elif op == "number":
            width = draw(st.sampled_from([4, 8]))
            value = draw(st.sampled_from(NUMBERS)) % (1 << (8 * width))
            data[at : at + width] = value.to_bytes(width, "little")
        elif op == "float":
            data[at : at + 8] = struct.pack("<d", draw(st.sampled_from(FLOATS)))
        elif op == "insert":
            data[at:at] = draw(st.sampled_from(TEXT_BITS))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "cut":
            del data[at:]
        elif op == "dup":
            end = at + draw(st.integers(1, 64))
            data[at:at] = data[at:end]
    return bytes(data)


def resealed(seeds: tuple[bytes, ...], seal: Callable[[bytes], bytes]) -> st.SearchStrategy[bytes]:
    """Mutated seeds, with the checksum made to match again half of the time."""
    return st.tuples(mutated(seeds), st.booleans()).map(
        lambda pair: seal(pair[0]) if pair[1] else pair[0]
    )


def seal_ngram_binary(data: bytes) -> bytes:
    """The binary n-gram form's trailing CRC-32 (u64) recomputed."""
    if len(data) < 8:
        return data
    return data[:-8] + struct.pack("<Q", zlib.crc32(data[:-8]))


def seal_counts(data: bytes) -> bytes:
    """The counts file's trailing CRC-32 (u32) recomputed."""
    if len(data) < 4:
        return data
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]))


# ------------------------------------------------------------------ file targets


def _written(data: bytes, name: str) -> tuple[tempfile.TemporaryDirectory[str], Path]:
    tmp = tempfile.TemporaryDirectory()
    path = Path(tmp.name) / name
    path.write_bytes(data)
    return tmp, path


def run_arpa(data: bytes) -> None:
    tmp, path = _written(data, "m.arpa")
    with tmp:
        for backend in BACKENDS:
            lm = rnnrs.NGramLM.from_arpa(path, backend=backend)
            lm.perplexity(SENTENCES[:2])


def run_ngram_binary(data: bytes) -> None:
    tmp, path = _written(data, "m.ngram")
    with tmp:
        for backend in BACKENDS:
            lm = rnnrs.NGramLM.load(path, backend=backend)
            lm.score(SENTENCES[0])


def run_counts(data: bytes) -> None:
    for backend in BACKENDS:
        counts = rnnrs.NGramCounts.from_bytes(data, backend=backend)
        assert counts.num_ngrams


def run_tokenizer(data: bytes) -> None:
    tmp, path = _written(data, "tok.json")
    with tmp:
        tok = rnnrs.load_tokenizer(path)
        ids = tok.encode("the cat \u00e9 \U0001f600")
        tok.decode(ids)
        tok.save(path)  # whatever loads can be saved again


def _checkpoint(model_json: bytes, tensors: bytes) -> tuple[tempfile.TemporaryDirectory[str], Path]:
    """A checkpoint folder of these two files, the tensor file's checksum in model.json
    updated when model.json is still JSON (so the checks behind it are reached)."""
    tmp = tempfile.TemporaryDirectory()
    folder = Path(tmp.name) / "ck"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(tensors)
    try:
        document = json.loads(model_json)
        document["files"]["model.safetensors"] = {
            "sha256": hashlib.sha256(tensors).hexdigest(),
            "bytes": len(tensors),
        }
        model_json = json.dumps(document).encode()
    except (ValueError, TypeError, KeyError, RecursionError):
        pass
    (folder / MODEL_JSON).write_bytes(model_json)
    return tmp, folder


def run_checkpoint(files: tuple[bytes, bytes]) -> None:
    tmp, folder = _checkpoint(*files)
    with tmp:
        for backend in BACKENDS:
            model = rnnrs.load(folder, backend=backend)
            model.perplexity([1, 2, 3])


def run_safetensors(data: bytes) -> None:
    tmp, path = _written(data, "t.safetensors")
    with tmp:
        load_safetensors(path)


def task_reader(name: str, read: Callable[[Path], Any]) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        tmp, path = _written(data, f"data.{name}")
        with tmp:
            read(path)

    return run


# ------------------------------------------------------------------ constructor targets

# Sizes are tiny or far too large: a mid-sized valid one (2**31 embeddings) would really
# allocate gigabytes, which is allowed, not a finding.
HOSTILE_INTS = [0, -1, 1, 2, 3, 10**12, 2**63, 2**64, -(2**63)]
HOSTILE_FLOATS = [2.5, math.nan, math.inf, -0.0, 1e-300]
HOSTILE_STRINGS = ["", "x", "lstm", "gru", "rnn_relu", "mean", "class"]
HOSTILE_OTHERS = [None, True, False, [], [1, 2], [[1, 2]], {}, {"a": 1}, b"x", (0.9, 0.999)]
HOSTILE = st.sampled_from(HOSTILE_INTS + HOSTILE_FLOATS + HOSTILE_STRINGS + HOSTILE_OTHERS)
SMALL = st.sampled_from([1, 2, 3])


def kwargs_of(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(names), HOSTILE, max_size=4)


@cache
def small_models() -> dict[str, Any]:
    tok = rnnrs.CharTokenizer.fit("abc de")
    return {
        "tok": tok,
        "words": rnnrs.WordTokenizer.fit(SENTENCES),
        "rnnlm": rnnrs.RNNLM(tok.vocab_size, hidden_size=4, tokenizer=tok),
        "ngram": rnnrs.NGramLM(2, "witten_bell").fit(SENTENCES),
    }


def construct(make: Callable[..., Any]) -> Callable[[tuple[list[Any], dict[str, Any]]], None]:
    def run(call: tuple[list[Any], dict[str, Any]]) -> None:
        args, kwargs = call
        make(*args, **kwargs)

    return run


def rnnlm(*args: Any, **kwargs: Any) -> None:
    # Small sizes where the draw gives none, so that valid calls stay cheap.
    model = rnnrs.RNNLM(*args, **{"hidden_size": 3, **kwargs})
    model.perplexity([0, 1, 2, 1])


def classifier(*args: Any, **kwargs: Any) -> None:
    defaults = {"embed_size": 3, "hidden_size": 3, "attention_size": 3}
    rnnrs.SequenceClassifier(small_models()["tok"], *args, **{**defaults, **kwargs})


def tagger(*args: Any, **kwargs: Any) -> None:
    defaults = {"embed_size": 3, "hidden_size": 3, "char_embed_size": 2, "char_hidden_size": 2}
    tagger = rnnrs.SequenceTagger(small_models()["words"], *args, **{**defaults, **kwargs})
    tagger.predict([["the", "cat"]])


def seq2seq(*args: Any, **kwargs: Any) -> None:
    tok = small_models()["tok"]
    model = rnnrs.Seq2Seq(tok, tok, *args, **{"embed_size": 3, "hidden_size": 4, **kwargs})
    model.translate(["ab"], max_length=3)  # a huge valid max_len_b would only run long


def trainer(*args: Any, **kwargs: Any) -> None:
    rnnrs.Trainer(small_models()["rnnlm"], rnnrs.Adam(), *args, **kwargs)


def generate(*args: Any, **kwargs: Any) -> None:
    models = small_models()
    for model in (models["rnnlm"], models["ngram"]):
        prompt = "ab" if model is models["rnnlm"] else "the cat"
        model.generate(prompt, *args[:1], **kwargs)
        model.beam_search(prompt, *args[1:2], max_new_tokens=3)


def set_num_threads(n: Any) -> None:
    before = rnnrs.get_num_threads()
    try:
        rnnrs.set_num_threads(n)
    finally:
        rnnrs.set_num_threads(before)


def calls(
    positional: int, names: list[str], first: st.SearchStrategy[Any] = HOSTILE
) -> st.SearchStrategy[tuple[list[Any], dict[str, Any]]]:
    """Up to ``positional`` positional arguments (the first from ``first``) and keywords."""
    args = st.lists(HOSTILE, max_size=max(positional - 1, 0))
    return st.tuples(
        st.tuples(first, args).map(lambda p: [p[0], *p[1]]) if positional else st.just([]),
        kwargs_of(names),
    )


def targets() -> dict[str, Target]:
    seeds = seed_files()
    files: list[Target] = [
        Target("arpa", mutated(seeds["arpa"]), run_arpa, FILE_ERRORS),
        Target(
            "ngram_binary",
            resealed(seeds["ngram_binary"], seal_ngram_binary),
            run_ngram_binary,
            FILE_ERRORS,
        ),
        Target("counts", resealed(seeds["counts"], seal_counts), run_counts, FILE_ERRORS),
        Target("tokenizer_json", mutated(seeds["tokenizer"]), run_tokenizer, FILE_ERRORS),
        Target(
            "checkpoint",
            st.one_of(
                st.tuples(mutated(seeds["model_json"]), st.sampled_from(seeds["safetensors"])),
                st.tuples(st.sampled_from(seeds["model_json"]), mutated(seeds["safetensors"])),
            ),
            run_checkpoint,
            (rnnrs.CheckpointError,),
        ),
        Target("safetensors", mutated(seeds["safetensors"]), run_safetensors, FILE_ERRORS),
        Target(
            "tsv",
            mutated(seeds["tsv"]),
            task_reader("tsv", lambda p: read_classification(p, format="tsv")),
            FILE_ERRORS,
        ),
        Target(
            "jsonl",
            mutated(seeds["jsonl"]),
            task_reader("jsonl", lambda p: read_classification(p, format="jsonl")),
            FILE_ERRORS,
        ),
        Target(
            "fasttext",
            mutated(seeds["fasttext"]),
            task_reader("txt", lambda p: read_classification(p, format="fasttext")),
            FILE_ERRORS,
        ),
        Target("conll", mutated(seeds["conll"]), task_reader("conll", read_conll), FILE_ERRORS),
        Target("conllu", mutated(seeds["conllu"]), task_reader("conllu", read_conllu), FILE_ERRORS),
        Target("pairs", mutated(seeds["pairs"]), task_reader("tsv", read_pairs), FILE_ERRORS),
        Target("nbest", mutated(seeds["nbest"]), task_reader("nbest", read_nbest), FILE_ERRORS),
        Target(
            "glove",
            mutated(seeds["glove"]),
            task_reader("txt", WordVectors.load_glove),
            FILE_ERRORS,
        ),
        Target(
            "word2vec_text",
            mutated(seeds["word2vec_text"]),
            task_reader("txt", WordVectors.load_word2vec_format),
            FILE_ERRORS,
        ),
        Target(
            "word2vec_binary",
            mutated(seeds["word2vec_binary"]),
            task_reader("bin", lambda p: WordVectors.load_word2vec_format(p, binary=True)),
            FILE_ERRORS,
        ),
    ]
    rnnlm_names = [
        "cell",
        "hidden_size",
        "num_layers",
        "embed_size",
        "dropout",
        "tie_weights",
        "seed",
        "backend",
        "tokenizer",
        "softmax",
        "classes",
    ]
    classifier_names = [
        "num_classes",
        "labels",
        "cell",
        "embed_size",
        "hidden_size",
        "num_layers",
        "bidirectional",
        "pooling",
        "attention_size",
        "dropout",
        "embedding_dropout",
        "unk_replace",
        "seed",
        "backend",
        "max_length",
    ]
    tagger_names = [
        "tags",
        "cell",
        "embed_size",
        "hidden_size",
        "num_layers",
        "bidirectional",
        "char_encoder",
        "char_embed_size",
        "char_hidden_size",
        "output",
        "constrained",
        "dropout",
        "unk_replace",
        "seed",
        "backend",
    ]
    seq2seq_names = [
        "cell",
        "embed_size",
        "hidden_size",
        "encoder_layers",
        "decoder_layers",
        "bidirectional_encoder",
        "attention",
        "attention_size",
        "input_feeding",
        "dropout",
        "tie_target_embeddings",
        "label_smoothing",
        "teacher_forcing",
        "max_len_a",
        "max_len_b",
        "max_source_length",
        "seed",
        "backend",
    ]
    ngram_names = ["k", "discount", "alpha", "discount_fallback", "min_counts", "backend"]
    trainer_names = [
        "clip_norm",
        "clip_value",
        "bptt",
        "batch_size",
        "eval_every",
        "early_stopping_patience",
        "progress",
        "monitor",
        "mode",
        "save_every",
    ]
    sampling_names = ["temperature", "top_k", "top_p", "greedy", "seed", "stop", "stop_at_end"]
    constructors: list[Target] = [
        Target("RNNLM", calls(1, rnnlm_names, SMALL), construct(rnnlm), ARGUMENT_ERRORS),
        Target(
            "SequenceClassifier",
            calls(0, classifier_names).map(lambda c: ([], {"num_classes": 2, **c[1]})),
            construct(classifier),
            ARGUMENT_ERRORS,
        ),
        Target(
            "SequenceTagger",
            calls(0, tagger_names).map(lambda c: ([], {"tags": ["O", "B-X", "I-X"], **c[1]})),
            construct(tagger),
            ARGUMENT_ERRORS,
        ),
        Target("Seq2Seq", calls(0, seq2seq_names), construct(seq2seq), ARGUMENT_ERRORS),
        Target("NGramLM", calls(2, ngram_names), construct(rnnrs.NGramLM), ARGUMENT_ERRORS),
        Target("NGramCounts", calls(1, ["backend"]), construct(rnnrs.NGramCounts), ARGUMENT_ERRORS),
        Target(
            "tokenizers",
            st.tuples(
                st.sampled_from([rnnrs.CharTokenizer, rnnrs.WordTokenizer, rnnrs.BPETokenizer]),
                st.one_of(
                    HOSTILE,
                    st.lists(st.text(max_size=3), max_size=4),
                    st.lists(st.tuples(HOSTILE, HOSTILE), max_size=3),
                ),
            ),
            lambda pair: pair[0](pair[1]),
            ARGUMENT_ERRORS,
        ),
        Target(
            "optimizers",
            st.tuples(
                st.sampled_from([rnnrs.SGD, rnnrs.Adam, rnnrs.AdamW]),
                calls(1, ["momentum", "nesterov", "betas", "eps", "weight_decay"]),
            ),
            lambda pair: pair[0](*pair[1][0], **pair[1][1]),
            ARGUMENT_ERRORS,
        ),
        Target("Trainer", calls(0, trainer_names), construct(trainer), ARGUMENT_ERRORS),
        Target(
            "generate",
            # The first argument is max_new_tokens: never a huge valid count (it would run).
            calls(2, sampling_names, st.sampled_from([0, 1, 3, -1, 2**63, 2.5, "x", None])),
            construct(generate),
            ARGUMENT_ERRORS,
        ),
        Target("set_num_threads", HOSTILE, set_num_threads, ARGUMENT_ERRORS),
    ]
    return {t.name: t for t in (*files, *constructors)}


# ------------------------------------------------------------------ running


class Escaped(AssertionError):
    """An exception of a class the target's documentation does not allow."""


def checked(target: Target, counter: list[int]) -> Callable[[Any], None]:
    """The property: ``target.run`` raises nothing or one of ``target.allowed``."""

    def prop(value: Any) -> None:
        counter[0] += 1
        try:
            target.run(value)
        except target.allowed:
            pass
        except Exception as exc:  # every other class is a finding
            raise Escaped(f"{target.name}: {type(exc).__name__}: {exc}") from exc
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise Escaped(f"{target.name}: {type(exc).__name__}: {exc}") from exc

    return prop


def fuzz_settings(examples: int, derandomize: bool) -> settings:
    return settings(
        max_examples=examples,
        derandomize=derandomize,
        deadline=None,
        database=None,
        print_blob=True,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )


def run_target(target: Target, examples: int, derandomize: bool) -> int:
    """Run ``examples`` examples of ``target``; the count run (raises on a finding)."""
    counter = [0]
    test = given(target.strategy)(checked(target, counter))
    fuzz_settings(examples, derandomize)(test)()
    return counter[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per target")
    parser.add_argument("--targets", default="", help="comma-separated names (default: all)")
    parser.add_argument("--batch", type=int, default=200, help="examples per hypothesis run")
    args = parser.parse_args()
    every = targets()
    chosen = [n for n in args.targets.split(",") if n] or list(every)
    unknown = set(chosen) - set(every)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; known: {', '.join(every)}")
    failed = 0
    for name in chosen:
        start, count = time.monotonic(), 0
        try:
            while time.monotonic() - start < args.seconds:
                count += run_target(every[name], args.batch, derandomize=False)
        except Escaped as exc:
            failed += 1
            print(f"{name}: FAILED after {count} examples: {exc}", flush=True)
            continue
        seconds = time.monotonic() - start
        print(f"{name}: {count} examples in {seconds:.0f} s, nothing escaped", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
