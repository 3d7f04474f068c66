"""Metrics: hand-computed cases, properties, and equality with scikit-learn, seqeval and
sacrebleu when they are installed."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rnnrs.training.metrics import (
    Scores,
    classification_metrics,
    corpus_bleu,
    edit_distance,
    entities,
    exact_match,
    is_entity_tagset,
    seq2seq_metrics,
    tagging_metrics,
    token_error_rate,
)


def quiet(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call another library's function with its warnings about degenerate input silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# --- classification ---------------------------------------------------------------------------


def test_classification_by_hand() -> None:
    r = classification_metrics([0, 0, 1, 2], [0, 1, 1, 1])
    assert r.labels == [0, 1, 2]
    assert r.confusion_matrix.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert r.accuracy == 0.5
    assert r.per_class[0] == Scores(1.0, 0.5, pytest.approx(2 / 3), 2)
    assert r.per_class[1] == Scores(pytest.approx(1 / 3), 1.0, 0.5, 1)
    assert r.per_class[2] == Scores(0.0, 0.0, 0.0, 1)
    assert r.macro_f1 == pytest.approx((2 / 3 + 0.5 + 0.0) / 3)
    assert r.macro.precision == pytest.approx((1 + 1 / 3) / 3)
    assert r.weighted.f1 == pytest.approx((2 * 2 / 3 + 0.5) / 4)
    assert r.weighted.recall == pytest.approx(0.5)  # weighted recall is accuracy
    assert (r.micro.precision, r.micro.recall, r.micro.f1) == (0.5, 0.5, 0.5)


def test_classification_table_and_dict() -> None:
    r = classification_metrics(["pos", "neg", "pos", "pos"], ["pos", "pos", "neg", "pos"])
    d = r.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["labels"] == ["neg", "pos"]
    assert d["confusion_matrix"] == [[0, 1], [1, 2]]
    assert d["per_class"]["pos"] == {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3}
    assert d["accuracy"] == 0.5 and d["macro_f1"] == pytest.approx(1 / 3)
    lines = r.table(digits=3).splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    assert lines[2].split() == ["neg", "0.000", "0.000", "0.000", "1"]
    assert lines[3].split() == ["pos", "0.667", "0.667", "0.667", "3"]
    assert lines[5].split() == ["accuracy", "0.500", "4"]
    assert lines[6].split() == ["macro", "avg", "0.333", "0.333", "0.333", "4"]
    assert str(r).endswith(r.confusion_table())
    assert r.confusion_table().splitlines()[1].split() == ["neg", "0", "1"]


def test_numpy_labels_come_back_as_python_values() -> None:
    r = classification_metrics(np.array([1, 0, 1]), np.array([1, 1, 1]))
    assert r.labels == [0, 1] and all(type(x) is int for x in r.labels)
    json.dumps(r.to_dict())


def test_explicit_labels_fix_order_and_include_absent_classes() -> None:
    r = classification_metrics(["a", "b"], ["a", "b"], labels=["c", "b", "a"])
    assert r.labels == ["c", "b", "a"]
    assert r.confusion_matrix.tolist() == [[0, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert r.per_class["c"] == Scores(0.0, 0.0, 0.0, 0)
    assert r.macro_f1 == pytest.approx(2 / 3)  # the absent class counts in the macro mean
    assert r.weighted.f1 == 1.0


@pytest.mark.parametrize(
    ("y_true", "y_pred", "labels", "error", "message"),
    [
        (["a"], ["a", "b"], None, ValueError, "expected equal lengths, got 1 and 2"),
        ([], [], None, ValueError, "at least one"),
        ([1, "a"], [1, 1], None, ValueError, "both strings and integers"),
        (["a", "b"], ["a", "z"], ["a", "b"], ValueError, "label 'z' at index 1 is not one of"),
        (["a"], ["a"], ["a", "a"], ValueError, "distinct labels"),
        ([1.5], [1.5], None, TypeError, "expected str or int labels"),
    ],
)
def test_classification_errors(
    y_true: list, y_pred: list, labels: Optional[list], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        classification_metrics(y_true, y_pred, labels=labels)


LABELS = st.lists(st.integers(0, 4), min_size=1, max_size=40)


@settings(max_examples=100, deadline=None)
@given(LABELS, st.data())
def test_classification_properties(y_true: list[int], data: st.DataObject) -> None:
    y_pred = data.draw(st.lists(st.integers(0, 4), min_size=len(y_true), max_size=len(y_true)))
    r = classification_metrics(y_true, y_pred)
    m = r.confusion_matrix
    assert m.sum() == len(y_true)
    assert m.sum(axis=1).tolist() == [r.per_class[c].support for c in r.labels]
    assert r.accuracy == pytest.approx(np.trace(m) / len(y_true))
    assert r.micro.f1 == pytest.approx(r.accuracy)
    for s in [*r.per_class.values(), r.macro, r.weighted]:
        for v in (s.precision, s.recall, s.f1):
            assert 0.0 <= v <= 1.0
        assert min(s.precision, s.recall) - 1e-12 <= s.f1 or s is r.weighted or s is r.macro
    perfect = classification_metrics(y_true, y_true)
    assert perfect.accuracy == perfect.macro_f1 == perfect.weighted.f1 == 1.0


@settings(max_examples=100, deadline=None)
@given(LABELS, st.data())
def test_classification_equals_sklearn(y_true: list[int], data: st.DataObject) -> None:
    sk = pytest.importorskip("sklearn.metrics")
    y_pred = data.draw(st.lists(st.integers(0, 4), min_size=len(y_true), max_size=len(y_true)))
    r = classification_metrics(y_true, y_pred)
    report = sk.classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    for label in r.labels:
        ours, theirs = r.per_class[label], report[str(label)]
        assert ours.precision == pytest.approx(theirs["precision"], abs=1e-12)
        assert ours.recall == pytest.approx(theirs["recall"], abs=1e-12)
        assert ours.f1 == pytest.approx(theirs["f1-score"], abs=1e-12)
        assert ours.support == theirs["support"]
    for name, ours in (("macro avg", r.macro), ("weighted avg", r.weighted)):
        assert ours.precision == pytest.approx(report[name]["precision"], abs=1e-12)
        assert ours.recall == pytest.approx(report[name]["recall"], abs=1e-12)
        assert ours.f1 == pytest.approx(report[name]["f1-score"], abs=1e-12)
    assert r.accuracy == pytest.approx(sk.accuracy_score(y_true, y_pred), abs=1e-12)
    matrix = quiet(sk.confusion_matrix, y_true, y_pred, labels=r.labels)
    assert r.confusion_matrix.tolist() == matrix.tolist()
    # The same layout; scikit-learn prints supports as floats when nothing is right.
    text = sk.classification_report(y_true, y_pred, digits=4, zero_division=0).rstrip("\n")
    assert [len(line) for line in r.table().splitlines()] == [len(x) for x in text.splitlines()]
    assert table_values(r.table()) == table_values(text)


def table_values(table: str) -> list[list[object]]:
    def value(token: str) -> object:
        try:
            return float(token)
        except ValueError:
            return token

    return [[value(t) for t in line.split()] for line in table.splitlines()]


# --- tagging ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
        (["I-PER", "I-PER", "O"], [("PER", 0, 2)]),  # I- without B- starts an entity
        (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 3)]),  # type change
        (["B-PER", "B-PER", "I-PER"], [("PER", 0, 1), ("PER", 1, 3)]),
        (["O", "O"], []),
        # BIOES: E- closes, S- is a single token, E- or I- right after E-/S- starts again.
        (
            ["B-LOC", "E-LOC", "S-PER", "E-PER", "I-ORG", "E-ORG"],
            [("LOC", 0, 2), ("PER", 2, 3), ("PER", 3, 4), ("ORG", 4, 6)],
        ),
        (["S-X", "S-X", "I-X"], [("X", 0, 1), ("X", 1, 2), ("X", 2, 3)]),
        (["B-creative-work", "I-creative-work"], [("creative-work", 0, 2)]),
    ],
)
def test_entities_follow_conlleval(tags: list[str], expected: list[tuple[str, int, int]]) -> None:
    assert entities(tags) == expected


def test_entities_reject_other_tags() -> None:
    with pytest.raises(ValueError, match="expected 'O' or a B-/I-/E-/S- prefixed tag, got 'NN'"):
        entities(["B-PER", "NN"])
    assert not is_entity_tagset(["O", "B-"]) and not is_entity_tagset(["X-PER"])


def test_tagging_by_hand_seqeval_example() -> None:
    # seqeval's documented example: one of two entities right.
    y_true = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    y_pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    r = tagging_metrics(y_true, y_pred)
    assert (r.precision, r.recall, r.f1) == (0.5, 0.5, 0.5)
    assert r.accuracy == 8 / 10 and (r.tokens, r.sentences) == (10, 2)
    assert r.per_type == {"MISC": Scores(0.0, 0.0, 0.0, 1), "PER": Scores(1.0, 1.0, 1.0, 1)}
    d = r.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["entities"] == {"gold": 2, "predicted": 2, "correct": 1}
    assert {"accuracy", "f1", "precision", "recall", "per_type"} <= set(d)
    table = r.table()
    assert table.startswith("processed 10 tokens with 2 phrases; found: 2 phrases; correct: 1.")
    assert any(
        line.split() == ["MISC", "0.0000", "0.0000", "0.0000", "1"] for line in table.splitlines()
    )


def test_tagging_entities_do_not_cross_sentences() -> None:
    # The gold entity at the end of sentence 0 and the predicted one at the start of sentence
    # 1 would line up if the sentences were joined without a boundary.
    r = tagging_metrics([["O", "B-X"], ["I-X", "O"]], [["O", "B-X"], ["O", "O"]])
    assert r.entities is not None and r.entities.overall.support == 2
    assert (r.precision, r.recall) == (1.0, 0.5)


def test_tagging_without_entities_scores_tags() -> None:
    r = tagging_metrics([["NOUN", "VERB", "NOUN"]], [["NOUN", "NOUN", "NOUN"]])
    assert r.f1 is None and r.per_type is None and r.entities is None
    assert r.accuracy == pytest.approx(2 / 3)
    d = r.to_dict()
    assert "f1" not in d and d["per_tag"]["VERB"]["recall"] == 0.0
    assert d["macro_f1"] == pytest.approx((0.8 + 0.0) / 2)
    assert "token accuracy: 0.6667" in r.table()
    forced = tagging_metrics([["O", "B-X"]], [["O", "O"]], entity_level=False)
    assert forced.entities is None and forced.per_tag is not None


@pytest.mark.parametrize(
    ("y_true", "y_pred", "error", "message"),
    [
        ([["O", "B-X"]], [["O"]], ValueError, "sentence 0 has 1 tags, expected 2"),
        ([["O"]], [["O"], ["O"]], ValueError, "expected equal lengths"),
        ([[]], [[]], ValueError, "at least one token"),
        ([["O", "B-X"]], [["O", "NOUN"]], ValueError, "got 'NOUN'"),
        (["O B-X"], ["O O"], TypeError, "a list of tags per sentence"),
    ],
)
def test_tagging_errors(y_true: list, y_pred: list, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        tagging_metrics(y_true, y_pred)


BIOES = st.lists(
    st.lists(
        st.sampled_from(["O", "B-A", "I-A", "E-A", "S-A", "B-B", "I-B", "E-B", "S-B"]),
        min_size=0,
        max_size=12,
    ),
    min_size=1,
    max_size=6,
)
BIO = st.lists(
    st.lists(
        st.sampled_from(["O", "O", "B-A", "I-A", "B-B", "I-B", "I-C"]), min_size=1, max_size=12
    ),
    min_size=1,
    max_size=6,
)


def same_shape(data: st.DataObject, y_true: list[list[str]], tags: list[str]) -> list[list[str]]:
    return [
        data.draw(st.lists(st.sampled_from(tags), min_size=len(s), max_size=len(s))) for s in y_true
    ]


@settings(max_examples=150, deadline=None)
@given(BIOES, st.data())
def test_tagging_properties(y_true: list[list[str]], data: st.DataObject) -> None:
    assume(any(y_true))
    y_pred = same_shape(data, y_true, ["O", "B-A", "I-A", "E-A", "S-A", "I-B", "S-B"])
    r = tagging_metrics(y_true, y_pred)
    assert r.entities is not None and r.f1 is not None
    assert 0.0 <= r.f1 <= 1.0 and 0.0 <= r.accuracy <= 1.0
    assert r.entities.correct <= min(r.entities.predicted, r.entities.overall.support)
    for sentence in y_true:
        spans = entities(sentence)
        assert all(0 <= a < b <= len(sentence) for _, a, b in spans)
        assert all(s1[2] <= s2[1] for s1, s2 in zip(spans, spans[1:]))  # ordered, disjoint
    perfect = tagging_metrics(y_true, y_true)
    assert perfect.accuracy == 1.0
    has_entities = perfect.entities is not None and perfect.entities.overall.support > 0
    assert perfect.f1 == (1.0 if has_entities else 0.0)


@settings(max_examples=150, deadline=None)
@given(st.one_of(BIO, BIOES), st.data())
def test_tagging_equals_seqeval(y_true: list[list[str]], data: st.DataObject) -> None:
    seqeval = pytest.importorskip("seqeval.metrics")
    labeling = pytest.importorskip("seqeval.metrics.sequence_labeling")
    assume(any(y_true))
    tags = sorted({t for s in y_true for t in s} | {"O", "I-A", "B-C"})
    y_pred = same_shape(data, y_true, tags)
    for sentence in [*y_true, *y_pred]:
        assert entities(sentence) == [(k, a, b + 1) for k, a, b in labeling.get_entities(sentence)]
    r = tagging_metrics(y_true, y_pred)
    f1 = quiet(seqeval.f1_score, y_true, y_pred, zero_division=0)
    precision = quiet(seqeval.precision_score, y_true, y_pred, zero_division=0)
    recall = quiet(seqeval.recall_score, y_true, y_pred, zero_division=0)
    assert (r.f1, r.precision, r.recall) == pytest.approx((f1, precision, recall), abs=1e-12)
    assert r.accuracy == pytest.approx(seqeval.accuracy_score(y_true, y_pred), abs=1e-12)
    assert r.per_type is not None and r.entities is not None
    if not r.per_type:
        return  # no entity anywhere: seqeval's averages over no types are NaN, ours 0
    report = quiet(seqeval.classification_report, y_true, y_pred, output_dict=True, zero_division=0)
    for kind, scores in r.per_type.items():
        assert scores.f1 == pytest.approx(report[kind]["f1-score"], abs=1e-12)
        assert scores.precision == pytest.approx(report[kind]["precision"], abs=1e-12)
        assert scores.support == report[kind]["support"]
    assert r.entities.macro.f1 == pytest.approx(report["macro avg"]["f1-score"], abs=1e-12)
    assert r.entities.weighted.f1 == pytest.approx(report["weighted avg"]["f1-score"], abs=1e-12)


# --- seq2seq ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "d"),
    [
        ("", "", 0),
        ("abc", "", 3),
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        (["K", "AE1", "T"], ["K", "AA1", "T", "S"], 2),
        ("abc", "abc", 0),
    ],
)
def test_edit_distance_by_hand(a: str, b: str, d: int) -> None:
    assert edit_distance(a, b) == d


SEQ = st.lists(st.sampled_from("abcd"), max_size=9)


@settings(max_examples=200, deadline=None)
@given(SEQ, SEQ, SEQ)
def test_edit_distance_is_a_metric(a: list[str], b: list[str], c: list[str]) -> None:
    d = edit_distance(a, b)
    assert d == edit_distance(b, a)
    assert (d == 0) == (a == b)
    assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))
    assert edit_distance(a, c) <= d + edit_distance(b, c)


def test_exact_match_and_token_error_rate_by_hand() -> None:
    hyps = ["R EH1 D", "K AE1", "D AO1 G"]
    refs = [["R IY1 D", "R EH1 D"], "K AE1 T", ["D AA1 G", "D AO1 G Z"]]
    assert exact_match(hyps, refs) == pytest.approx(1 / 3)
    # 0 edits against "R EH1 D" (3), 1 against "K AE1 T" (3), 1 against "D AA1 G" (3, first
    # of two references one edit away).
    assert token_error_rate(hyps, refs) == pytest.approx(2 / 9)
    # Equally near references: the first listed gives the length.
    assert token_error_rate(["A"], [["B", "A B"]]) == 1.0
    assert token_error_rate(["A"], [["A B", "B"]]) == 0.5
    # Lists of tokens score characters (or any units).
    assert exact_match([list("2021-05-05")], [[list("2021-05-05")]]) == 1.0
    assert token_error_rate([list("2021-05-06")], [[list("2021-05-05")]]) == 0.1


def test_seq2seq_result() -> None:
    r = seq2seq_metrics(["a b c d", "e f"], [["a b c d"], ["e g", "x"]])
    assert (r.exact_match, r.token_error_rate, r.sentences) == (0.5, pytest.approx(1 / 6), 2)
    d = r.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert {"exact_match", "token_error_rate", "bleu"} <= set(d)
    assert "exact match       0.5000" in r.table()


@pytest.mark.parametrize(
    ("hyps", "refs", "message"),
    [
        ([], [], "at least one"),
        (["a"], [["a"], ["b"]], "expected equal lengths, got 1 and 2"),
        (["a"], [[]], "hypothesis 0 has no reference"),
        ([""], [[""]], "expected reference tokens"),
    ],
)
def test_seq2seq_errors(hyps: list, refs: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        token_error_rate(hyps, refs)


def test_bleu_by_hand() -> None:
    # 1-grams 4/5, 2-grams 2/4, 3-grams 1/3, 4-grams 0/2 (smoothed: 100 / (2 * 2)), hypothesis
    # of 5 tokens against a reference of 6: brevity penalty exp(1 - 6/5).
    b = corpus_bleu(["a b c x d"], ["a b c y d e"])
    assert (b.counts, b.totals, b.sys_len, b.ref_len) == ([4, 2, 1, 0], [5, 4, 3, 2], 5, 6)
    assert b.precisions == pytest.approx([80.0, 50.0, 100 / 3, 25.0])
    assert b.bp == pytest.approx(math.exp(1 - 6 / 5))
    expected = math.exp(1 - 6 / 5) * (80.0 * 50.0 * 100 / 3 * 25.0) ** 0.25
    assert b.score == pytest.approx(expected)
    # The closest reference length (the shorter on a tie) sets the brevity penalty.
    assert corpus_bleu(["a b c d"], [["a b c d e f", "a b c"]]).ref_len == 3
    assert corpus_bleu(["a b c d e"], [["a b c d e f", "a b c d"]]).ref_len == 4
    # Nothing matched, or no 4-gram at all: 0.
    assert corpus_bleu(["x y z w"], ["a b c d"]).score == 0.0
    assert corpus_bleu(["a b c"], ["a b c"]).score == 0.0
    assert "BLEU = 0.00" in str(corpus_bleu([""], ["a b c d"]))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from("abcdef"), max_size=10), min_size=1, max_size=6))
def test_bleu_of_identical_corpora_is_100(corpus: list[list[str]]) -> None:
    assume(any(len(s) >= 4 for s in corpus))
    texts = [" ".join(s) for s in corpus]
    assert corpus_bleu(texts, texts).score == pytest.approx(100.0)
    assert exact_match(texts, texts) == 1.0


SENTENCE = st.lists(st.sampled_from("abcde"), max_size=9).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(SENTENCE, st.lists(SENTENCE, min_size=1, max_size=3)), min_size=1, max_size=8
    )
)
def test_bleu_equals_sacrebleu(rows: list[tuple[str, list[str]]]) -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps = [h for h, _ in rows]
    refs = [r for _, r in rows]
    streams = [[r[k] if k < len(r) else None for r in refs] for k in range(max(map(len, refs)))]
    theirs = sacrebleu.corpus_bleu(hyps, streams, tokenize="none")
    ours = corpus_bleu(hyps, refs)
    assert ours.score == theirs.score  # the same arithmetic: equal to the last bit
    assert (ours.counts, ours.totals) == (theirs.counts, theirs.totals)
    assert (ours.sys_len, ours.ref_len, ours.bp) == (theirs.sys_len, theirs.ref_len, theirs.bp)
    assert ours.precisions == theirs.precisions
    assert str(ours) == str(theirs)


def corrupted(pronunciations: list[str], seed: int) -> list[str]:
    """Each pronunciation with one phone dropped or replaced, or left as it is."""
    rng = np.random.default_rng(seed)
    out = []
    for phones in pronunciations:
        p = phones.split()
        i = int(rng.integers(len(p)))
        change = int(rng.integers(3))
        if change == 1 and len(p) > 1:
            del p[i]
        elif change == 2:
            p[i] = "ZH"
        out.append(" ".join(p))
    return out


def test_metrics_on_cmudict_dev_equal_sacrebleu(shared_data: Path) -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    from rnnrs.text.tasks import read_cmudict

    words, references = read_cmudict(shared_data / "cmudict" / "dev.dict").grouped()
    hyps = corrupted([r[0] for r in references], seed=0)
    r = seq2seq_metrics(hyps, references)
    unchanged = sum(h == refs[0] for h, refs in zip(hyps, references))
    assert r.exact_match >= unchanged / len(words)  # a corrupted first may match a second
    assert 0.0 < r.token_error_rate < 0.5
    streams = [
        [refs[k] if k < len(refs) else None for refs in references]
        for k in range(max(map(len, references)))
    ]
    theirs = sacrebleu.corpus_bleu(hyps, streams, tokenize="none")
    assert 20.0 < r.bleu.score == theirs.score


def test_entity_f1_on_wnut17_dev_equals_seqeval(shared_data: Path) -> None:
    seqeval = pytest.importorskip("seqeval.metrics")
    from rnnrs.text.tasks import read_conll

    gold = read_conll(shared_data / "wnut17" / "dev.conll").tags or []
    tags = sorted({t for s in gold for t in s})
    rng = np.random.default_rng(0)
    # Each tag kept with probability 0.9, otherwise replaced by a random tag of the set.
    pred = [
        [t if rng.random() < 0.9 else tags[int(rng.integers(len(tags)))] for t in s] for s in gold
    ]
    r = tagging_metrics(gold, pred)
    assert r.per_type is not None and len(r.per_type) == 6
    assert r.f1 == pytest.approx(quiet(seqeval.f1_score, gold, pred), abs=1e-12)
    report = quiet(seqeval.classification_report, gold, pred, output_dict=True)
    for kind, scores in r.per_type.items():
        assert (scores.precision, scores.recall, scores.f1, scores.support) == pytest.approx(
            tuple(report[kind][k] for k in ("precision", "recall", "f1-score", "support")),
            abs=1e-12,
        )
