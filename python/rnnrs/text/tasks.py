"""Task data: read and write the files of classification, tagging and seq2seq tasks.

Three families of formats, each read into a small dataclass that keeps the file's path:

- classification (:class:`ClassificationData`: ``texts``, ``labels``): ``label<TAB>text`` TSV
  with or without a header, JSON lines ``{"text": ..., "label": ...}``, fastText
  ``__label__X text``;
- tagging (:class:`TaggingData`: ``tokens``, ``tags`` per sentence): CoNLL-U (UPOS by
  default, or XPOS or another column) and CoNLL column files (``token ... tag``); predictions
  are written back in the format read by :func:`write_tagging`;
- seq2seq (:class:`PairData`: ``sources``, ``targets``): ``source<TAB>target`` TSV and the
  CMU Pronouncing Dictionary (``word PH1 PH2 ...``, alternates ``word(2)``).

Files are UTF-8 (a leading byte-order mark is dropped), read line by line. Every error in a
file's content raises :class:`rnnrs.errors.FormatError` (a ``ValueError``) whose message starts
with ``<file>, line <N>:`` and says what was expected there and what was found; an empty file
raises it with ``<file>:`` alone. Bad arguments to the writers raise ``ValueError``.

Example:
    >>> from pathlib import Path
    >>> from rnnrs.text.tasks import read_classification, write_classification
    >>> write_classification("reviews.tsv", ["a fine film", "dull"], ["pos", "neg"])
    >>> data = read_classification("reviews.tsv")
    >>> data.texts, data.labels
    (['a fine film', 'dull'], ['pos', 'neg'])
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ..errors import FormatError

PathLike = Union[str, "os.PathLike[str]"]
Label = Union[str, int]

CLASSIFICATION_FORMATS = ("tsv", "jsonl", "fasttext")
TAGGING_FORMATS = ("conllu", "conll")
CONLLU_COLUMNS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")
FASTTEXT_PREFIX = "__label__"
DOCSTART = "-DOCSTART-"

_ALTERNATE = re.compile(r"^(.*\S)\((\d+)\)$")


# --- lines and errors -------------------------------------------------------------------------


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number from 1, text without its line ending)`` for each line of a UTF-8 file.

    Lines end at ``\\n`` only (a ``\\r`` before it is dropped), so other Unicode line
    separators inside a text stay part of it.
    """
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FormatError(
                    f"{path}, line {number}: expected UTF-8 text, got byte "
                    f"0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line ({exc.reason})"
                ) from None
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            yield number, text.rstrip("\r\n")


def _error(path: Path, number: int, message: str) -> FormatError:
    return FormatError(f"{path}, line {number}: {message}")


def _empty(path: Path, expected: str) -> FormatError:
    return FormatError(f"{path}: empty file, expected {expected}")


def _show(text: str, limit: int = 60) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _open_for_writing(path: PathLike) -> Path:
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"expected a file to write, got a directory: {p}")
    return p


_LINE_BREAKS = "\n\r"


def _check_field(
    value: str, name: str, where: str, *, forbidden: str = "", spaces: str = "any"
) -> None:
    """Writers' check that ``value`` reads back unchanged: a non-blank str without
    ``forbidden`` characters; ``spaces`` is ``"any"`` (read verbatim), ``"inside"`` (the
    reader strips the ends) or ``"none"`` (the reader splits on whitespace)."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a str {where}, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name}: expected a non-blank str {where}, got {value!r}")
    bad = next((c for c in value if c in forbidden or (spaces == "none" and c.isspace())), None)
    if bad is not None:
        raise ValueError(f"{name}: {value!r} {where} contains {bad!r}, which the format forbids")
    if spaces == "inside" and value != value.strip():
        raise ValueError(
            f"{name}: {value!r} {where} starts or ends with whitespace, which the format drops"
        )


def _check_lengths(a: Sequence[object], b: Sequence[object], names: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{names}: expected sequences of equal length, got {len(a)} and {len(b)}")


# --- classification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassificationData:
    """Texts with one label each, as read from ``path`` (None when built in memory).

    Labels are kept as the file gives them: text formats (TSV, fastText) give strings (``"0"``
    stays ``"0"``), JSON lines give strings or ints, never both in one file.

    Example:
        >>> data = ClassificationData(["good", "bad"], [1, 0])
        >>> len(data), data.label_set()
        (2, [0, 1])
    """

    texts: list[str]
    labels: list[Label]
    path: Optional[Path] = None

    def __post_init__(self) -> None:
        _check_lengths(self.texts, self.labels, "texts, labels")

    def __len__(self) -> int:
        return len(self.texts)

    def label_set(self) -> list[Label]:
        """The distinct labels, sorted."""
        return sorted(set(self.labels), key=_label_key)


def _label_key(label: Label) -> tuple[bool, Label]:
    # A file never mixes ints and strs; data built in memory may, so sort ints first.
    return (isinstance(label, str), label)


def _classification_format(path: Path) -> str:
    """The format of a classification file: by extension, else by its first non-blank line."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".tsv":
        return "tsv"
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        head = line.lstrip()
        if head.startswith("{"):
            return "jsonl"
        if head.startswith(FASTTEXT_PREFIX):
            return "fasttext"
        if "\t" in line:
            return "tsv"
        raise _error(
            path,
            number,
            "cannot tell the format: expected a JSON object, '__label__X text' or "
            f"'label<TAB>text', got {_show(line)}; pass format= one of {CLASSIFICATION_FORMATS}",
        )
    raise _empty(path, "labelled texts")


def _read_tsv_examples(path: Path) -> Iterator[tuple[str, Label]]:
    # Without a header: label, text. A header naming "label" and "text" (any order, any case)
    # chooses the columns; other header columns are ignored.
    label_col, text_col, n_cols = 0, 1, 2
    header_line: Optional[int] = None
    first = True
    rows = 0
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if first:
            first = False
            names = [f.strip().lower() for f in fields]
            if "label" in names and "text" in names:
                label_col, text_col, n_cols = names.index("label"), names.index("text"), len(names)
                header_line = number
                continue
            if "label" in names or "text" in names:
                missing = "text" if "label" in names else "label"
                raise _error(
                    path,
                    number,
                    f"expected a header naming 'label' and 'text' "
                    f"columns, got {fields!r} (no {missing!r} column)",
                )
        if len(fields) != n_cols:
            if header_line is not None:
                expected = f"{n_cols} tab-separated columns as in the header on line {header_line}"
            else:
                expected = "'label<TAB>text' (2 tab-separated columns)"
            got = "no tab" if len(fields) == 1 else f"{len(fields)} columns"
            raise _error(path, number, f"expected {expected}, got {got} in {_show(line)}")
        label, text = fields[label_col].strip(), fields[text_col]
        if not label:
            raise _error(path, number, f"expected a label in column {label_col + 1}, got nothing")
        if not text.strip():
            raise _error(path, number, f"expected a text in column {text_col + 1}, got nothing")
        rows += 1
        yield text, label
    if rows == 0:
        raise _empty(path, "'label<TAB>text' lines" + (" after the header" if header_line else ""))


def _read_jsonl_examples(path: Path) -> Iterator[tuple[str, Label]]:
    first_label: Optional[tuple[int, Label]] = None
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _error(
                path,
                number,
                f"expected a JSON object, got invalid JSON ({exc.msg} at column {exc.colno})",
            ) from None
        except RecursionError:
            raise _error(path, number, "expected a JSON object, got JSON nested too deep") from None
        if not isinstance(obj, dict):
            raise _error(
                path,
                number,
                'expected a JSON object {"text": ..., "label": ...}, '
                f"got a JSON {type(obj).__name__}",
            )
        for key in ("text", "label"):
            if key not in obj:
                raise _error(path, number, f"expected a {key!r} key, got keys {sorted(obj)}")
        text, label = obj["text"], obj["label"]
        if not isinstance(text, str) or not text.strip():
            raise _error(path, number, f"expected a non-empty string as 'text', got {text!r}")
        if (
            isinstance(label, bool)
            or not isinstance(label, (str, int))
            or (isinstance(label, str) and not label.strip())
        ):
            raise _error(path, number, f"expected a string or an integer as 'label', got {label!r}")
        if first_label is None:
            first_label = (number, label)
        elif isinstance(label, str) != isinstance(first_label[1], str):
            raise _error(
                path,
                number,
                f"expected labels of one type, got {label!r} here and "
                f"{first_label[1]!r} on line {first_label[0]} (mixed label types)",
            )
        yield text, label
    if first_label is None:
        raise _empty(path, 'JSON lines {"text": ..., "label": ...}')


def _read_fasttext_examples(path: Path) -> Iterator[tuple[str, Label]]:
    seen = False
    for number, line in numbered_lines(path):
        stripped = line.strip()
        if not stripped:
            continue
        seen = True
        first, rest = [*stripped.split(None, 1), ""][:2]
        if not first.startswith(FASTTEXT_PREFIX):
            raise _error(
                path, number, f"expected '{FASTTEXT_PREFIX}<label> <text>', got {_show(line)}"
            )
        label = first[len(FASTTEXT_PREFIX) :]
        if not label:
            raise _error(path, number, f"expected a label after '{FASTTEXT_PREFIX}', got none")
        others = [t for t in rest.split() if t.startswith(FASTTEXT_PREFIX)]
        if others:
            raise _error(
                path,
                number,
                "expected one label (single-label classification), "
                f"got {1 + len(others)}: {[first, *others]}",
            )
        text = rest.strip()
        if not text:
            raise _error(path, number, f"expected a text after the label {first!r}, got nothing")
        yield text, label
    if not seen:
        raise _empty(path, f"'{FASTTEXT_PREFIX}<label> <text>' lines")


_CLASSIFICATION_READERS = {
    "tsv": _read_tsv_examples,
    "jsonl": _read_jsonl_examples,
    "fasttext": _read_fasttext_examples,
}


def read_classification(path: PathLike, *, format: Optional[str] = None) -> ClassificationData:
    """Read labelled texts from a TSV, JSON-lines or fastText file.

    ``format`` is ``"tsv"``, ``"jsonl"`` or ``"fasttext"``; None tells it from the extension
    (``.tsv``, ``.jsonl``/``.ndjson``) or else from the first non-blank line. Blank lines are
    skipped everywhere.

    - TSV: ``label<TAB>text`` per line. A first line naming the columns ``label`` and ``text``
      (any order and case, e.g. ``text<TAB>label``) is a header; other header columns are
      ignored, and every line then has the header's number of columns. Labels are strings,
      stripped of surrounding spaces; texts are kept as written.
    - JSON lines: one object per line with a string ``"text"`` and a ``"label"`` that is a
      string or an integer (kept as given); all labels of a file are of one type.
    - fastText: ``__label__X text``, the label as a string, the text the rest of the line
      stripped. One label per line: a second ``__label__`` token is an error (fastText's
      multi-label lines are not single-label classification data).

    Example:
        >>> _ = Path("q.jsonl").write_text('{"text": "who is it ?", "label": 3}\\n')
        >>> read_classification("q.jsonl").labels
        [3]
        >>> _ = Path("bad.tsv").write_text("label\\ttext\\n1\\tfine\\nno tab here\\n")
        >>> read_classification("bad.tsv")
        Traceback (most recent call last):
        ...
        rnnrs.errors.FormatError: bad.tsv, line 3: expected 2 ... columns ..., got no tab ...
    """
    p = Path(path)
    fmt = format if format is not None else _classification_format(p)
    if fmt not in _CLASSIFICATION_READERS:
        raise ValueError(f"format: expected one of {CLASSIFICATION_FORMATS}, got {fmt!r}")
    texts: list[str] = []
    labels: list[Label] = []
    for text, label in _CLASSIFICATION_READERS[fmt](p):
        texts.append(text)
        labels.append(label)
    return ClassificationData(texts, labels, p)


def write_classification(
    path: PathLike, texts: Sequence[str], labels: Sequence[Label], *, format: str = "tsv"
) -> None:
    """Write labelled texts as :func:`read_classification` reads them back.

    TSV gets a ``label<TAB>text`` header and its labels come back as strings; JSON lines keep
    int labels as ints; fastText labels must hold no whitespace. Texts must be non-blank and,
    outside JSON lines, hold no line break (nor a tab in TSV).

    Example:
        >>> write_classification("ft.txt", ["great plot"], ["pos"], format="fasttext")
        >>> Path("ft.txt").read_text()
        '__label__pos great plot\\n'
    """
    if format not in CLASSIFICATION_FORMATS:
        raise ValueError(f"format: expected one of {CLASSIFICATION_FORMATS}, got {format!r}")
    _check_lengths(texts, labels, "texts, labels")
    lines = ["label\ttext"] if format == "tsv" else []
    for i, (text, label) in enumerate(zip(texts, labels)):
        where = f"at index {i}"
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise TypeError(f"labels: expected a str or an int {where}, got {label!r}")
        if format == "tsv":
            _check_field(text, "texts", where, forbidden="\t" + _LINE_BREAKS)
            _check_field(
                str(label), "labels", where, forbidden="\t" + _LINE_BREAKS, spaces="inside"
            )
            lines.append(f"{label}\t{text}")
        elif format == "jsonl":
            _check_field(text, "texts", where)
            if isinstance(label, str):
                _check_field(label, "labels", where)
            lines.append(json.dumps({"text": text, "label": label}, ensure_ascii=False))
        else:
            _check_field(text, "texts", where, forbidden=_LINE_BREAKS, spaces="inside")
            _check_field(str(label), "labels", where, spaces="none")
            if any(t.startswith(FASTTEXT_PREFIX) for t in [str(label), *text.split()]):
                raise ValueError(
                    f"texts, labels: {FASTTEXT_PREFIX} in {label!r} / {text!r} "
                    f"{where} would read back as a second label"
                )
            lines.append(f"{FASTTEXT_PREFIX}{label} {text}")
    with open(_open_for_writing(path), "w", encoding="utf-8", newline="\n") as f:
        f.writelines(line + "\n" for line in lines)


# --- tagging ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaggingData:
    """Sentences of tokens with one tag per token, as read from a CoNLL-U or CoNLL file.

    ``tags`` is None for untagged data (read with ``tagged=False``). ``column`` is the CoNLL-U
    column name the tags came from, or the CoNLL column index (0-based, the token being 0),
    None when untagged. ``lines`` holds each sentence's original lines (CoNLL-U comments,
    multiword ranges and empty nodes included) and ``separator`` the CoNLL column separator,
    so :func:`write_tagging` can write predictions back in the same layout.
    """

    tokens: list[list[str]]
    tags: Optional[list[list[str]]]
    path: Optional[Path]
    format: str
    column: Union[str, int, None]
    lines: list[list[str]]
    separator: str = "\t"

    def __len__(self) -> int:
        return len(self.tokens)

    def tag_set(self) -> list[str]:
        """The distinct tags, sorted (empty for untagged data)."""
        return sorted({t for sentence in self.tags or [] for t in sentence})


def _conllu_column(column: str) -> int:
    name = column.lower() if isinstance(column, str) else column
    if name not in CONLLU_COLUMNS or name in ("id", "form"):
        allowed = [c for c in CONLLU_COLUMNS if c not in ("id", "form")]
        raise ValueError(f"column: expected a CoNLL-U column name in {allowed}, got {column!r}")
    return CONLLU_COLUMNS.index(name)


def read_conllu(path: PathLike, *, column: str = "upos", tagged: bool = True) -> TaggingData:
    """Read a CoNLL-U file: the words of each sentence and their ``column`` (UPOS by default).

    Comment lines (``#``), multiword-token ranges (``1-2``) and empty nodes (``1.1``) are not
    words and are skipped (kept in ``lines`` for writing back). Word lines have 10
    tab-separated columns and IDs 1, 2, 3, ... in order; a blank line ends a sentence.
    ``column`` is ``"upos"``, ``"xpos"`` or another CoNLL-U column name; ``tagged=False``
    reads the words only.

    Example:
        >>> rows = ["# text = It works", "1\\tIt\\tit\\tPRON\\tPRP\\t_\\t2\\tnsubj\\t_\\t_",
        ...         "2\\tworks\\twork\\tVERB\\tVBZ\\t_\\t0\\troot\\t_\\t_", ""]
        >>> _ = Path("s.conllu").write_text("\\n".join(rows) + "\\n")
        >>> data = read_conllu("s.conllu")
        >>> data.tokens, data.tags
        ([['It', 'works']], [['PRON', 'VERB']])
        >>> read_conllu("s.conllu", column="xpos").tags
        [['PRP', 'VBZ']]
    """
    p = Path(path)
    index = _conllu_column(column)
    tokens: list[list[str]] = []
    tags: list[list[str]] = []
    all_lines: list[list[str]] = []
    words: list[str] = []
    word_tags: list[str] = []
    lines: list[str] = []

    def end_sentence(number: int) -> None:
        if words:
            tokens.append(words.copy())
            tags.append(word_tags.copy())
            all_lines.append(lines.copy())
        elif lines:
            raise _error(
                p,
                number,
                "expected word lines before the end of the sentence, "
                "got only comments, ranges or empty nodes",
            )
        words.clear()
        word_tags.clear()
        lines.clear()

    number = 0
    for number, line in numbered_lines(p):
        if not line.strip():
            end_sentence(number)
            continue
        lines.append(line)
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            raise _error(
                p,
                number,
                f"expected 10 tab-separated columns (CoNLL-U), got {len(fields)} in {_show(line)}",
            )
        word_id = fields[0]
        if not word_id.isdigit():
            if re.fullmatch(r"\d+-\d+|\d+\.\d+", word_id):
                continue
            raise _error(
                p,
                number,
                "expected an ID: an integer, a range like 1-2 or an empty "
                f"node like 1.1, got {word_id!r}",
            )
        if int(word_id) != len(words) + 1:
            raise _error(p, number, f"expected word ID {len(words) + 1}, got {word_id}")
        if not fields[1]:
            raise _error(p, number, "expected a word form in column 2, got nothing")
        if tagged and not fields[index].strip():
            raise _error(
                p,
                number,
                f"expected a {CONLLU_COLUMNS[index].upper()} value in "
                f"column {index + 1}, got nothing",
            )
        words.append(fields[1])
        word_tags.append(fields[index])
    end_sentence(number)
    if not tokens:
        raise _empty(p, "CoNLL-U sentences")
    return TaggingData(
        tokens,
        tags if tagged else None,
        p,
        "conllu",
        CONLLU_COLUMNS[index] if tagged else None,
        all_lines,
    )


def _conll_fields(line: str) -> list[str]:
    """The columns of a stripped CoNLL line: tab-separated if it has a tab, else by spaces."""
    return line.split("\t") if "\t" in line else line.split()


def read_conll(path: PathLike, *, column: int = -1, tagged: bool = True) -> TaggingData:
    """Read a CoNLL column file: ``token ... tag`` per line, a blank line between sentences.

    Columns are separated by tabs when the line has one, else by spaces; every token line of a
    file has the same number of columns. The token is column 0 and the tag is ``column`` (the
    last by default). ``-DOCSTART-`` lines are skipped; lines of spaces or tabs only separate
    sentences as empty lines do. ``tagged=False`` reads the tokens only (any number of columns).

    Example:
        >>> _ = Path("ner.conll").write_text("Pankaj B-PER\\nlives O\\n\\nin O\\nMunich B-LOC\\n")
        >>> data = read_conll("ner.conll")
        >>> data.tokens, data.tags
        ([['Pankaj', 'lives'], ['in', 'Munich']], [['B-PER', 'O'], ['O', 'B-LOC']])
    """
    p = Path(path)
    tokens: list[list[str]] = []
    tags: list[list[str]] = []
    all_lines: list[list[str]] = []
    words: list[str] = []
    word_tags: list[str] = []
    lines: list[str] = []
    n_cols: Optional[tuple[int, int]] = None  # (column count, line that set it)
    separator = "\t"
    index = 0

    def end_sentence() -> None:
        if words:
            tokens.append(words.copy())
            tags.append(word_tags.copy())
            all_lines.append(lines.copy())
        words.clear()
        word_tags.clear()
        lines.clear()

    for number, line in numbered_lines(p):
        stripped = line.strip()
        if not stripped:
            end_sentence()
            continue
        fields = _conll_fields(stripped)
        if fields[0] == DOCSTART:
            end_sentence()
            continue
        if n_cols is None:
            n_cols = (len(fields), number)
            # A single column shows no separator: then the tab, CoNLL's usual one.
            separator = " " if "\t" not in stripped and len(fields) > 1 else "\t"
            if tagged:
                if len(fields) < 2:
                    raise _error(
                        p,
                        number,
                        "expected a token and a tag column, got 1 column "
                        "(read with tagged=False for tokens only)",
                    )
                index = column + len(fields) if column < 0 else column
                if not 1 <= index < len(fields):
                    raise ValueError(
                        f"column: expected a tag column index in 1..{len(fields) - 1}"
                        f" or -{len(fields) - 1}..-1 for {p}, got {column}"
                    )
        elif len(fields) != n_cols[0]:
            raise _error(
                p,
                number,
                f"expected {n_cols[0]} columns as on line {n_cols[1]}, "
                f"got {len(fields)} in {_show(line)}",
            )
        empty = next((i for i, f in enumerate(fields) if not f.strip()), None)
        if empty is not None:
            raise _error(p, number, f"expected a value in column {empty + 1}, got nothing")
        words.append(fields[0])
        word_tags.append(fields[index])
        lines.append(stripped)
    end_sentence()
    if not tokens:
        raise _empty(p, "CoNLL token lines")
    return TaggingData(
        tokens,
        tags if tagged else None,
        p,
        "conll",
        index if tagged else None,
        all_lines,
        separator,
    )


def read_tagging(
    path: PathLike,
    *,
    format: Optional[str] = None,
    column: Union[str, int, None] = None,
    tagged: bool = True,
) -> TaggingData:
    """Read tagging data as CoNLL-U or CoNLL, :func:`read_conllu` / :func:`read_conll`.

    ``format`` None means ``"conllu"`` for a ``.conllu`` file and ``"conll"`` otherwise;
    ``column`` None means the format's default (UPOS; the last column). A CoNLL column may
    be given as a string of digits (as a command line passes it).

    Example:
        >>> _ = Path("pos.txt").write_text("dogs NNS NOUN\\nbark VBP VERB\\n")
        >>> read_tagging("pos.txt", column="1").tags
        [['NNS', 'VBP']]
    """
    p = Path(path)
    fmt = format if format is not None else ("conllu" if p.suffix.lower() == ".conllu" else "conll")
    if fmt == "conllu":
        if column is not None and not isinstance(column, str):
            raise TypeError(f"column: expected a CoNLL-U column name, got {column!r}")
        return read_conllu(p, column=column or "upos", tagged=tagged)
    if fmt == "conll":
        if isinstance(column, str):
            if not re.fullmatch(r"-?\d+", column.strip()):
                raise ValueError(f"column: expected a column index for CoNLL, got {column!r}")
            column = int(column)
        return read_conll(p, column=-1 if column is None else column, tagged=tagged)
    raise ValueError(f"format: expected one of {TAGGING_FORMATS}, got {fmt!r}")


def _check_predictions(
    tokens: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]], name: str = "predictions"
) -> None:
    if len(predictions) != len(tokens):
        raise ValueError(
            f"{name}: expected tags for {len(tokens)} sentences, got {len(predictions)}"
        )
    for i, (words, tags) in enumerate(zip(tokens, predictions)):
        if len(tags) != len(words):
            raise ValueError(f"{name}: sentence {i} has {len(words)} tokens, got {len(tags)} tags")
        for tag in tags:
            _check_field(tag, name, f"in sentence {i}", spaces="none")


def write_tagging(
    path: PathLike,
    data: TaggingData,
    predictions: Sequence[Sequence[str]],
    *,
    append: bool = False,
) -> None:
    """Write ``predictions`` (one tag per token of ``data``) in the format ``data`` was read.

    CoNLL-U: every line as read, with the tag column of the word lines replaced (comments,
    ranges and empty nodes unchanged). CoNLL: each token line with its tag column replaced, or
    with the prediction appended as a new last column when ``append`` (``token ... gold pred``,
    the layout conlleval reads) or when the data was read untagged. Sentences are separated by
    one empty line; ``-DOCSTART-`` lines are not written back.

    Example:
        >>> _ = Path("in.conll").write_text("Pankaj\\tB-PER\\nlives\\tO\\n")
        >>> data = read_conll("in.conll")
        >>> write_tagging("out.conll", data, [["B-PER", "B-LOC"]], append=True)
        >>> Path("out.conll").read_text()
        'Pankaj\\tB-PER\\tB-PER\\nlives\\tO\\tB-LOC\\n\\n'
    """
    _check_predictions(data.tokens, predictions)
    out: list[str] = []
    if data.format == "conllu":
        if append:
            raise ValueError(
                "append: CoNLL-U has a fixed set of 10 columns; a prediction can "
                "only replace one (read with column=... to choose it)"
            )
        index = _conllu_column(data.column if isinstance(data.column, str) else "upos")
        for lines, tags in zip(data.lines, predictions):
            words = iter(tags)
            for line in lines:
                fields = line.split("\t")
                if not line.startswith("#") and fields[0].isdigit():
                    fields[index] = next(words)
                    line = "\t".join(fields)
                out.append(line)
            out.append("")
    elif data.format == "conll":
        sep = data.separator
        for lines, tags in zip(data.lines, predictions):
            for line, tag in zip(lines, tags):
                fields = _conll_fields(line)
                if append or not isinstance(data.column, int):
                    fields.append(tag)
                else:
                    fields[data.column] = tag
                out.append(sep.join(fields))
            out.append("")
    else:
        raise ValueError(f"data.format: expected one of {TAGGING_FORMATS}, got {data.format!r}")
    with open(_open_for_writing(path), "w", encoding="utf-8", newline="\n") as f:
        f.writelines(line + "\n" for line in out)


def write_conll(
    path: PathLike,
    tokens: Sequence[Sequence[str]],
    *tag_columns: Sequence[Sequence[str]],
    separator: str = "\t",
) -> None:
    """Write sentences as CoNLL columns: the token, then one column per ``tag_columns``.

    ``write_conll(path, tokens, gold, predicted)`` writes conlleval's ``token gold pred``.
    Tokens and tags must be non-empty and hold no whitespace.

    Example:
        >>> write_conll("t.conll", [["Hi", "Bob"]], [["O", "B-PER"]], separator=" ")
        >>> Path("t.conll").read_text()
        'Hi O\\nBob B-PER\\n\\n'
    """
    if separator not in ("\t", " "):
        raise ValueError(f"separator: expected a tab or a space, got {separator!r}")
    _check_predictions(tokens, tokens, "tokens")
    for k, tags in enumerate(tag_columns):
        _check_predictions(tokens, tags, f"tag_columns[{k}]")
    out: list[str] = []
    for i, words in enumerate(tokens):
        for j, word in enumerate(words):
            out.append(separator.join([word, *(tags[i][j] for tags in tag_columns)]))
        out.append("")
    with open(_open_for_writing(path), "w", encoding="utf-8", newline="\n") as f:
        f.writelines(line + "\n" for line in out)


def write_conllu(
    path: PathLike,
    tokens: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]],
    *,
    column: str = "upos",
) -> None:
    """Write sentences as minimal CoNLL-U: ID, FORM and the tag in ``column``, ``_`` elsewhere.

    To keep a file's other annotations, read it with :func:`read_conllu` and write with
    :func:`write_tagging` instead.

    Example:
        >>> write_conllu("min.conllu", [["Hi"]], [["INTJ"]])
        >>> Path("min.conllu").read_text()
        '1\\tHi\\t_\\tINTJ\\t_\\t_\\t_\\t_\\t_\\t_\\n\\n'
    """
    index = _conllu_column(column)
    _check_predictions(tokens, tags, "tags")
    out: list[str] = []
    for i, (words, word_tags) in enumerate(zip(tokens, tags)):
        for j, (word, tag) in enumerate(zip(words, word_tags)):
            _check_field(word, "tokens", f"in sentence {i}", forbidden="\t" + _LINE_BREAKS)
            fields = [str(j + 1), word] + ["_"] * 8
            fields[index] = tag
            out.append("\t".join(fields))
        out.append("")
    with open(_open_for_writing(path), "w", encoding="utf-8", newline="\n") as f:
        f.writelines(line + "\n" for line in out)


# --- sequence to sequence ---------------------------------------------------------------------


@dataclass(frozen=True)
class PairData:
    """Source and target strings, one pair per example, as read from ``path``.

    A source may occur in several pairs (a word with two pronunciations); :meth:`grouped`
    gathers its targets as the several references of one source, the form the seq2seq metrics
    take.

    Example:
        >>> data = PairData(["read", "read", "cat"], ["R EH1 D", "R IY1 D", "K AE1 T"])
        >>> data.grouped()
        (['read', 'cat'], [['R EH1 D', 'R IY1 D'], ['K AE1 T']])
    """

    sources: list[str]
    targets: list[str]
    path: Optional[Path] = None

    def __post_init__(self) -> None:
        _check_lengths(self.sources, self.targets, "sources, targets")

    def __len__(self) -> int:
        return len(self.sources)

    def grouped(self) -> tuple[list[str], list[list[str]]]:
        """The distinct sources in order of first appearance, and each one's targets."""
        references: dict[str, list[str]] = {}
        for source, target in zip(self.sources, self.targets):
            references.setdefault(source, []).append(target)
        return list(references), list(references.values())


def read_pairs(path: PathLike) -> PairData:
    """Read ``source<TAB>target`` pairs, one per line; blank lines are skipped.

    Both sides are kept as written and must be non-blank; a line has exactly one tab. There
    is no header line.

    Example:
        >>> _ = Path("dates.tsv").write_text("5 May 2021\\t2021-05-05\\n")
        >>> read_pairs("dates.tsv").targets
        ['2021-05-05']
    """
    p = Path(path)
    sources: list[str] = []
    targets: list[str] = []
    for number, line in numbered_lines(p):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            got = "no tab" if len(fields) == 1 else f"{len(fields)} columns"
            raise _error(p, number, f"expected 'source<TAB>target', got {got} in {_show(line)}")
        for side, text in zip(("source", "target"), fields):
            if not text.strip():
                raise _error(p, number, f"expected a {side} text, got nothing")
        sources.append(fields[0])
        targets.append(fields[1])
    if not sources:
        raise _empty(p, "'source<TAB>target' lines")
    return PairData(sources, targets, p)


def write_pairs(path: PathLike, sources: Sequence[str], targets: Sequence[str]) -> None:
    """Write ``source<TAB>target`` lines (no header) that :func:`read_pairs` reads back.

    Example:
        >>> write_pairs("p.tsv", ["abc"], ["A B C"])
        >>> Path("p.tsv").read_text()
        'abc\\tA B C\\n'
    """
    _check_lengths(sources, targets, "sources, targets")
    lines = []
    for i, (source, target) in enumerate(zip(sources, targets)):
        _check_field(source, "sources", f"at index {i}", forbidden="\t" + _LINE_BREAKS)
        _check_field(target, "targets", f"at index {i}", forbidden="\t" + _LINE_BREAKS)
        lines.append(f"{source}\t{target}\n")
    with open(_open_for_writing(path), "w", encoding="utf-8", newline="\n") as f:
        f.writelines(lines)


def read_cmudict(path: PathLike) -> PairData:
    """Read the CMU Pronouncing Dictionary: ``word PH1 PH2 ...`` per line.

    The source is the word with an alternate's ``(2)``, ``(3)``... removed, so all
    pronunciations of a word share one source (see :meth:`PairData.grouped`); the target is the
    phones joined by single spaces. Lines starting ``;;;`` are comments, as is everything from
    a ``#`` token on; blank lines are skipped. Words and phones are separated by spaces or tabs.

    Example:
        >>> _ = Path("tiny.dict").write_text("a AH0\\na(2) EY1\\nab  AE1 B  # abbreviation\\n")
        >>> read_cmudict("tiny.dict").grouped()
        (['a', 'ab'], [['AH0', 'EY1'], ['AE1 B']])
    """
    p = Path(path)
    words: list[str] = []
    phones: list[str] = []
    for number, line in numbered_lines(p):
        if line.startswith(";;;"):
            continue
        fields = line.split()
        if "#" in fields:
            fields = fields[: fields.index("#")]
        if not fields:
            continue
        if len(fields) < 2:
            raise _error(p, number, f"expected a word followed by its phones, got {_show(line)}")
        alternate = _ALTERNATE.match(fields[0])
        words.append(alternate.group(1) if alternate else fields[0])
        phones.append(" ".join(fields[1:]))
    if not words:
        raise _empty(p, "'word PH1 PH2 ...' lines")
    return PairData(words, phones, p)


def write_cmudict(path: PathLike, words: Sequence[str], pronunciations: Sequence[str]) -> None:
    """Write ``word PH1 PH2 ...`` lines; a word's second pronunciation is written ``word(2)``.

    Words hold no whitespace; a pronunciation is phones separated by whitespace.

    Example:
        >>> write_cmudict("out.dict", ["read", "read"], ["R EH1 D", "R IY1 D"])
        >>> Path("out.dict").read_text()
        'read R EH1 D\\nread(2) R IY1 D\\n'
    """
    _check_lengths(words, pronunciations, "words, pronunciations")
    seen: dict[str, int] = {}
    lines = []
    for i, (word, phones) in enumerate(zip(words, pronunciations)):
        _check_field(word, "words", f"at index {i}", spaces="none")
        _check_field(phones, "pronunciations", f"at index {i}")
        if word.startswith(";;;") or _ALTERNATE.match(word) or "#" in [word, *phones.split()]:
            raise ValueError(
                f"words: {word!r} / {phones!r} at index {i} would read back "
                "differently (a comment or an alternate marker)"
            )
        seen[word] = seen.get(word, 0) + 1
        name = word if seen[word] == 1 else f"{word}({seen[word]})"
        lines.append(f"{name} {' '.join(phones.split())}\n")
    with open(_open_for_writing(path), "w", encoding="utf-8", newline="\n") as f:
        f.writelines(lines)


__all__ = [
    "CLASSIFICATION_FORMATS",
    "TAGGING_FORMATS",
    "ClassificationData",
    "Label",
    "PairData",
    "TaggingData",
    "read_classification",
    "read_cmudict",
    "read_conll",
    "read_conllu",
    "read_pairs",
    "read_tagging",
    "write_classification",
    "write_cmudict",
    "write_conll",
    "write_conllu",
    "write_pairs",
    "write_tagging",
]
