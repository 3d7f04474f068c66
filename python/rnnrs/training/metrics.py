"""Evaluation metrics for classification, tagging and seq2seq, with the conventions users know.

- Classification (:func:`classification_metrics`): accuracy, per-class precision, recall, F1
  and support, their macro, micro and support-weighted averages and the confusion matrix, as
  scikit-learn's ``classification_report`` and ``confusion_matrix`` compute them (an undefined
  ratio such as the precision of a class never predicted counts as 0).
- Tagging (:func:`tagging_metrics`): token accuracy, and for BIO / BIOES tags entity-level
  precision, recall and F1 per type and overall, with the entity boundaries of conlleval as
  seqeval extends them to BIOES (:func:`entities`).
- Seq2seq (:func:`seq2seq_metrics`): exact match and token error rate against one or several
  references per hypothesis, and corpus BLEU equal to ``sacrebleu.corpus_bleu(hypotheses,
  [references], tokenize="none")`` with sacrebleu's defaults (:func:`corpus_bleu`).

Each result has ``to_dict()`` (JSON-serialisable) and ``table()`` (a text report; ``str()``
gives the same).

Example:
    >>> from rnnrs.training.metrics import classification_metrics
    >>> result = classification_metrics(["pos", "neg", "pos"], ["pos", "pos", "pos"])
    >>> round(result.accuracy, 4), round(result.macro_f1, 4)
    (0.6667, 0.4)
    >>> result.confusion_matrix.tolist()
    [[0, 1], [0, 2]]
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np

Label = Union[str, int]
Tokens = Union[str, Sequence[str]]

BLEU_MAX_ORDER = 4
# sacrebleu's floor for log(0) (sacrebleu.utils.my_log), so a zero precision gives BLEU 0.
_LOG_ZERO = -9999999999.0
_ENTITY_PREFIXES = ("B", "I", "E", "S")


# --- shared pieces ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of one class (or an average of classes) and its support.

    ``support`` is the number of gold items of the class (for an average, of all classes).
    """

    precision: float
    recall: float
    f1: float
    support: int

    @classmethod
    def from_counts(cls, correct: int, predicted: int, gold: int) -> Scores:
        """Scores from the number of correct, predicted and gold items; 0/0 counts as 0."""
        return cls(
            precision=correct / predicted if predicted else 0.0,
            recall=correct / gold if gold else 0.0,
            f1=2 * correct / (predicted + gold) if predicted + gold else 0.0,
            support=gold,
        )

    def to_dict(self) -> dict[str, Union[float, int]]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "support": self.support,
        }


def _averages(per_class: Sequence[Scores]) -> tuple[Scores, Scores]:
    """The unweighted (macro) and support-weighted means of per-class scores."""
    support = sum(s.support for s in per_class)
    k = len(per_class)
    macro = Scores(
        sum(s.precision for s in per_class) / k if k else 0.0,
        sum(s.recall for s in per_class) / k if k else 0.0,
        sum(s.f1 for s in per_class) / k if k else 0.0,
        support,
    )
    weighted = Scores(
        sum(s.precision * s.support for s in per_class) / support if support else 0.0,
        sum(s.recall * s.support for s in per_class) / support if support else 0.0,
        sum(s.f1 * s.support for s in per_class) / support if support else 0.0,
        support,
    )
    return macro, weighted


def _report(
    rows: Sequence[tuple[str, Scores]],
    averages: Sequence[tuple[str, Scores]],
    digits: int,
    accuracy: Optional[tuple[float, int]] = None,
) -> str:
    """A table in the layout of scikit-learn's ``classification_report``."""
    width = max([len("weighted avg"), digits, *(len(name) for name, _ in rows)])
    head = "{:>{width}s} " + " {:>9}" * 4
    row = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    out = head.format("", "precision", "recall", "f1-score", "support", width=width) + "\n\n"
    for name, s in rows:
        out += row.format(name, s.precision, s.recall, s.f1, s.support, width=width, digits=digits)
    out += "\n"
    if accuracy is not None:
        acc_row = "{:>{width}s} " + " {:>9}" * 2 + " {:>9.{digits}f}" + " {:>9}\n"
        out += acc_row.format("accuracy", "", "", *accuracy, width=width, digits=digits)
    for name, s in averages:
        out += row.format(name, s.precision, s.recall, s.f1, s.support, width=width, digits=digits)
    return out.rstrip("\n")


def _plain(label: Any) -> Label:
    """A NumPy scalar label as the Python int or str it stands for (so results are JSON-able)."""
    if isinstance(label, np.generic):
        plain = label.item()
        if isinstance(plain, (str, int)):
            return plain
    if isinstance(label, (str, int)):
        return label
    raise TypeError(f"labels: expected str or int labels, got {label!r}")


def _check_pair(a: Sequence[Any], b: Sequence[Any], names: tuple[str, str]) -> None:
    if len(a) != len(b):
        raise ValueError(
            f"{names[0]}, {names[1]}: expected equal lengths, got {len(a)} and {len(b)}"
        )
    if len(a) == 0:
        raise ValueError(f"{names[0]}: expected at least one item, got none")


# --- classification ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ClassificationResult:
    """Classification scores; ``confusion_matrix[i, j]`` counts gold ``labels[i]`` predicted
    as ``labels[j]`` (scikit-learn's layout).

    ``micro`` pools all decisions: for single-label classification its precision, recall and
    F1 all equal ``accuracy``.
    """

    labels: list[Label]
    confusion_matrix: np.ndarray
    accuracy: float
    per_class: dict[Label, Scores]
    macro: Scores
    micro: Scores
    weighted: Scores

    @property
    def macro_f1(self) -> float:
        """The unweighted mean of the per-class F1 scores."""
        return self.macro.f1

    def to_dict(self) -> dict[str, Any]:
        """Keys ``accuracy``, ``macro_f1``, ``per_class`` (by ``str(label)``), ``macro``,
        ``micro``, ``weighted``, ``confusion_matrix`` (rows gold, columns predicted) and
        ``labels`` (as given, in the matrix's order)."""
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": {str(label): s.to_dict() for label, s in self.per_class.items()},
            "macro": self.macro.to_dict(),
            "micro": self.micro.to_dict(),
            "weighted": self.weighted.to_dict(),
            "confusion_matrix": self.confusion_matrix.tolist(),
            "labels": list(self.labels),
        }

    def table(self, digits: int = 4) -> str:
        """Per-class precision, recall, F1 and support, accuracy, macro and weighted averages
        (scikit-learn's ``classification_report`` layout)."""
        n = int(self.confusion_matrix.sum())
        return _report(
            [(str(label), s) for label, s in self.per_class.items()],
            [("macro avg", self.macro), ("weighted avg", self.weighted)],
            digits,
            accuracy=(self.accuracy, n),
        )

    def confusion_table(self) -> str:
        """The confusion matrix with gold labels down and predicted labels across."""
        names = [str(label) for label in self.labels]
        corner = "gold \\ predicted"
        first = max(len(corner), *(len(name) for name in names))
        cells = [max(len(name), len(str(int(self.confusion_matrix.max())))) for name in names]
        lines = [f"{corner:>{first}}  " + "  ".join(f"{n:>{w}}" for n, w in zip(names, cells))]
        for name, counts in zip(names, self.confusion_matrix.tolist()):
            row = "  ".join(f"{c:>{w}}" for c, w in zip(counts, cells))
            lines.append(f"{name:>{first}}  {row}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table() + "\n\n" + self.confusion_table()


def _label_order(y_true: Sequence[Label], y_pred: Sequence[Label]) -> list[Label]:
    found = {_plain(y) for y in (*y_true, *y_pred)}
    if len({isinstance(y, str) for y in found}) > 1:
        raise ValueError(
            "y_true, y_pred: expected labels of one type, got both strings and "
            "integers; pass labels= to fix their order"
        )
    return sorted(found)


def _indices(values: Sequence[Label], index: dict[Label, int], name: str) -> np.ndarray:
    out = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        try:
            out[i] = index[value]
        except KeyError:
            raise ValueError(
                f"{name}: label {value!r} at index {i} is not one of labels {list(index)}"
            ) from None
    return out


def classification_metrics(
    y_true: Sequence[Label],
    y_pred: Sequence[Label],
    *,
    labels: Optional[Sequence[Label]] = None,
) -> ClassificationResult:
    """Accuracy, per-class and averaged precision/recall/F1, and the confusion matrix.

    ``labels`` fixes the classes and their order (a gold or predicted label outside them is an
    error); by default the sorted union of the labels seen. Precision of a class never
    predicted, recall of a class never gold, and F1 when both are 0, count as 0 (scikit-learn's
    ``zero_division`` default); macro averages include every class of ``labels``.

    Example:
        >>> r = classification_metrics([0, 0, 1, 2], [0, 1, 1, 1])
        >>> print(r.table(digits=2))
                      precision    recall  f1-score   support
        <BLANKLINE>
                   0       1.00      0.50      0.67         2
                   1       0.33      1.00      0.50         1
                   2       0.00      0.00      0.00         1
        <BLANKLINE>
            accuracy                           0.50         4
           macro avg       0.44      0.50      0.39         4
        weighted avg       0.58      0.50      0.46         4
        >>> print(r.confusion_table())
        gold \\ predicted  0  1  2
                       0  1  1  0
                       1  0  1  0
                       2  0  1  0
    """
    _check_pair(y_true, y_pred, ("y_true", "y_pred"))
    if labels is None:
        order = _label_order(y_true, y_pred)
    else:
        order = [_plain(label) for label in labels]
        if len(set(order)) != len(order) or not order:
            raise ValueError(f"labels: expected distinct labels, got {list(labels)!r}")
    index = {label: i for i, label in enumerate(order)}
    k = len(order)
    gold = _indices(y_true, index, "y_true")
    pred = _indices(y_pred, index, "y_pred")
    matrix = np.bincount(gold * k + pred, minlength=k * k).reshape(k, k)
    correct = np.diag(matrix)
    predicted = matrix.sum(axis=0)
    support = matrix.sum(axis=1)
    per_class = {
        label: Scores.from_counts(int(correct[i]), int(predicted[i]), int(support[i]))
        for i, label in enumerate(order)
    }
    macro, weighted = _averages(list(per_class.values()))
    n = len(y_true)
    micro = Scores.from_counts(int(correct.sum()), n, n)
    return ClassificationResult(
        order, matrix, int(correct.sum()) / n, per_class, macro, micro, weighted
    )


# --- tagging ----------------------------------------------------------------------------------


def _split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``, ``"O"`` -> ``("O", "")``; anything else is an error."""
    if tag == "O":
        return "O", ""
    prefix, dash, kind = tag.partition("-")
    if prefix in _ENTITY_PREFIXES and dash and kind:
        return prefix, kind
    raise ValueError(f"tags: expected 'O' or a B-/I-/E-/S- prefixed tag, got {tag!r}")


def is_entity_tagset(tags: Iterable[str]) -> bool:
    """Whether every tag is ``O`` or ``B-``/``I-``/``E-``/``S-`` followed by a type.

    Example:
        >>> is_entity_tagset(["O", "B-PER", "I-PER"]), is_entity_tagset(["NOUN", "VERB"])
        (True, False)
    """
    for tag in tags:
        try:
            _split_tag(tag)
        except ValueError:
            return False
    return True


def entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The entities of one sentence's BIO or BIOES tags as ``(type, start, end)``, ``end``
    exclusive, by conlleval's rules as seqeval extends them to BIOES.

    An entity starts at ``B-`` or ``S-``, and at ``I-``/``E-`` after ``O``, after ``E-``/``S-``
    or after a tag of another type (so an ``I-`` without a ``B-`` starts one); it ends before
    ``B-``, ``S-``, ``O`` or a change of type, and after ``E-`` or ``S-``. These are
    conlleval's boundaries exactly on BIO tags.

    Example:
        >>> entities(["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "S-ORG"])
        [('PER', 0, 2), ('LOC', 3, 5), ('LOC', 5, 6), ('ORG', 6, 7)]
    """
    found: list[tuple[str, int, int]] = []
    prev, prev_kind, start = "O", "", 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, kind = _split_tag(tag)
        ends = (
            prev in ("E", "S")
            or (prev in ("B", "I") and prefix in ("B", "S", "O"))
            or (prev != "O" and prev_kind != kind)
        )
        starts = (
            prefix in ("B", "S")
            or (prev in ("E", "S", "O") and prefix in ("I", "E"))
            or (prefix != "O" and prev_kind != kind)
        )
        if ends:
            found.append((prev_kind, start, i))
        if starts:
            start = i
        prev, prev_kind = prefix, kind
    return found


@dataclass(frozen=True)
class EntityResult:
    """Entity-level scores: ``overall`` pools all entities (conlleval's figures; its support
    is the number of gold entities), ``per_type`` by entity type, sorted."""

    overall: Scores
    per_type: dict[str, Scores]
    macro: Scores
    weighted: Scores
    predicted: int
    correct: int


@dataclass(frozen=True, eq=False)
class TaggingResult:
    """Token accuracy, and entity scores (``entities``) for BIO/BIOES tags or else per-tag
    scores (``per_tag``, each tag a class)."""

    accuracy: float
    tokens: int
    sentences: int
    entities: Optional[EntityResult]
    per_tag: Optional[ClassificationResult]

    @property
    def precision(self) -> Optional[float]:
        """Entity precision over all types (None for tags that are not BIO/BIOES)."""
        return self.entities.overall.precision if self.entities else None

    @property
    def recall(self) -> Optional[float]:
        """Entity recall over all types (None for tags that are not BIO/BIOES)."""
        return self.entities.overall.recall if self.entities else None

    @property
    def f1(self) -> Optional[float]:
        """Entity F1 over all types (None for tags that are not BIO/BIOES)."""
        return self.entities.overall.f1 if self.entities else None

    @property
    def per_type(self) -> Optional[dict[str, Scores]]:
        """Entity scores by type (None for tags that are not BIO/BIOES)."""
        return self.entities.per_type if self.entities else None

    def to_dict(self) -> dict[str, Any]:
        """``accuracy``, ``tokens``, ``sentences``; for entities ``precision``, ``recall``,
        ``f1``, ``macro_f1``, ``per_type`` and ``entities`` (gold, predicted and correct
        counts); otherwise ``macro_f1`` and ``per_tag`` over the tags."""
        out: dict[str, Any] = {
            "accuracy": self.accuracy,
            "tokens": self.tokens,
            "sentences": self.sentences,
        }
        if self.entities is not None:
            e = self.entities
            out.update(
                precision=e.overall.precision,
                recall=e.overall.recall,
                f1=e.overall.f1,
                macro_f1=e.macro.f1,
                per_type={kind: s.to_dict() for kind, s in e.per_type.items()},
                entities={
                    "gold": e.overall.support,
                    "predicted": e.predicted,
                    "correct": e.correct,
                },
            )
        elif self.per_tag is not None:
            out.update(
                macro_f1=self.per_tag.macro_f1,
                per_tag={str(t): s.to_dict() for t, s in self.per_tag.per_class.items()},
            )
        return out

    def table(self, digits: int = 4) -> str:
        """A summary line, then the per-type entity table (micro, macro and weighted
        averages, as seqeval prints it) or the per-tag table."""
        if self.entities is None:
            head = f"processed {self.tokens} tokens in {self.sentences} sentences"
            per_tag = self.per_tag.table(digits) if self.per_tag is not None else ""
            return f"{head}; token accuracy: {self.accuracy:.{digits}f}\n\n{per_tag}"
        e = self.entities
        head = (
            f"processed {self.tokens} tokens with {e.overall.support} phrases; "
            f"found: {e.predicted} phrases; correct: {e.correct}.\n"
            f"token accuracy: {self.accuracy:.{digits}f}"
        )
        body = _report(
            list(e.per_type.items()),
            [("micro avg", e.overall), ("macro avg", e.macro), ("weighted avg", e.weighted)],
            digits,
        )
        return f"{head}\n\n{body}"

    def __str__(self) -> str:
        return self.table()


def tagging_metrics(
    y_true: Sequence[Sequence[str]],
    y_pred: Sequence[Sequence[str]],
    *,
    entity_level: Optional[bool] = None,
) -> TaggingResult:
    """Token accuracy over all tokens, and entity-level scores for BIO/BIOES tags.

    ``y_true`` and ``y_pred`` hold one list of tags per sentence. ``entity_level`` None scores
    entities when every gold tag is ``O`` or ``B-``/``I-``/``E-``/``S-`` + type
    (:func:`is_entity_tagset`); then predicted tags must be of that form too. An entity is
    correct when its type, start and end all match a gold entity (conlleval, seqeval's
    default mode; :func:`entities` gives the boundaries). Without entities, ``per_tag`` scores
    each tag as a class.

    Example:
        >>> gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
        >>> pred = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "I-ORG"]]
        >>> r = tagging_metrics(gold, pred)
        >>> round(r.accuracy, 4), round(r.f1, 4), r.per_type["PER"].f1, r.per_type["LOC"].f1
        (0.6667, 0.6667, 1.0, 0.0)
        >>> tagging_metrics([["NOUN", "VERB"]], [["NOUN", "NOUN"]]).f1 is None
        True
    """
    _check_pair(y_true, y_pred, ("y_true", "y_pred"))
    correct_tokens = tokens = 0
    for i, (gold, pred) in enumerate(zip(y_true, y_pred)):
        if isinstance(gold, str) or isinstance(pred, str):
            raise TypeError(
                f"y_true, y_pred: expected a list of tags per sentence, got a str at sentence {i}"
            )
        if len(gold) != len(pred):
            raise ValueError(
                f"y_pred: sentence {i} has {len(pred)} tags, expected {len(gold)} as in y_true"
            )
        tokens += len(gold)
        correct_tokens += sum(g == p for g, p in zip(gold, pred))
    if tokens == 0:
        raise ValueError("y_true: expected at least one token, got only empty sentences")
    if entity_level is None:
        entity_level = is_entity_tagset(t for sentence in y_true for t in sentence)
    accuracy = correct_tokens / tokens
    if not entity_level:
        flat_true = [t for sentence in y_true for t in sentence]
        flat_pred = [t for sentence in y_pred for t in sentence]
        per_tag = classification_metrics(flat_true, flat_pred)
        return TaggingResult(accuracy, tokens, len(y_true), None, per_tag)
    gold_spans: set[tuple[int, str, int, int]] = set()
    pred_spans: set[tuple[int, str, int, int]] = set()
    for i, (gold, pred) in enumerate(zip(y_true, y_pred)):
        gold_spans.update((i, *span) for span in entities(gold))
        pred_spans.update((i, *span) for span in entities(pred))
    hits = gold_spans & pred_spans
    kinds = sorted({span[1] for span in gold_spans | pred_spans})
    count: Counter[tuple[str, str]] = Counter()
    for name, spans in (("gold", gold_spans), ("pred", pred_spans), ("hit", hits)):
        count.update((name, span[1]) for span in spans)
    per_type = {
        kind: Scores.from_counts(count["hit", kind], count["pred", kind], count["gold", kind])
        for kind in kinds
    }
    macro, weighted = _averages(list(per_type.values()))
    overall = Scores.from_counts(len(hits), len(pred_spans), len(gold_spans))
    result = EntityResult(overall, per_type, macro, weighted, len(pred_spans), len(hits))
    return TaggingResult(accuracy, tokens, len(y_true), result, None)


# --- sequence to sequence ---------------------------------------------------------------------


def _tokens(value: Tokens, name: str) -> tuple[str, ...]:
    """A str split on whitespace, or a sequence of tokens as given."""
    if isinstance(value, str):
        return tuple(value.split())
    if not all(isinstance(t, str) for t in value):
        raise TypeError(f"{name}: expected a str or a sequence of str tokens, got {value!r}")
    return tuple(value)


def _references(
    references: Sequence[Union[str, Sequence[Tokens]]], n: int
) -> list[list[tuple[str, ...]]]:
    """Per hypothesis, its references as token tuples (a lone str is one reference)."""
    if len(references) != n:
        raise ValueError(
            f"hypotheses, references: expected equal lengths, got {n} and {len(references)}"
        )
    out = []
    for i, refs in enumerate(references):
        options = (
            [_tokens(refs, "references")]
            if isinstance(refs, str)
            else [_tokens(r, "references") for r in refs]
        )
        if not options:
            raise ValueError(f"references: hypothesis {i} has no reference")
        out.append(options)
    return out


def _hypotheses(hypotheses: Sequence[Tokens]) -> list[tuple[str, ...]]:
    if not hypotheses:
        raise ValueError("hypotheses: expected at least one, got none")
    return [_tokens(h, "hypotheses") for h in hypotheses]


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions (each costing
    1) that turn ``a`` into ``b``. Items are compared with ``==``; a str is its characters.

    Example:
        >>> edit_distance("kitten", "sitting"), edit_distance(["K", "AE1", "T"], ["K", "AE1"])
        (3, 1)
    """
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def exact_match(
    hypotheses: Sequence[Tokens], references: Sequence[Union[str, Sequence[Tokens]]]
) -> float:
    """The fraction of hypotheses whose tokens equal those of any of their references.

    ``references[i]`` is hypothesis ``i``'s reference, or a list of several (e.g. the
    pronunciations of one word, as :meth:`rnnrs.text.tasks.PairData.grouped` gives them). A str
    is split on whitespace; pass a list of tokens to compare characters or other units.
    ``1 - exact_match`` is what grapheme-to-phoneme papers call the word error rate.

    Example:
        >>> exact_match(["R EH1 D", "K AE1 T"], [["R IY1 D", "R EH1 D"], "K AA1 T"])
        0.5
    """
    hyps = _hypotheses(hypotheses)
    refs = _references(references, len(hyps))
    return sum(any(h == r for r in options) for h, options in zip(hyps, refs)) / len(hyps)


def _best_reference(hyp: tuple[str, ...], options: list[tuple[str, ...]]) -> tuple[int, int]:
    """(edit distance, reference length) for the reference nearest ``hyp``; the first of
    equally near ones."""
    return min(((edit_distance(hyp, r), len(r)) for r in options), key=lambda dl: dl[0])


def token_error_rate(
    hypotheses: Sequence[Tokens], references: Sequence[Union[str, Sequence[Tokens]]]
) -> float:
    """Corpus token error rate: total edit distance over total reference length.

    Each hypothesis is scored against its nearest reference (fewest edits; the first listed
    among equally near ones), and the distances and that reference's lengths are summed over
    the corpus before dividing, as word error rate is in speech recognition (not a mean of
    per-sentence rates). On phone strings this is the phoneme error rate (PER); on words, the
    word error rate. References take the forms of :func:`exact_match`.

    Example:
        >>> token_error_rate(["R EH1 D", "K AE1"], [["R IY1 D", "R EH1 D"], "K AE1 T"])
        0.16666666666666666
    """
    hyps = _hypotheses(hypotheses)
    refs = _references(references, len(hyps))
    errors = length = 0
    for hyp, options in zip(hyps, refs):
        distance, ref_len = _best_reference(hyp, options)
        errors += distance
        length += ref_len
    if length == 0:
        raise ValueError("references: expected reference tokens to compare with, got none")
    return errors / length


@dataclass(frozen=True)
class BleuScore:
    """Corpus BLEU (0-100) with sacrebleu's sufficient statistics: matched (``counts``) and
    hypothesis (``totals``) n-grams per order, n-gram precisions in percent, the brevity
    penalty ``bp`` and the hypothesis and (closest) reference lengths."""

    score: float
    counts: list[int]
    totals: list[int]
    precisions: list[float]
    bp: float
    sys_len: int
    ref_len: int

    @property
    def ratio(self) -> float:
        """Hypothesis length over reference length."""
        return self.sys_len / self.ref_len if self.ref_len else 0.0

    def __str__(self) -> str:
        precisions = "/".join(f"{p:.1f}" for p in self.precisions)
        return (
            f"BLEU = {self.score:.2f} {precisions} (BP = {self.bp:.3f} ratio = "
            f"{self.ratio:.3f} hyp_len = {self.sys_len:d} ref_len = {self.ref_len:d})"
        )


def _ngrams(tokens: tuple[str, ...], max_order: int) -> Counter[tuple[str, ...]]:
    return Counter(
        tokens[i : i + n] for n in range(1, max_order + 1) for i in range(len(tokens) - n + 1)
    )


def _closest_length(hyp_len: int, ref_lens: list[int]) -> int:
    """The reference length nearest the hypothesis length; the shorter one on a tie."""
    return min(ref_lens, key=lambda r: (abs(hyp_len - r), r))


def corpus_bleu(
    hypotheses: Sequence[Tokens],
    references: Sequence[Union[str, Sequence[Tokens]]],
    *,
    max_order: int = BLEU_MAX_ORDER,
) -> BleuScore:
    """Corpus BLEU as sacrebleu computes it on text already tokenized, with its defaults.

    Equal to ``sacrebleu.corpus_bleu(hypotheses, streams, tokenize="none")`` where
    ``streams[k][i]`` is the ``k``-th reference of hypothesis ``i`` (``None`` where it has
    fewer). Tokens are whitespace-separated (or given as lists). Matched n-gram counts are
    clipped by the largest count in any one reference; n-grams up to ``max_order`` (4); the
    brevity penalty ``exp(1 - r/c)`` when the hypotheses' length ``c`` is below ``r``, the sum
    of each hypothesis's closest reference length (the shorter on a tie); sacrebleu's default
    "exp" smoothing: the k-th order with no match gets precision ``100 / (2^k * total)``; no
    match at all gives 0. So a corpus whose hypotheses all have fewer than 4 tokens scores 0.

    Example:
        >>> hyps = ["the cat sat on the mat", "a dog barked"]
        >>> refs = [["the cat sat on a mat", "the cat sat on the mat"], "the dog barked"]
        >>> print(corpus_bleu(hyps, refs))
        BLEU = 88.36 88.9/85.7/80.0/100.0 (BP = 1.000 ratio = 1.000 hyp_len = 9 ref_len = 9)
    """
    if max_order < 1:
        raise ValueError(f"max_order: expected an int >= 1, got {max_order}")
    hyps = _hypotheses(hypotheses)
    refs = _references(references, len(hyps))
    counts = [0] * max_order
    totals = [0] * max_order
    sys_len = ref_len = 0
    for hyp, options in zip(hyps, refs):
        clip: Counter[tuple[str, ...]] = Counter()
        for ref in options:
            for gram, c in _ngrams(ref, max_order).items():
                clip[gram] = max(clip[gram], c)
        for gram, c in _ngrams(hyp, max_order).items():
            totals[len(gram) - 1] += c
            counts[len(gram) - 1] += min(c, clip[gram])
        sys_len += len(hyp)
        ref_len += _closest_length(len(hyp), [len(r) for r in options])
    return _bleu(counts, totals, sys_len, ref_len)


def _bleu(counts: list[int], totals: list[int], sys_len: int, ref_len: int) -> BleuScore:
    # The arithmetic of sacrebleu's BLEU.compute_bleu (smooth_method="exp"), step for step,
    # so the floats agree to the last bit.
    order = len(counts)
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    precisions = [0.0] * order
    if not any(counts):
        return BleuScore(0.0, counts, totals, precisions, bp, sys_len, ref_len)
    smooth = 1.0
    for n in range(order):
        if totals[n] == 0:
            break
        if counts[n] == 0:
            smooth *= 2
            precisions[n] = 100.0 / (smooth * totals[n])
        else:
            precisions[n] = 100.0 * counts[n] / totals[n]
    logs = [math.log(p) if p != 0.0 else _LOG_ZERO for p in precisions]
    score = bp * math.exp(sum(logs) / order)
    return BleuScore(score, counts, totals, precisions, bp, sys_len, ref_len)


@dataclass(frozen=True)
class Seq2SeqResult:
    """Exact match, token error rate (phoneme error rate on phones) and corpus BLEU of a set of
    hypotheses against their references."""

    exact_match: float
    token_error_rate: float
    bleu: BleuScore
    sentences: int

    def to_dict(self) -> dict[str, Any]:
        """``exact_match``, ``token_error_rate``, ``bleu`` (the score, 0-100), ``sentences``
        and ``bleu_detail`` (precisions, brevity penalty, lengths)."""
        b = self.bleu
        return {
            "exact_match": self.exact_match,
            "token_error_rate": self.token_error_rate,
            "bleu": b.score,
            "sentences": self.sentences,
            "bleu_detail": {
                "precisions": b.precisions,
                "bp": b.bp,
                "sys_len": b.sys_len,
                "ref_len": b.ref_len,
                "counts": b.counts,
                "totals": b.totals,
            },
        }

    def table(self, digits: int = 4) -> str:
        """One metric per line."""
        return (
            f"sentences         {self.sentences}\n"
            f"exact match       {self.exact_match:.{digits}f}\n"
            f"token error rate  {self.token_error_rate:.{digits}f}\n"
            f"{self.bleu}"
        )

    def __str__(self) -> str:
        return self.table()


def seq2seq_metrics(
    hypotheses: Sequence[Tokens], references: Sequence[Union[str, Sequence[Tokens]]]
) -> Seq2SeqResult:
    """:func:`exact_match`, :func:`token_error_rate` and :func:`corpus_bleu` in one result.

    Example:
        >>> r = seq2seq_metrics(["R EH1 D", "K AE1"], [["R IY1 D", "R EH1 D"], "K AE1 T"])
        >>> r.exact_match, round(r.token_error_rate, 4)
        (0.5, 0.1667)
    """
    return Seq2SeqResult(
        exact_match(hypotheses, references),
        token_error_rate(hypotheses, references),
        corpus_bleu(hypotheses, references),
        len(hypotheses),
    )


__all__ = [
    "BleuScore",
    "ClassificationResult",
    "EntityResult",
    "Scores",
    "Seq2SeqResult",
    "TaggingResult",
    "classification_metrics",
    "corpus_bleu",
    "edit_distance",
    "entities",
    "exact_match",
    "is_entity_tagset",
    "seq2seq_metrics",
    "tagging_metrics",
    "token_error_rate",
]
