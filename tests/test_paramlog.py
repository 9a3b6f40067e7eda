"""``smartsim._core.generation.paramlog`` must reproduce tabulate byte for byte.

Every case is compared against the real ``tabulate`` (the reference SmartSim 0.8.0
uses to write ``smartsim_params.txt``).  Wide-character handling depends on whether
``wcwidth`` is importable, so the comparisons run with tabulate's
``WIDE_CHARS_MODE`` both on (when wcwidth is installed) and off, toggling the
module's mirror flag in step.  No corner case is excluded from the comparison.
"""

from __future__ import annotations

import random
import typing as t

import pytest

tabulate_mod = pytest.importorskip("tabulate")
from tabulate import tabulate  # noqa: E402

from smartsim._core.generation import paramlog  # noqa: E402
from smartsim._core.generation.paramlog import format_entry, format_table  # noqa: E402

try:
    import wcwidth  # noqa: F401

    _WIDE_MODES = [False, True]
except ImportError:  # pragma: no cover - depends on the environment
    _WIDE_MODES = [False]


@pytest.fixture(params=_WIDE_MODES, ids=lambda w: "wide" if w else "narrow")
def wide_mode(request, monkeypatch):
    monkeypatch.setattr(tabulate_mod, "WIDE_CHARS_MODE", request.param)
    monkeypatch.setattr(paramlog, "WIDE_CHARS_MODE", request.param)
    return request.param


def ref_table(rows, headers):
    return tabulate(rows, headers=list(headers))


def ref_entry(name, files):
    """SmartSim 0.8.0 ``Generator._log_params``, verbatim apart from the inputs."""
    file_to_tables: t.Dict[str, str] = {}
    for file, params in files:
        params = dict(params)
        file_to_tables[file] = tabulate(params.items(), headers=["Name", "Value"])
    file_table = tabulate(file_to_tables.items(), headers=["File name", "Parameters"])
    return f"Model name: {name}\n{file_table}\n\n"


def check(rows, headers=("Name", "Value")):
    expected = ref_table(rows, headers)
    got = format_table(rows, headers)
    assert got == expected, f"rows={rows!r} headers={headers!r}\n{expected}\n---\n{got}"


# --------------------------------------------------------------------------- corpus

NUMERIC_LIKE = [
    "0", "1", "007", "-3", "+7", "-0", "1.50", "1.", ".5", "0.1", "1e5", "1E5", "1e-7",
    "1.5e+10", "-2.25E-3", "1.e5", "1e400", "-1e400", "1" * 25, "1" * 400, "1" * 700,
    "123456789", "0.000001234", "3.14159265358979", "nan", "NaN", "-nan", "inf", "-inf",
    "+inf", "INF", "Infinity", "infinity", "-Infinity", " 2 ", "\t3\t", " 1.5 ", "1_000",
    "1__0", "_1", "1_000.5", "1,000", "1,0000", "1,000.5", "1,234,567", "+1,234.5",
    ",", ".", "+", "-", "e", "E5", "1e", "e1", "--1", "1.2.3", "0x10", "1 000",
    "\u0661\u0662\u0663", "\u00b2", "\uff11\uff12", "1\u00a0", "\u20032", "\n", "1\n",
]
BOOL_LIKE = ["True", "False", "TRUE", "true", "True ", " False"]
EMPTYISH = ["", " ", "  ", "\t", "\u3000", "\u00a0", "\x0b", "\x1c"]
STRINGS = [
    "abc", "x_y", "a b", "/path/to/file.txt", "param-1", "v1.2", "e", "fine", "tiny",
    "a" * 80, "z" * 300, "ünïcödé", "e\u0301", "日本語", "ｆｕｌｌ", "🙂",
    "👩\u200d💻",
    "\u200b", "a\u200bb", "\x00", "a\x07b", "tab\there", "\ufeff", "\u0301",
    # wcwidth's grapheme logic: trailing/leading ZWJ, spacing marks (Mc), viramas,
    # VS16, regional indicators, skin tones, C1 controls
    "a\u200d", "\u200da", "1\u200d", "\u0903", "\u0903a", "\x00\u0903", "a\u0903",
    "\u0915\u094d\u0937", "\u0915\u094d", "\u2764\ufe0f", "\ufe0f", "1\ufe0f", "#\ufe0f\u20e3",
    "\U0001F1FA\U0001F1F8", "\U0001F1FA", "\U0001F44D\U0001F3FD", "\U0001F3FD", "\x85x", "\x9b",
]
MULTILINE = [
    "a\nb", "a\r\nb", "a\rb", "line1\nline2\nline3", "x\x0by", "x\x0cy", "x\x1dy",
    "x\x85y", "x\u2028y", "x\u2029y", "\nlead", "trail\n", "\n\n", "a\n\nb", " a \n b ",
    "1\n2", "1.5\n2", "日本\n語",
]
ATOMS = NUMERIC_LIKE + BOOL_LIKE + EMPTYISH + STRINGS + MULTILINE
SINGLE_LINE_ATOMS = [a for a in ATOMS if "\n" not in a and "\r" not in a]
HEADERS = [
    ("Name", "Value"), ("File name", "Parameters"), ("", ""), ("1", "2.5"), ("N", "V"),
    ("日本", "値"), ("multi\nline", "h"), ("a", "b\r\nc"), (" pad ", "x"), ("True", "nan"),
]


def _rand_cell(r: random.Random, single_line: bool) -> str:
    pool = SINGLE_LINE_ATOMS if single_line else ATOMS
    k = r.random()
    if k < 0.35:
        return r.choice(pool)
    if k < 0.45:
        return r.choice(pool) + r.choice(pool)
    if k < 0.60:
        return str(r.randint(-(10**9), 10**9))
    if k < 0.72:
        if r.random() < 0.5:
            return repr(r.uniform(-1e6, 1e6))
        return f"{r.uniform(0, 1):.{r.randint(0, 8)}f}"
    if k < 0.80:
        return repr(r.choice([1e-9, 2.5e17, 1e300, 123.0, 5e-324]) * r.random())
    if k < 0.90:
        alphabet = "0123456789+-_.,eEinfaty \t" + ("" if single_line else "\n")
        return "".join(r.choice(alphabet) for _ in range(r.randint(1, 8)))
    if k < 0.95:
        return "".join(chr(r.randint(0x20, 0x7E)) for _ in range(r.randint(0, 40)))
    return "".join(chr(r.choice([r.randint(0xA0, 0x3000), r.randint(0x4E00, 0x4F00), 0x1F600]))
                   for _ in range(r.randint(0, 4)))


def _rand_rows(r: random.Random, single_line: bool) -> t.List[t.Tuple[str, str]]:
    nrows = r.choice([0, 1, 1, 2, 3, 5, 8, 20, 20, 50])
    style = r.random()
    rows = []
    for i in range(nrows):
        if style < 0.2:  # typical ensemble parameters
            rows.append((f"param_{i}", str(r.randint(0, 1000))))
        elif style < 0.35:
            rows.append((f"p{i}", repr(r.uniform(-5, 5))))
        elif style < 0.45:  # mostly numeric with an occasional odd one
            v = repr(r.uniform(0, 100)) if r.random() < 0.85 else _rand_cell(r, single_line)
            rows.append((f"p{i}", v))
        else:
            rows.append((_rand_cell(r, single_line), _rand_cell(r, single_line)))
    return rows


# ---------------------------------------------------------------------------- tests


@pytest.mark.parametrize("value", ATOMS, ids=repr)
def test_single_value(wide_mode, value):
    check([("name", value)])
    check([(value, "1")])
    check([(value, value)])


@pytest.mark.parametrize("value", ATOMS, ids=repr)
def test_value_in_numeric_columns(wide_mode, value):
    check([("a", "1"), ("b", value), ("c", "22")])
    check([("a", "1.25"), ("b", value), ("c", "-3e5")])
    check([("a", ""), ("b", value), ("c", "True")])


@pytest.mark.parametrize("headers", HEADERS, ids=repr)
def test_headers(wide_mode, headers):
    check([], headers)
    check([("x", "1")], headers)
    check([("x", "1.5"), ("yy", "abc")], headers)
    check([("x\ny", "1"), ("z", "2")], headers)
    check([("x", "a\nb\nc"), ("1", "")], headers)


def test_helpers_match_tabulate_internals():
    """Cell typing and decimal alignment helpers against tabulate's private ones."""
    rank = {type(None): 0, bool: 1, int: 2, float: 3, str: 5}
    r = random.Random(99)
    corpus = ATOMS + [a + b for a in ATOMS[:60] for b in ATOMS[:60]]
    corpus += [_rand_cell(r, single_line=False) for _ in range(1000)]
    corpus += [format(r.uniform(-1e9, 1e9) * 10 ** r.randint(-300, 300), "g") for _ in range(300)]
    for s in corpus:
        expected = rank[tabulate_mod._type(s, has_invisible=False)]
        assert paramlog._slow_rank(s) == expected, repr(s)
        assert paramlog._col_rank([s]) == max(expected, 1), repr(s)
        assert paramlog._afterpoint(s) == tabulate_mod._afterpoint(s), repr(s)
        assert paramlog._afterpoint_slow(s) == tabulate_mod._afterpoint(s), repr(s)
        if expected == 3:
            expected_text = tabulate_mod._format(s, float, "g", "", has_invisible=False)
            assert paramlog._fmt_float(s) == expected_text, repr(s)


def test_empty_table(wide_mode):
    check([])
    check([("", "")])
    check([("", ""), ("", "")])


def test_typical_parameter_tables(wide_mode):
    r = random.Random(20240501)
    for _ in range(80):
        n = r.randint(1, 40)
        check([(f"param_{i}", str(r.randint(0, 10**r.randint(1, 12)))) for i in range(n)])
        check([(f"param_{i}", repr(r.uniform(-1e3, 1e3))) for i in range(n)])
        pool = ["abc", "1", "0.5", "/a/b", "True", "", "1e-3"]
        check([(f"p{i}", r.choice(pool)) for i in range(n)])
    for n in (257, 600):  # beyond the first-column cache's size limit
        check([(f"param_{i}", str(r.randint(0, 10**6))) for i in range(n)])
        check([(f"param_{i}", repr(r.uniform(-1e3, 1e3))) for i in range(n)])
        check([(str(i), _rand_cell(r, single_line=True)) for i in range(n)])


def test_random_single_line(wide_mode):
    r = random.Random(12345)
    for _ in range(500):
        single_line_headers = HEADERS[:6] + HEADERS[8:]
        headers = ("Name", "Value") if r.random() < 0.8 else r.choice(single_line_headers)
        check(_rand_rows(r, single_line=True), headers)


def test_random_any(wide_mode):
    r = random.Random(67890)
    for _ in range(500):
        headers = ("Name", "Value") if r.random() < 0.7 else r.choice(HEADERS)
        check(_rand_rows(r, single_line=False), headers)


def test_general_path_alone(wide_mode, monkeypatch):
    """The verbatim transliteration behind the fast paths matches tabulate on its own."""
    monkeypatch.setattr(
        paramlog,
        "_fast",
        lambda c0, c1, h0, h1, wide, *_: paramlog._general([c0, c1], [h0, h1], wide, False),
    )
    monkeypatch.setattr(paramlog, "_fast_multiline", lambda *args: None)
    r = random.Random(31337)
    for _ in range(600):
        headers = ("Name", "Value") if r.random() < 0.7 else r.choice(HEADERS)
        check(_rand_rows(r, single_line=r.random() < 0.5), headers)


def test_outer_tables(wide_mode):
    """The file -> inner-table shape of the log, including odd file names."""
    r = random.Random(4242)
    names = ["in.cfg", "sub/run.nml", "1", "2.5", "", "dir with space/x", "日本.txt", "True",
             "a\nb"]
    for _ in range(300):
        nfiles = r.choice([1, 1, 2, 3, 5])
        rows = []
        for _ in range(nfiles):
            inner = _rand_rows(r, single_line=r.random() < 0.8)
            rows.append((r.choice(names), ref_table(inner, ("Name", "Value"))))
        check(rows, ("File name", "Parameters"))


def test_delegated_inputs(wide_mode):
    """Inputs handed to tabulate itself still come out identical."""
    check([("a", "\x1b[31m42\x1b[0m"), ("b", "1")])
    check([("a", "\x1b]8;;https://x.org\x1b\\link\x1b]8;;\x1b\\")])
    check([("a", "\x01"), ("b", "2")])
    check([("\x01", "x"), ("b", "2")])
    check([("a", 1), ("b", 2.5)])  # type: ignore[list-item]
    check([(1, "a"), (2.5, "b")])  # type: ignore[list-item]
    check([("a", "1"), (None, "b")])  # type: ignore[list-item]
    check([("a", "1")], ("Name", 5))  # type: ignore[arg-type]
    check([["a", "1"], ["b", "2"]])  # type: ignore[list-item]
    check([("a", "1", "x")])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        ref_table(5, ("Name", "Value"))
    with pytest.raises(TypeError):
        format_table(5, ("Name", "Value"))  # type: ignore[arg-type]
    check(["ab", "cd"])  # type: ignore[list-item]  # str rows: tabulate splits them
    check(None)  # type: ignore[arg-type]
    columns = {"a": ["1", "2"], "b": ["3", "4"]}
    assert format_table(columns, ("A", "B")) == ref_table(columns, ("A", "B"))  # type: ignore
    pairs = [("a", "1"), ("b", "2")]
    assert format_table(iter(pairs), ("N", "V")) == ref_table(pairs, ("N", "V"))  # type: ignore


def test_format_entry_examples(wide_mode):
    files = [
        ("in.cfg", [("STEPS", "10"), ("dt", "0.5"), ("name", "run_a")]),
        ("sub/run.nml", [("tol", "1e-6")]),
        ("empty.txt", []),
    ]
    assert format_entry("model_0", files) == ref_entry("model_0", files)
    expected = (
        "Model name: m\n"
        "File name    Parameters\n"
        "-----------  ---------------\n"
        "in.cfg       Name      Value\n"
        "             ------  -------\n"
        "             STEPS      10\n"
        "             dt          0.5\n\n"
    )
    assert format_entry("m", [("in.cfg", [("STEPS", "10"), ("dt", "0.5")])]) == expected
    # mappings are accepted; repeated names/paths behave like SmartSim's dicts
    mapping = [("f", {"a": "1", "b": "x"})]
    assert format_entry("m", mapping) == ref_entry("m", mapping)
    dup = [("f", [("a", "1"), ("b", "2"), ("a", "3")]), ("g", [("c", "4")]), ("f", [("d", "5")])]
    assert format_entry("m", dup) == ref_entry("m", dup)


def test_format_entry_random(wide_mode):
    r = random.Random(777)
    for i in range(150):
        files = []
        for j in range(r.choice([1, 1, 2, 3])):
            rows = _rand_rows(r, single_line=r.random() < 0.9)
            files.append((r.choice([f"conf_{j}.txt", f"sub/dir/f{j}.in", str(j)]), rows))
        name = f"ens_{i}"
        assert format_entry(name, files) == ref_entry(name, files)


def test_format_entry_odd_files(wide_mode):
    """Inner tables and paths that the entry's outer-table shortcut must refuse."""
    inner = [
        [("a", "1")],
        [],
        [("", "")],  # an empty row: an empty line in the inner table
        [("a", "1"), ("", "")],  # ... at its end
        [("1", "x"), ("22", "y")],  # numeric names: the inner table starts with spaces
        [("a", "x\ny")],  # multi-line inner cell
        [("a", "日本")],
        [("a", "x\ty")],
        [("a", " padded "), ("b", "2.50")],
    ]
    paths = ["in.cfg", "", " spaced ", "1", "2.5", "True", "日本.txt", "a\nb", "tab\tx",
             "x" * 40]
    r = random.Random(5)
    for _ in range(150):
        files = [
            (r.choice(paths) + r.choice(["", "", str(r.randint(0, 9))]), r.choice(inner))
            for _ in range(r.randint(1, 4))
        ]
        assert format_entry("m", files) == ref_entry("m", files), files
