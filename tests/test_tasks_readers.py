"""Task data readers and writers: round trips, every error with its file and line, real data."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnrs.errors import FormatError
from rnnrs.text.tasks import (
    ClassificationData,
    PairData,
    read_classification,
    read_cmudict,
    read_conll,
    read_conllu,
    read_pairs,
    read_tagging,
    write_classification,
    write_cmudict,
    write_conll,
    write_conllu,
    write_pairs,
    write_tagging,
)


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh folder per hypothesis example (function-scoped fixtures are shared by them)."""
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def chars(exclude: str = "") -> st.SearchStrategy[str]:
    # No surrogates (not encodable) and no byte-order mark (dropped at the start of a file).
    return st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufeff" + exclude)


def field(exclude: str = "", *, spaces: str = "any") -> st.SearchStrategy[str]:
    """Non-blank strings of the kind a writer accepts (see tasks._check_field)."""
    s = st.text(chars(exclude), min_size=1, max_size=12).filter(lambda v: v.strip() != "")
    if spaces == "inside":
        s = s.filter(lambda v: v == v.strip())
    if spaces == "none":
        s = s.filter(lambda v: not any(c.isspace() for c in v))
    return s


TAB_BREAKS = "\t\n\r"
WORD_LINE = "1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n"
WORD = field(spaces="none").filter(lambda v: v != "-DOCSTART-")


def error_at(path: Path, line: int) -> str:
    """The start of a FormatError message about ``line`` of ``path``, as a regex."""
    return "^" + re.escape(f"{path}, line {line}: ")


# --- classification round trips ---------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(field(TAB_BREAKS), field(TAB_BREAKS, spaces="inside")), min_size=1))
def test_tsv_round_trip_gives_string_labels(rows: list[tuple[str, str]]) -> None:
    texts, labels = [t for t, _ in rows], [lab for _, lab in rows]
    with scratch() as d:
        write_classification(d / "x.tsv", texts, labels)
        data = read_classification(d / "x.tsv")
    assert data.texts == texts
    assert data.labels == labels
    assert data.path == d / "x.tsv"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(field(), min_size=1, max_size=8),
    st.one_of(
        st.lists(st.integers(), min_size=8, max_size=8), st.lists(field(), min_size=8, max_size=8)
    ),
)
def test_jsonl_round_trip_keeps_label_types(texts: list[str], labels: list[object]) -> None:
    labels = labels[: len(texts)]
    with scratch() as d:
        write_classification(d / "x.jsonl", texts, labels, format="jsonl")  # type: ignore[arg-type]
        data = read_classification(d / "x.jsonl")
    assert data.texts == texts
    assert data.labels == labels
    assert [type(x) for x in data.labels] == [type(x) for x in labels]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            field("\n\r", spaces="inside").filter(lambda t: "__label__" not in t),
            field(spaces="none").filter(lambda lab: "__label__" not in lab),
        ),
        min_size=1,
    )
)
def test_fasttext_round_trip(rows: list[tuple[str, str]]) -> None:
    texts, labels = [t for t, _ in rows], [lab for _, lab in rows]
    with scratch() as d:
        write_classification(d / "x.txt", texts, labels, format="fasttext")
        data = read_classification(d / "x.txt")  # format told from the first line
    assert (data.texts, data.labels) == (texts, labels)


def test_int_labels_written_to_tsv_read_back_as_strings(tmp_path: Path) -> None:
    write_classification(tmp_path / "x.tsv", ["good", "bad"], [1, 0])
    assert read_classification(tmp_path / "x.tsv").labels == ["1", "0"]


def test_tsv_without_header_and_with_text_first_header(tmp_path: Path) -> None:
    plain = write(tmp_path / "plain.tsv", "pos\tfine film\n\nneg\tdull\r\n")
    data = read_classification(plain)
    assert (data.texts, data.labels) == (["fine film", "dull"], ["pos", "neg"])
    swapped = write(tmp_path / "swapped.tsv", "Text\tid\tLABEL\nfine film\t7\tpos\n")
    assert read_classification(swapped).labels == ["pos"]
    assert read_classification(swapped).texts == ["fine film"]


def test_label_set_sorts_mixed_labels_ints_first() -> None:
    assert ClassificationData(["a", "b", "c"], ["x", 2, 1]).label_set() == [1, 2, "x"]


def test_format_sniffed_from_content(tmp_path: Path) -> None:
    jsonl = write(tmp_path / "a.txt", '\n{"text": "hi", "label": "x"}\n')
    tsv = write(tmp_path / "b.txt", "x\thi\n")
    assert read_classification(jsonl).labels == ["x"]
    assert read_classification(tsv).labels == ["x"]


# --- classification errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "line", "expected"),
    [
        ("pos\tgood\nno tab\n", 2, "expected 'label<TAB>text' (2 tab-separated columns), got no"),
        ("pos\tgood\tmore\n", 1, "got 3 columns"),
        ("label\ttext\npos\tgood\nbad line\n", 3, "as in the header on line 1, got no tab"),
        ("text\nsome text\n", 1, "no 'label' column"),
        ("label\tid\n", 1, "no 'text' column"),
        ("pos\tgood\n \tbad\n", 2, "expected a label in column 1"),
        ("pos\tgood\npos\t  \n", 2, "expected a text in column 2"),
    ],
)
def test_tsv_errors_name_file_line_and_expectation(
    tmp_path: Path, content: str, line: int, expected: str
) -> None:
    path = write(tmp_path / "d.tsv", content)
    with pytest.raises(FormatError, match=error_at(path, line) + ".*" + re.escape(expected)):
        read_classification(path)


@pytest.mark.parametrize(
    ("content", "line", "expected"),
    [
        ('{"text": "a", "label": 1}\n{"text": "b", "label": 2\n', 2, "invalid JSON"),
        ('{"text": "a", "label": 1}\n\n["b", 2]\n', 3, "got a JSON list"),
        ('{"text": "a"}\n', 1, "expected a 'label' key, got keys ['text']"),
        ('{"label": 1}\n', 1, "expected a 'text' key"),
        ('{"text": "", "label": 1}\n', 1, "non-empty string as 'text'"),
        ('{"text": "a", "label": true}\n', 1, "string or an integer as 'label', got True"),
        ('{"text": "a", "label": 0.5}\n', 1, "got 0.5"),
        (
            '{"text": "a", "label": 1}\n{"text": "b", "label": 2}\n{"text": "c", "label": "pos"}\n',
            3,
            "got 'pos' here and 1 on line 1 (mixed label types)",
        ),
    ],
)
def test_jsonl_errors_name_file_line_and_expectation(
    tmp_path: Path, content: str, line: int, expected: str
) -> None:
    path = write(tmp_path / "d.jsonl", content)
    with pytest.raises(FormatError, match=error_at(path, line) + ".*" + re.escape(expected)):
        read_classification(path)


@pytest.mark.parametrize(
    ("content", "line", "expected"),
    [
        ("__label__a good\nbad line\n", 2, "expected '__label__<label> <text>'"),
        ("__label__a __label__b good\n", 1, "expected one label (single-label classification)"),
        ("__label__a good __label__b\n", 1, "got 2: ['__label__a', '__label__b']"),
        ("__label__ good\n", 1, "expected a label after '__label__'"),
        ("__label__a good\n__label__b   \n", 2, "expected a text after the label"),
    ],
)
def test_fasttext_errors_name_file_line_and_expectation(
    tmp_path: Path, content: str, line: int, expected: str
) -> None:
    path = write(tmp_path / "d.txt", content)
    with pytest.raises(FormatError, match=error_at(path, line) + ".*" + re.escape(expected)):
        read_classification(path, format="fasttext")


@pytest.mark.parametrize("fmt", ["tsv", "jsonl", "fasttext"])
@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_empty_classification_file(tmp_path: Path, fmt: str, content: str) -> None:
    path = write(tmp_path / "d", content)
    with pytest.raises(FormatError, match=re.escape(f"{path}: empty file, expected")):
        read_classification(path, format=fmt)


def test_header_only_tsv_is_empty(tmp_path: Path) -> None:
    path = write(tmp_path / "d.tsv", "label\ttext\n")
    with pytest.raises(FormatError, match="empty file"):
        read_classification(path)


def test_unknown_classification_format(tmp_path: Path) -> None:
    path = write(tmp_path / "d.txt", "\njust some words\n")
    with pytest.raises(FormatError, match=error_at(path, 2) + "cannot tell the format"):
        read_classification(path)
    with pytest.raises(ValueError, match="format: expected one of"):
        read_classification(path, format="csv")


@pytest.mark.parametrize(
    ("reader", "first"),
    [
        (read_classification, b"a\tb"),
        (read_conll, b"a\tb"),
        (read_conllu, WORD_LINE.encode().rstrip()),
        (read_pairs, b"a\tb"),
        (read_cmudict, b"a B"),
    ],
)
def test_non_utf8_bytes_name_the_line(tmp_path: Path, reader: object, first: bytes) -> None:
    path = write(tmp_path / "d.tsv", first + b"\n\nx \xff y\n")
    with pytest.raises(
        FormatError,
        match=error_at(path, 3) + "expected UTF-8 text, got byte 0xff at byte 3 of the line",
    ):
        reader(path)  # type: ignore[operator]


def test_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = write(tmp_path / "d.tsv", "\ufefflabel\ttext\npos\tfine\n")
    assert read_classification(path).labels == ["pos"]


@pytest.mark.parametrize(
    ("texts", "labels", "fmt", "message"),
    [
        (["a\tb"], ["x"], "tsv", "contains '\\t'"),
        (["a\nb"], ["x"], "fasttext", "contains '\\n'"),
        (["ab"], ["x y"], "fasttext", "contains ' '"),
        (["ab"], [" x"], "tsv", "starts or ends with whitespace"),
        (["ab __label__z"], ["x"], "fasttext", "second label"),
        (["  "], ["x"], "jsonl", "non-blank"),
        (["a", "b"], ["x"], "tsv", "equal length"),
    ],
)
def test_writer_rejects_what_would_not_read_back(
    tmp_path: Path, texts: list[str], labels: list[str], fmt: str, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        write_classification(tmp_path / "o", texts, labels, format=fmt)


def test_writer_rejects_bool_and_float_labels(tmp_path: Path) -> None:
    for bad in (True, 1.5):
        with pytest.raises(TypeError, match="expected a str or an int at index 0"):
            write_classification(tmp_path / "o", ["a"], [bad], format="jsonl")  # type: ignore[list-item]


# --- tagging round trips ----------------------------------------------------------------------

SENTENCES = st.lists(st.lists(WORD, min_size=1, max_size=6), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(SENTENCES, st.data(), st.sampled_from(["\t", " "]))
def test_conll_round_trip_with_several_columns(
    tokens: list[list[str]], data: st.DataObject, separator: str
) -> None:
    def column() -> list[list[str]]:
        return [data.draw(st.lists(WORD, min_size=len(s), max_size=len(s))) for s in tokens]

    gold, pred = column(), column()
    with scratch() as d:
        write_conll(d / "x.conll", tokens, gold, pred, separator=separator)
        last = read_conll(d / "x.conll")
        middle = read_conll(d / "x.conll", column=1)
        untagged = read_conll(d / "x.conll", tagged=False)
    assert (last.tokens, last.tags, last.column) == (tokens, pred, 2)
    assert (middle.tags, middle.separator) == (gold, separator)
    assert (untagged.tokens, untagged.tags) == (tokens, None)


@settings(max_examples=60, deadline=None)
@given(SENTENCES, st.data(), st.sampled_from(["upos", "xpos"]))
def test_conllu_round_trip(tokens: list[list[str]], data: st.DataObject, column: str) -> None:
    tags = [data.draw(st.lists(WORD, min_size=len(s), max_size=len(s))) for s in tokens]
    with scratch() as d:
        write_conllu(d / "x.conllu", tokens, tags, column=column)
        back = read_conllu(d / "x.conllu", column=column)
        other = read_conllu(d / "x.conllu", column="xpos" if column == "upos" else "upos")
    assert (back.tokens, back.tags, back.column) == (tokens, tags, column)
    assert other.tags == [["_"] * len(s) for s in tokens]


CONLLU = """\
# sent_id = 1
# text = I don't know.
1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_
4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\tSpaceAfter=No
4.1\tknown\tknow\tVERB\tVBN\t_\t_\t_\t4:conj\tCopyOf=4
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_

# sent_id = 2
1\tYes\tyes\tINTJ\tUH\t_\t0\troot\t_\t_

"""


def test_conllu_skips_comments_ranges_and_empty_nodes(tmp_path: Path) -> None:
    data = read_conllu(write(tmp_path / "x.conllu", CONLLU))
    assert data.tokens == [["I", "do", "n't", "know", "."], ["Yes"]]
    assert data.tags == [["PRON", "AUX", "PART", "VERB", "PUNCT"], ["INTJ"]]
    assert read_conllu(tmp_path / "x.conllu", column="xpos").tags == [
        ["PRP", "VBP", "RB", "VB", "."],
        ["UH"],
    ]


def test_write_tagging_conllu_replaces_only_the_word_column(tmp_path: Path) -> None:
    path = write(tmp_path / "x.conllu", CONLLU)
    data = read_conllu(path)
    write_tagging(tmp_path / "same.conllu", data, data.tags or [])
    assert (tmp_path / "same.conllu").read_text() == CONLLU
    predictions = [["A", "B", "C", "D", "E"], ["F"]]
    write_tagging(tmp_path / "pred.conllu", data, predictions)
    out = (tmp_path / "pred.conllu").read_text()
    assert read_conllu(tmp_path / "pred.conllu").tags == predictions
    assert "4.1\tknown\tknow\tVERB\tVBN" in out  # the empty node keeps its own tag
    assert "2-3\tdon't\t_\t_" in out and "# text = I don't know." in out
    xpos = read_conllu(path, column="xpos")
    write_tagging(tmp_path / "x2.conllu", xpos, predictions)
    back = read_conllu(tmp_path / "x2.conllu")
    assert (back.tags, read_conllu(tmp_path / "x2.conllu", column="xpos").tags) == (
        data.tags,
        predictions,
    )


def test_write_tagging_conll_replace_and_append(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x.conll",
        "-DOCSTART- -X- O\n\nEU NNP B-ORG\nrejects VBZ O\n \t\nPeter NNP B-PER\n",
    )
    data = read_conll(path)
    assert data.tokens == [["EU", "rejects"], ["Peter"]] and data.separator == " "
    predictions = [["B-LOC", "O"], ["O"]]
    write_tagging(tmp_path / "r.conll", data, predictions)
    assert (tmp_path / "r.conll").read_text() == "EU NNP B-LOC\nrejects VBZ O\n\nPeter NNP O\n\n"
    write_tagging(tmp_path / "a.conll", data, predictions, append=True)
    appended = read_conll(tmp_path / "a.conll", column=2)
    assert appended.tags == data.tags
    assert read_conll(tmp_path / "a.conll").tags == predictions


def test_write_tagging_of_untagged_conll_appends(tmp_path: Path) -> None:
    data = read_conll(write(tmp_path / "x.txt", "Hi\nBob\n"), tagged=False)
    write_tagging(tmp_path / "o.txt", data, [["O", "B-PER"]])
    assert (tmp_path / "o.txt").read_text() == "Hi\tO\nBob\tB-PER\n\n"


@pytest.mark.parametrize(
    ("predictions", "message"),
    [
        ([["O"]], "expected tags for 2 sentences, got 1"),
        ([["O"], ["O"]], "sentence 0 has 2 tokens, got 1 tags"),
        ([["O", "B X"], ["O"]], "contains ' '"),
        ([["O", ""], ["O"]], "non-blank"),
    ],
)
def test_write_tagging_checks_predictions(
    tmp_path: Path, predictions: list[list[str]], message: str
) -> None:
    data = read_conll(write(tmp_path / "x.conll", "a O\nb O\n\nc O\n"))
    with pytest.raises(ValueError, match=re.escape(message)):
        write_tagging(tmp_path / "o", data, predictions)


def test_write_tagging_conllu_cannot_append(tmp_path: Path) -> None:
    data = read_conllu(write(tmp_path / "x.conllu", CONLLU))
    with pytest.raises(ValueError, match="fixed set of 10 columns"):
        write_tagging(tmp_path / "o", data, data.tags or [], append=True)


def test_read_tagging_dispatches_on_extension_and_column(tmp_path: Path) -> None:
    conllu = write(tmp_path / "x.conllu", CONLLU)
    conll = write(tmp_path / "x.txt", "dogs\tNNS\tNOUN\n")
    assert read_tagging(conllu).tags == read_conllu(conllu).tags
    assert read_tagging(conllu, column="xpos").column == "xpos"
    assert read_tagging(conll).tags == [["NOUN"]]
    assert read_tagging(conll, column="1").tags == [["NNS"]]
    assert read_tagging(conll, format="conll", column=-2).tags == [["NNS"]]
    with pytest.raises(ValueError, match="format: expected one of"):
        read_tagging(conll, format="iob")
    with pytest.raises(ValueError, match="column: expected a column index"):
        read_tagging(conll, column="upos")
    with pytest.raises(ValueError, match="column: expected a CoNLL-U column name"):
        read_tagging(conllu, column="tag")
    with pytest.raises(ValueError, match=r"column: expected a tag column index in 1\.\.2"):
        read_conll(conll, column=3)


# --- tagging errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "line", "expected"),
    [
        (
            WORD_LINE + "2\tthere\tthere\tADV\tRB\t_\t1\n",
            2,
            "expected 10 tab-separated columns (CoNLL-U), got 7",
        ),
        (WORD_LINE.replace("\t", " "), 1, "got 1 in"),
        (
            "x" + WORD_LINE,
            1,
            "expected an ID: an integer, a range like 1-2 or an empty node like 1.1, got 'x1'",
        ),
        (WORD_LINE + WORD_LINE.replace("1\tHi", "3\tHi"), 2, "expected word ID 2, got 3"),
        (WORD_LINE + "\n# sent_id = 2\n\n" + WORD_LINE, 4, "expected word lines before the end"),
        (WORD_LINE.replace("INTJ", " "), 1, "expected a UPOS value in column 4, got nothing"),
    ],
)
def test_conllu_errors_name_file_line_and_expectation(
    tmp_path: Path, content: str, line: int, expected: str
) -> None:
    path = write(tmp_path / "d.conllu", content)
    with pytest.raises(FormatError, match=error_at(path, line) + ".*" + re.escape(expected)):
        read_conllu(path)


@pytest.mark.parametrize(
    ("content", "line", "expected"),
    [
        (
            "EU NNP B-ORG\nrejects VBZ O\n\nPeter B-PER\n",
            4,
            "expected 3 columns as on line 1, got 2 in 'Peter B-PER'",
        ),
        ("EU\tB-ORG\nrejects\n", 2, "expected 2 columns as on line 1, got 1"),
        ("\n\nEU\nrejects\n", 3, "expected a token and a tag column, got 1 column"),
        ("EU\tB-ORG\nrejects\t\tO\n", 2, "expected 2 columns as on line 1, got 3"),
        ("EU\t\tB-ORG\nrejects\tVBZ\tO\n", 1, "expected a value in column 2, got nothing"),
    ],
)
def test_conll_errors_name_file_line_and_expectation(
    tmp_path: Path, content: str, line: int, expected: str
) -> None:
    path = write(tmp_path / "d.conll", content)
    with pytest.raises(FormatError, match=error_at(path, line) + ".*" + re.escape(expected)):
        read_conll(path)


@pytest.mark.parametrize(
    ("reader", "content"),
    [
        (read_conll, ""),
        (read_conll, "\n \t\n"),
        (read_conll, "-DOCSTART- -X- O\n\n"),
        (read_conllu, ""),
        (read_conllu, "\n\n"),
    ],
)
def test_empty_tagging_files(tmp_path: Path, reader: object, content: str) -> None:
    path = write(tmp_path / "d", content)
    with pytest.raises(FormatError, match=re.escape(f"{path}: empty file, expected")):
        reader(path)  # type: ignore[operator]


def test_conllu_comments_without_words(tmp_path: Path) -> None:
    path = write(tmp_path / "d.conllu", "# newdoc\n# sent_id = 1\n")
    with pytest.raises(FormatError, match=error_at(path, 2) + "expected word lines"):
        read_conllu(path)


# --- seq2seq ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(field(TAB_BREAKS), field(TAB_BREAKS)), min_size=1))
def test_pairs_round_trip(rows: list[tuple[str, str]]) -> None:
    sources, targets = [s for s, _ in rows], [t for _, t in rows]
    with scratch() as d:
        write_pairs(d / "p.tsv", sources, targets)
        data = read_pairs(d / "p.tsv")
    assert (data.sources, data.targets) == (sources, targets)


PHONES = st.lists(WORD.filter(lambda p: p != "#"), min_size=1, max_size=5)
DICT_WORD = WORD.filter(
    lambda w: w != "#" and not w.startswith(";;;") and not re.match(r"^(.*\S)\((\d+)\)$", w)
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["read", "live"]) | DICT_WORD, PHONES), min_size=1))
def test_cmudict_round_trip_groups_alternates(rows: list[tuple[str, list[str]]]) -> None:
    words, prons = [w for w, _ in rows], [" ".join(p) for _, p in rows]
    with scratch() as d:
        write_cmudict(d / "x.dict", words, prons)
        data = read_cmudict(d / "x.dict")
    assert (data.sources, data.targets) == (words, prons)
    sources, references = data.grouped()
    assert sources == list(dict.fromkeys(words))
    assert references == [[p for w, p in zip(words, prons) if w == s] for s in sources]


def test_cmudict_alternates_comments_and_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "c.dict", ";;; comment\nread R IY1 D\nread(2)\tR EH1 D # past\n\nabc\n")
    with pytest.raises(FormatError, match=error_at(path, 5) + "expected a word followed by its"):
        read_cmudict(path)
    write(path, ";;; comment\nread R IY1 D\nread(2)\tR EH1 D # past\n")
    assert read_cmudict(path).grouped() == (["read"], [["R IY1 D", "R EH1 D"]])
    with pytest.raises(ValueError, match="would read back differently"):
        write_cmudict(tmp_path / "o.dict", ["read(2)"], ["R"])


@pytest.mark.parametrize(
    ("content", "line", "expected"),
    [
        ("abc\tA B C\nabc A B C\n", 2, "expected 'source<TAB>target', got no tab in 'abc A B C'"),
        ("a\tb\tc\n", 1, "got 3 columns"),
        ("\na\t \n", 2, "expected a target text, got nothing"),
        ("\ta\n", 1, "expected a source text, got nothing"),
    ],
)
def test_pairs_errors_name_file_line_and_expectation(
    tmp_path: Path, content: str, line: int, expected: str
) -> None:
    path = write(tmp_path / "p.tsv", content)
    with pytest.raises(FormatError, match=error_at(path, line) + ".*" + re.escape(expected)):
        read_pairs(path)


@pytest.mark.parametrize("reader", [read_pairs, read_cmudict])
def test_empty_seq2seq_files(tmp_path: Path, reader: object) -> None:
    path = write(tmp_path / "e", "\n;;; nothing\n" if reader is read_cmudict else "\n")
    with pytest.raises(FormatError, match=re.escape(f"{path}: empty file, expected")):
        reader(path)  # type: ignore[operator]


def test_pair_data_checks_lengths() -> None:
    with pytest.raises(ValueError, match="equal length, got 2 and 1"):
        PairData(["a", "b"], ["A"])


# --- the shared task data (skipped when absent) -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "count", "labels"),
    [
        ("sst2/train.tsv", 6920, ["0", "1"]),
        ("sst2/dev.tsv", 872, ["0", "1"]),
        ("trec/train.tsv", 5452, ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]),
    ],
)
def test_real_classification_data(
    shared_data: Path, name: str, count: int, labels: list[str]
) -> None:
    data = read_classification(shared_data / name)
    assert len(data) == count
    assert data.label_set() == labels
    assert all(t.strip() for t in data.texts)


@pytest.mark.parametrize(
    ("name", "sentences", "words"), [("train", 12544, 204577), ("dev", 2001, 25147)]
)
def test_real_ud_ewt(
    shared_data: Path, tmp_path: Path, name: str, sentences: int, words: int
) -> None:
    path = shared_data / "ud-ewt" / f"{name}.conllu"
    data = read_conllu(path)
    assert (len(data), sum(len(s) for s in data.tokens)) == (sentences, words)
    assert len(data.tag_set()) == 17  # the UPOS tag set
    # Written back with its own tags, the file is unchanged byte for byte.
    write_tagging(tmp_path / "out.conllu", data, data.tags or [])
    assert (tmp_path / "out.conllu").read_bytes() == path.read_bytes()
    xpos = read_conllu(path, column="xpos")
    assert xpos.tokens == data.tokens and xpos.tag_set() != data.tag_set()


@pytest.mark.parametrize(("name", "sentences"), [("train", 3394), ("dev", 1009)])
def test_real_wnut17(shared_data: Path, tmp_path: Path, name: str, sentences: int) -> None:
    data = read_conll(shared_data / "wnut17" / f"{name}.conll")
    assert len(data) == sentences
    types = {t[2:] for t in data.tag_set() if t != "O"}
    assert len(types) == 6
    assert all(t == "O" or t[:2] in ("B-", "I-") for t in data.tag_set())
    write_tagging(tmp_path / "out.conll", data, data.tags or [], append=True)
    back = read_conll(tmp_path / "out.conll")
    assert (back.tokens, back.tags) == (data.tokens, data.tags)


@pytest.mark.parametrize(("name", "lines"), [("train", 121633), ("dev", 6736)])
def test_real_cmudict(shared_data: Path, name: str, lines: int) -> None:
    data = read_cmudict(shared_data / "cmudict" / f"{name}.dict")
    assert len(data) == lines
    sources, references = data.grouped()
    assert len(sources) < lines and sum(len(r) for r in references) == lines
    assert all("(" not in s or not s.endswith(")") for s in sources)
    assert all(re.fullmatch(r"[A-Z]+[0-2]?( [A-Z]+[0-2]?)*", t) for t in data.targets)
