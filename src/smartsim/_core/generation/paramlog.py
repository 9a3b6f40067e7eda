"""Fast, byte-exact replacement for the ``tabulate`` calls behind ``smartsim_params.txt``.

SmartSim 0.8.0 (``Generator._log_params``) writes, for every ensemble member::

    inner = tabulate(params.items(), headers=["Name", "Value"])       # one per file
    outer = tabulate(file_to_tables.items(), headers=["File name", "Parameters"])
    entry = f"Model name: {name}\\n{outer}\\n\\n"

``tabulate`` spends ~0.7 ms on a 20-row table, which dominates generation of large
ensembles.  :func:`format_table` reproduces ``tabulate(rows, headers=list(headers))``
exactly -- default ``tablefmt="simple"``, number parsing on, ``numalign="decimal"``,
``stralign="left"``, ``floatfmt="g"``, ``intfmt=""``, ``missingval=""``, no
``preserve_whitespace`` -- for two-column tables of ``str`` cells, and
:func:`format_entry` builds the whole ``Model name: ...`` entry.

Matched version: **tabulate 0.10.0** (the version installed both here and in the
reference SmartSim 0.8.0 environment).  The emulated logic, transliterated from
``tabulate/__init__.py`` 0.10.0:

* column type (``_type``/``_column_type``): reduce over the cells starting from
  ``bool``; ``""`` is "missing", ``"True"``/``"False"`` are bool, anything ``int()``
  accepts (whitespace, ``_``, unicode digits, ...) or matching the thousands-separator
  regex without a ``.`` (note: that regex also matches a lone ``"\\n"``) is int,
  anything ``float()`` accepts that is not an overflow to inf/nan (the literal
  spellings ``inf``/``-inf``/``nan`` in any case are accepted) or that matches the
  thousands regex is float, everything else is str;
* ``_format``: only float columns change their cells (``format(float(v), "g")``
  after removing ``,``); int/bool/str columns keep the raw text;
* ``_align_column``: numeric columns are "decimal" aligned (no stripping, pad the
  right with ``maxdecimals - _afterpoint(cell)`` spaces, then right-justify --
  empty cells get padded too), other columns are stripped and left-justified;
  minimum width is header width + 2;
* multi-line mode (any ``\\r``/``\\n`` anywhere in headers or cells): widths come from
  ``re.split("[\\r\\n]")`` but lines are padded per ``str.splitlines()`` (the two
  disagree on ``\\v``, ``\\f``, ``\\x1c``-``\\x1e``, ``\\x85``, ``\\u2028``,
  ``\\u2029`` and ``\\r\\n`` -- mirrored as is), headers are split on
  ``\\r|\\n|\\r\\n``, rows are emitted line by line and a row whose cells are all
  empty produces no output line at all;
* wide characters: exactly like tabulate, widths use ``wcwidth.wcswidth`` when the
  optional ``wcwidth`` package is importable (``WIDE_CHARS_MODE``), otherwise
  ``len``.  ``wcswidth`` returns -1 for strings holding control characters; that
  is mirrored too.  (wcswidth equals ``len`` on printable ASCII, which is used
  as a shortcut.)  If you toggle ``tabulate.WIDE_CHARS_MODE`` toggle
  :data:`WIDE_CHARS_MODE` here as well;
* every output line is ``rstrip()``-ed, as tabulate's simple format does.

How it is fast (pure Python, little per-cell Python code on the common paths):

* one pass decides that a table is single-line printable ASCII (the usual case: no
  escape codes, line breaks or wide characters to worry about);
* whole-column typing: a column whose cells, joined, are only ASCII digits is an
  int column kept as is; one made only of ``[0-9.eE+-]`` whose cells all pass
  ``float()`` is an int or float column, the latter formatted with a single
  ``"%g\\n%g..." % floats`` (``"%g" % x == format(x, "g")``) and decimal-aligned
  with C-level ``map`` calls; a first cell with any other ASCII character makes a
  str column at once.  Anything else (unicode digits, whitespace, ``_``, ``,``,
  ``nan``/``inf`` spellings, overflows to inf, empty cells among floats, ...) goes
  through the verbatim per-cell logic below;
* the first column (parameter names, identical for every member) is memoized in a
  small bounded cache;
* :func:`format_entry` builds the outer table directly when the inner tables are
  printable ASCII (their lines are already rstripped and the rule line is the
  widest), falling back to :func:`format_table` otherwise.

Measured against tabulate on a loaded (noisy) 2-core VM, 20-row inner tables:
int, str or mixed values ~30-60x faster; float columns ~19-26x (``float()`` plus
``%g`` alone are a third of the time); non-ASCII values with ``wcwidth``
installed ~6-10x (its per-character Python ``wcswidth`` dominates); whole 1- or
2-file entries ~20-40x.

Inputs delegated to the real ``tabulate`` (already a dependency; imported lazily):
anything containing ``"\\x1b"`` (ANSI escape handling / invisible-width logic),
anything containing ``"\\x01"`` (tabulate's ``SEPARATING_LINE`` marker), rows that
are not pairs of ``str`` (or whose first row is not a tuple/list), a mapping or
``None`` instead of rows, headers that are not two ``str``.  The output is
therefore exact for those too, just not fast.  There are no known unmatched
corners: ``tests/test_paramlog.py`` compares against tabulate on a few thousand
generated tables without exclusions.

Other notes: a ``str`` subclass with a custom ``__format__``/``__str__`` is
formatted as plain text here; a mapping passed as ``rows`` is delegated (tabulate
reads a dict as *columns*, not as name/value pairs).
"""

from __future__ import annotations

import math
import re
import typing as t
from itertools import chain as _chain, repeat as _repeat
from operator import add as _add, sub as _sub

try:  # tabulate does the same optional import to enable wide-character support
    import wcwidth as _wcwidth_mod

    _wcswidth: t.Optional[t.Callable[[str], int]] = _wcwidth_mod.wcswidth
except ImportError:  # pragma: no cover - depends on the environment
    _wcswidth = None

#: Mirrors ``tabulate.WIDE_CHARS_MODE`` (True iff ``wcwidth`` is importable).
WIDE_CHARS_MODE: bool = _wcswidth is not None

TABULATE_VERSION_MATCHED = "0.10.0"

__all__ = ["format_table", "format_entry", "WIDE_CHARS_MODE", "TABULATE_VERSION_MATCHED"]

# tabulate's _float_with_thousands_separators, verbatim
_THOUSANDS = re.compile(r"^(([+-]?[0-9]{1,3})(?:,([0-9]{3}))*)?(?(1)\.[0-9]*|\.[0-9]+)?$")
_thousands_match = _THOUSANDS.match

# Fast-path patterns (ASCII only).  A full match of _FLOAT_RE is a literal that float()
# accepts and int() rejects (it has a "." or an exponent); a full match of _INT_RE is
# accepted by int().  Anything else takes the verbatim slow path.
_float_fullmatch = re.compile(
    r"[+-]?(?:(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+)"
).fullmatch
_int_fullmatch = re.compile(r"[+-]?[0-9]{1,18}").fullmatch
_INFS = (math.inf, -math.inf)
_INF = math.inf
_NINF = -math.inf
# alphabets for the whole-column checks (cells joined with "\n")
_PRINTABLE_NL = bytes(range(0x20, 0x7F)) + b"\n"
_DIGITS_NL = b"0123456789\n"
_NUMLIT_NL = b"0123456789.eE+-\n"

# Every ASCII character that can occur in a string that int()/float() accept or that
# the thousands regex matches ("infinity", "nan", exponent, sign, "_", ",", ".",
# ASCII whitespace incl. \x1c-\x1f).  An ASCII cell with any other character is
# certainly of type str.  (A conservative pre-filter only; see _slow_rank.)
_NUMCHARS = "0123456789+-_.,eEiInNfFtTyYaA \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"

_NONE, _BOOL, _INT, _FLOAT, _STR = 0, 1, 2, 3, 5
_SEP = "  "


def _fallback(rows: t.Any, headers: t.Any) -> str:
    from tabulate import tabulate  # lazy: only for the rare delegated inputs

    return tabulate(rows, headers=list(headers))


def _isnumber(s: str) -> bool:
    try:
        f = float(s)
    except (ValueError, TypeError):
        return False
    return not (math.isinf(f) or math.isnan(f)) or s.lower() in ("inf", "-inf", "nan")


def _isint(s: str) -> bool:
    try:
        int(s)
    except (ValueError, TypeError):
        return False
    return True


def _slow_rank(s: str) -> int:
    """tabulate's ``_type`` for a str (has_invisible=False, numparse=True)."""
    if not s:
        return _NONE
    if s == "True" or s == "False":
        return _BOOL
    if _isint(s):
        return _INT
    th = _thousands_match(s) is not None
    if th and "." not in s:
        return _INT
    if th or _isnumber(s):
        return _FLOAT
    return _STR


def _col_rank(col: t.Sequence[str]) -> int:
    """tabulate's ``_column_type`` (reduce with _more_generic, starting at bool)."""
    r = _BOOL
    for s in col:
        if s.isdigit() and s.isascii() and len(s) < 20:
            if r < _INT:
                r = _INT
            continue
        if not s or s == "True" or s == "False":
            continue
        if s.isascii():
            if s.strip(_NUMCHARS):
                return _STR
            if _float_fullmatch(s) is not None:
                # has "." or an exponent: int() rejects it, float() accepts it; the
                # thousands regex can only match finite values -> float unless it
                # overflows to inf (which tabulate's _isnumber rejects -> str)
                if float(s) in _INFS:
                    return _STR
                k = _FLOAT
            elif _int_fullmatch(s) is not None:
                k = _INT
            else:
                k = _slow_rank(s)
        else:
            k = _slow_rank(s)
        if k > r:
            if k == _STR:
                return _STR
            r = k
    return r


def _fmt_float(s: str) -> str:
    """tabulate's ``_format`` for a str in a float column (has_invisible=False)."""
    if not s:
        return ""
    if "," in s:
        s = s.replace(",", "")
    try:
        return format(float(s), "g")
    except (ValueError, TypeError):
        return s


def _afterpoint_slow(s: str) -> int:
    """tabulate's ``_afterpoint``, verbatim logic."""
    if _isnumber(s) or _thousands_match(s) is not None:
        if _isint(s):
            return -1
        pos = s.rfind(".")
        if pos < 0:
            pos = s.lower().rfind("e")
        return len(s) - pos - 1 if pos >= 0 else -1
    return -1


def _afterpoint(s: str) -> int:
    if s.isascii():
        # without "." and "e"/"E" the result is -1 whatever the number check says
        if "." not in s and "e" not in s and "E" not in s:
            return -1
        if _float_fullmatch(s) is not None:
            # a number that int() rejects, unless it overflows to inf
            if float(s) in _INFS:
                return -1
            pos = s.rfind(".")
            if pos < 0:
                pos = s.lower().rfind("e")
            return len(s) - pos - 1
        if s == "True" or s == "False":
            return -1
    return _afterpoint_slow(s)


_GFMT_CACHE: t.Dict[int, str] = {}


def _gfmt(n: int) -> str:
    """``"%g\\n%g...%g"`` with ``n`` fields (formats a whole column in one call)."""
    fmt = _GFMT_CACHE.get(n)
    if fmt is None:
        fmt = "\n".join(["%g"] * n)
        if n <= 4096:
            _GFMT_CACHE[n] = fmt
    return fmt


def _wc(s: str) -> int:
    if s.isascii() and s.isprintable():
        return len(s)
    return _wcswidth(s)  # type: ignore[misc]


def _split_nl(s: str) -> t.List[str]:
    # == re.split("[\r\n]", s)
    return s.replace("\r", "\n").split("\n")


def _decimal_strings(col: t.Sequence[str]) -> t.List[str]:
    decs = [_afterpoint(s) for s in col]
    md = max(decs)
    return [s + (md - d) * " " if d != md else s for s, d in zip(col, decs)]


# --------------------------------------------------------------------------- fast path


def _fast_column(
    col: t.Sequence[str], minw: int, wide: bool, last: bool, raw: t.Optional[bytes] = None
) -> t.Tuple[t.List[str], int, bool, bool]:
    """Type, format and align one single-line column.

    Returns (cells, final column width, is_numeric, clean).  The first column
    (``last`` false) comes padded and followed by the column separator.  The last
    one may lack right padding, since every output line is rstrip()-ed, and
    ``clean`` tells that none of its cells ends in whitespace, so that rstrip() is a
    no-op for every row.  ``raw`` may bring ``"\\n".join(col)`` ASCII-encoded.
    """
    n = len(col)
    strings: t.Optional[t.Sequence[str]] = None
    numeric = False
    clean = False
    known_width = -1  # max(map(len, strings)) when already known
    first = col[0]
    if first.isascii() and first.strip(_NUMCHARS) and first != "True" and first != "False":
        pass  # the first cell is certainly a str, so is the column: skip the checks
    else:
        if raw is None:
            joined = "\n".join(col)  # no cell holds a line break on this path
            if joined.isascii():
                raw = joined.encode("ascii")
        if raw is not None:
            if not raw.translate(None, _NUMLIT_NL):
                if (
                    b"." not in raw
                    and b"e" not in raw
                    and b"E" not in raw
                    and not raw.translate(None, _DIGITS_NL)
                ):
                    # unsigned ASCII ints and maybe empty cells: an int column unless
                    # all cells are empty; cells kept as they are, no decimals to align
                    if raw.strip(b"\n"):
                        known_width = max(map(len, col))
                        if known_width <= 640:  # int() takes it, whatever int_max_str_digits
                            strings = col
                            numeric = True
                            clean = "" not in col
                        else:
                            known_width = -1
                else:
                    # Over this alphabet float() accepts exactly the literals
                    # [+-]?(digits[.digits*]|.digits)([eE][+-]?digits)?; int() rejects
                    # those with "." or an exponent, accepts the others; "" fails float()
                    try:
                        fl: t.Optional[t.Tuple[float, ...]] = tuple(map(float, col))
                    except ValueError:
                        fl = None
                    # (an overflow to +-inf needs tabulate's exact rules: slow path)
                    if fl is None:
                        pass
                    elif b"." not in raw and b"e" not in raw and b"E" not in raw:
                        if len(raw) < 300 or (_INF not in fl and _NINF not in fl):
                            strings = col  # all int literals: int column, cells kept
                            numeric = True
                            clean = True
                    else:
                        gstr = _gfmt(n) % fl
                        if "inf" not in gstr:
                            # float column: "%g" (== format(x, "g")) of every cell, then
                            # decimal alignment, where tabulate's _afterpoint(g) is
                            # len(g) - 1 - ip, ip the index of "." (else "e", else len(g))
                            numeric = True
                            g = gstr.split("\n")
                            ips = list(map(str.find, g, _repeat(".", n)))
                            i = -1
                            for _ in range(ips.count(-1)):  # no "." in these
                                i = ips.index(-1, i + 1)
                                e_at = g[i].find("e")
                                ips[i] = e_at if e_at >= 0 else len(g[i])
                            q = list(map(_sub, map(len, g), ips))  # decimals + 1
                            mq = max(q)
                            known_width = max(ips) + mq
                            if last and not wide:
                                # the right (decimal) padding of the last column is
                                # rstrip()-ed away: apply only the left padding
                                mw = max(known_width, minw)
                                padded = list(map(str.rjust, g, map(_add, q, _repeat(mw - mq, n))))
                                return padded, mw, True, True
                            strings = list(map(str.ljust, g, map(_add, ips, _repeat(mq, n))))
    if strings is None:
        rank = _col_rank(col)
        if rank == _INT or rank == _FLOAT:
            if rank == _FLOAT:
                col = [_fmt_float(s) for s in col]
            strings = _decimal_strings(col)
            numeric = True
            clean = False  # decimal padding may end a cell with spaces
        else:
            strings = list(map(str.strip, col))
            clean = "" not in strings
    if not wide:
        mw = max(known_width if known_width >= 0 else max(map(len, strings)), minw)
        if numeric:
            padded = list(map(str.rjust, strings, _repeat(mw, n)))
            if last:
                return padded, mw, True, clean
            return list(map(_add, padded, _repeat(_SEP, n))), mw, True, False
        if last:
            return strings, mw, False, clean  # type: ignore[return-value]
        return list(map(str.ljust, strings, _repeat(mw + len(_SEP), n))), mw, False, False
    ws = [_wc(s) for s in strings]
    mw = max(max(ws), minw)
    if numeric:
        padded = [s.rjust(mw - (w - len(s))) for s, w in zip(strings, ws)]
    else:
        padded = [s.ljust(mw - (w - len(s))) for s, w in zip(strings, ws)]
    # tabulate then takes max(minw, wcswidth(padded cell)).  wcswidth (a per-char
    # Python loop) adds exactly 1 per padding space except when the cell's width is -1
    # (control chars), when a left pad precedes a first char that is not printable
    # ASCII (e.g. a spacing mark, which counts 1 after a base char) or when a right pad
    # follows a trailing ZWJ (which swallows the next char): measure those for real.
    final = minw
    for s, w, p in zip(strings, ws, padded):
        extra = len(p) - len(s)
        if not extra:
            pw = w
        elif w >= 0 and (
            (s[:1].isascii() and s[:1].isprintable()) if numeric else not s.endswith("\u200d")
        ):
            pw = w + extra
        else:
            pw = _wc(p)
        if pw > final:
            final = pw
    if not last:
        padded = [p + _SEP for p in padded]
    return padded, final, numeric, False


# The first column (parameter names) is the same for every member of an ensemble
# (per configured file): memoize its formatting in a small bounded cache, together
# with whether it is plain (single-line printable ASCII, see format_table).
_ColumnResult = t.Tuple[t.List[str], int, bool, bool]  # what _fast_column returns
_Col0Key = t.Tuple[t.Tuple[str, ...], int, bool]
_COL0_CACHE: t.Dict[_Col0Key, t.Tuple[_ColumnResult, bool]] = {}
_COL0_CACHE_MAX = 64


def _col0(col0: t.List[str], minw: int, wide: bool) -> t.Tuple[_ColumnResult, bool]:
    """(``_fast_column`` result for the first column, whether it is plain)."""
    cacheable = len(col0) <= 256
    if cacheable:
        key = (tuple(col0), minw, wide)
        hit = _COL0_CACHE.get(key)
        if hit is not None:
            return hit
    j0 = "\n".join(col0)  # (TypeError for a non-str cell, before anything else)
    plain = (
        j0.isascii()
        and j0.count("\n") == len(col0) - 1
        and not j0.encode("ascii").translate(None, _PRINTABLE_NL)
    )
    hit = (_fast_column(col0, minw, wide, False), plain)
    if cacheable:
        if len(_COL0_CACHE) >= _COL0_CACHE_MAX:
            _COL0_CACHE.clear()
        _COL0_CACHE[key] = hit
    return hit


def _fast(
    col0: t.List[str],
    col1: t.List[str],
    h0: str,
    h1: str,
    wide: bool,
    raw1: t.Optional[bytes] = None,
    col0_done: t.Optional[_ColumnResult] = None,
) -> str:
    wf = _wc if wide else len
    hw0 = wf(h0)
    hw1 = wf(h1)
    if col0_done is None:
        col0_done = _col0(col0, hw0 + 2, wide)[0]
    p0, w0, n0, _ = col0_done
    p1, w1, n1, clean = _fast_column(col1, hw1 + 2, wide, True, raw1)
    a0 = w0 + len(h0) - hw0
    a1 = w1 + len(h1) - hw1
    head = (h0.rjust(a0) if n0 else h0.ljust(a0)) + _SEP + (h1.rjust(a1) if n1 else h1.ljust(a1))
    rule = "-" * w0 + _SEP + "-" * w1
    if clean:
        body = "\n".join(map(_add, p0, p1))
    else:
        body = "\n".join(map(str.rstrip, map(_add, p0, p1)))
    return f"{head.rstrip()}\n{rule.rstrip()}\n{body}"


def _fast_multiline(col0: t.List[str], col1: t.List[str], h0: str, h1: str) -> t.Optional[str]:
    """Multi-line table (the outer file/parameters table), narrow characters only.

    Only for text free of line breaks other than "\\n" (so splitlines() and
    re.split("[\\r\\n]") agree) and for two left-aligned (str) columns; returns
    None otherwise.
    """
    if _col_rank(col0) in (_INT, _FLOAT) or _col_rank(col1) in (_INT, _FLOAT):
        return None
    widths = []
    cols_lines = []
    for col, h in ((col0, h0), (col1, h1)):
        cells = [c.strip().split("\n") for c in col]
        mw = max(max(map(len, _chain.from_iterable(cells))), max(map(len, h.split("\n"))) + 2)
        widths.append(mw)
        cols_lines.append(cells)
    w0, w1 = widths
    head0 = [x.ljust(w0) for x in h0.split("\n")]
    head1 = [x.ljust(w1) for x in h1.split("\n")]
    nh = max(len(head0), len(head1))
    head0 += [" " * w0] * (nh - len(head0))
    head1 += [" " * w1] * (nh - len(head1))
    lines = [(a + _SEP + b).rstrip() for a, b in zip(head0, head1)]
    lines.append(("-" * w0 + _SEP + "-" * w1).rstrip())
    blank = " " * (w0 + len(_SEP))  # an empty column-0 line plus the separator
    for c0, c1 in zip(*cols_lines):
        # "".splitlines() == []; a missing line of the last column is blank, which
        # the rstrip() below turns into "" anyway
        n0 = len(c0) if c0 != [""] else 0
        n1 = len(c1) if c1 != [""] else 0
        if n0 == 1:
            left = [c0[0].ljust(w0 + len(_SEP))]
        else:
            left = [x.ljust(w0 + len(_SEP)) for x in c0[:n0]]
        if n1 > n0:
            left += [blank] * (n1 - n0)
        elif n0 > n1:
            c1 = c1[:n1] + [""] * (n0 - n1)
        lines += map(str.rstrip, map(_add, left, c1))
    return "\n".join(lines)


# ------------------------------------------------------------- general (faithful) path


def _general(cols: t.List[t.List[str]], headers: t.List[str], wide: bool, multiline: bool) -> str:
    """Literal transliteration of tabulate 0.10.0 for str cells (any shape of text)."""
    lw: t.Callable[[str], int] = _wc if wide else len

    wf: t.Callable[[str], int] = lw
    if multiline:

        def multiline_width(s: str) -> int:
            return max(map(lw, _split_nl(s)))

        wf = multiline_width

    ranks = [_col_rank(c) for c in cols]
    cols = [[_fmt_float(v) for v in c] if r == _FLOAT else c for c, r in zip(cols, ranks)]
    aligns = ["decimal" if r in (_INT, _FLOAT) else "left" for r in ranks]
    minwidths = [wf(h) + 2 for h in headers]

    padded_cols = []
    for c, a, minw in zip(cols, aligns, minwidths):
        if a == "decimal":
            strings = _decimal_strings(c)
            padfn = str.rjust
        else:
            strings = [s.strip() for s in c]
            padfn = str.ljust
        if multiline:
            s_widths = [[lw(x) for x in _split_nl(s)] for s in strings]
            maxwidth = max(max(w for ws in s_widths for w in ws), minw)
            if not wide:
                padded = ["\n".join([padfn(x, maxwidth) for x in s.splitlines()]) for s in strings]
            else:
                s_lens = [[len(x) for x in _split_nl(s)] for s in strings]
                vis = [
                    [maxwidth - (w - n) for w, n in zip(mw, ml)]
                    for mw, ml in zip(s_widths, s_lens)
                ]
                padded = [
                    "\n".join([padfn(x, w) for x, w in zip((s.splitlines() or s), mw)])
                    for s, mw in zip(strings, vis)
                ]
        else:
            s_w = [lw(s) for s in strings]
            maxwidth = max(max(s_w), minw)
            if not wide:
                padded = [padfn(s, maxwidth) for s in strings]
            else:
                padded = [padfn(s, maxwidth - (w - len(s))) for s, w in zip(strings, s_w)]
        padded_cols.append(padded)

    if padded_cols:
        t_cols = padded_cols
        aligns_headers = aligns
    else:
        t_cols = [[""]] * len(headers)
        aligns_headers = ["left"] * len(headers)
    widths = [max(minw, max(wf(cl) for cl in c)) for minw, c in zip(minwidths, t_cols)]

    def align_header(h: str, a: str, width: int, visible: int) -> str:
        width += len(h) - visible
        return h.ljust(width) if a == "left" else h.rjust(width)

    if multiline:
        aligned_headers = [
            "\n".join([align_header(x, a, w, wf(x)) for x in _split_nl(h)])
            for h, a, w in zip(headers, aligns_headers, widths)
        ]
    else:
        aligned_headers = [
            align_header(h, a, w, wf(h)) for h, a, w in zip(headers, aligns_headers, widths)
        ]

    lines: t.List[str] = []

    def append_row(cells: t.Sequence[str]) -> None:
        if not multiline:
            lines.append(_SEP.join(cells).rstrip())
            return
        cl = [c.splitlines() for c in cells]
        n = max(map(len, cl))
        cl = [x + [" " * w] * (n - len(x)) for x, w in zip(cl, widths)]
        for i in range(n):
            lines.append(_SEP.join([x[i] for x in cl]).rstrip())

    append_row(aligned_headers)
    lines.append(_SEP.join(["-" * w for w in widths]).rstrip())
    for row in zip(*padded_cols):
        append_row(row)
    return "\n".join(lines)


# ------------------------------------------------------------------------------ API


def format_table(rows: t.Sequence[t.Tuple[str, str]], headers: t.Tuple[str, str]) -> str:
    """Return exactly ``tabulate.tabulate(rows, headers=list(headers))`` (tabulate 0.10.0).

    ``rows`` is a sequence of ``(str, str)`` pairs, ``headers`` a pair of ``str``.
    Anything else (a mapping, non-pair rows, non-str cells, ...) is handed to
    tabulate itself.
    """
    if type(rows) is not list and type(rows) is not tuple:
        if rows is None or (hasattr(rows, "keys") and hasattr(rows, "values")):
            return _fallback(rows, headers)  # tabulate reads a mapping as columns
        try:
            rows = list(rows)
        except TypeError:
            return _fallback(rows, headers)
    if rows and type(rows[0]) is not tuple and type(rows[0]) is not list:
        return _fallback(rows, headers)  # tabulate special-cases dict/dataclass rows
    try:
        h0, h1 = headers
        col0 = [a for a, _ in rows]
        col1 = [b for _, b in rows]
        j1 = "\n".join(col1)
    except (TypeError, ValueError):
        return _fallback(rows, headers)
    if (
        col0
        and j1.isascii()
        and type(h0) is str
        and type(h1) is str
        and h0.isascii()
        and h0.isprintable()
        and h1.isascii()
        and h1.isprintable()
    ):
        # The common case, in a single pass over the values: everything is single-line
        # printable ASCII (so no "\x1b", "\x01", line breaks, and widths are len()).
        raw1 = j1.encode("ascii")
        if raw1.count(b"\n") == len(col1) - 1 and not raw1.translate(None, _PRINTABLE_NL):
            try:
                res0, plain0 = _col0(col0, len(h0) + 2, False)
            except TypeError:  # a non-str name: delegated below
                plain0 = False
            if plain0:
                return _fast(col0, col1, h0, h1, False, raw1, res0)
    try:
        text = "".join(col0) + "".join(col1) + h0 + h1
    except TypeError:
        return _fallback(rows, headers)
    if type(h0) is not str or type(h1) is not str or "\x1b" in text or "\x01" in text:
        return _fallback(rows, headers)
    if "\n" not in text and "\r" not in text:
        # single-line table; wcswidth == len on printable ASCII
        wide = (
            WIDE_CHARS_MODE
            and _wcswidth is not None
            and not (text.isascii() and text.isprintable())
        )
        if col0:
            return _fast(col0, col1, h0, h1, wide)
        return _general([], [h0, h1], wide, False)
    # multi-line: widths are only ever taken of single lines
    has_cr = "\r" in text
    plain = text.replace("\n", "")
    if has_cr:
        plain = plain.replace("\r", "")
    printable = plain.isprintable()
    wide = WIDE_CHARS_MODE and _wcswidth is not None and not (printable and plain.isascii())
    if col0 and not wide and printable and not has_cr:
        out = _fast_multiline(col0, col1, h0, h1)
        if out is not None:
            return out
    return _general([col0, col1] if col0 else [], [h0, h1], wide, True)


_INNER_HEADERS = ("Name", "Value")
_OUTER_HEADERS = ("File name", "Parameters")


def format_entry(
    model_name: str,
    files: t.Sequence[t.Tuple[str, t.Union[t.Sequence[t.Tuple[str, str]], t.Mapping[str, str]]]],
) -> str:
    """Build one ``smartsim_params.txt`` entry exactly as SmartSim 0.8.0 does.

    ``files`` holds ``(path relative to the generation dir, parameters)`` pairs, the
    parameters being ``(name, value)`` pairs (or a mapping) of ``str``.  Like
    SmartSim's dicts, a repeated path/name keeps its first position and last value.
    """
    file_to_tables: t.Dict[str, str] = {}
    # templates of one member often use the same parameters: format each table once
    tables: t.Dict[t.Tuple[t.Tuple[str, str], ...], str] = {}
    for path, params in files:
        items = tuple(params.items() if hasattr(params, "items") else dict(params).items())
        table = tables.get(items)
        if table is None:
            table = tables[items] = format_table(list(items), _INNER_HEADERS)
        file_to_tables[path] = table
    outer = _outer_table(list(file_to_tables), list(file_to_tables.values()))
    if outer is None:
        outer = format_table(list(file_to_tables.items()), _OUTER_HEADERS)
    return f"Model name: {model_name}\n{outer}\n\n"


def _outer_table(paths: t.List[str], tables: t.List[str]) -> t.Optional[str]:
    """The ``File name``/``Parameters`` table when every cell is plain; else None.

    Same result as ``format_table(list(zip(paths, tables)), _OUTER_HEADERS)``
    (the multi-line path), taking a shortcut that holds for inner tables made of
    printable ASCII: their lines are already rstrip()-ed, the rule (second) line
    is the widest, and a table that neither starts with a space nor holds an empty
    line is left unchanged by strip() and splitlines(), so each of its lines just
    gets the blank first column prepended.
    """
    if not paths:
        return None
    for p in paths:
        if type(p) is not str or not (p.isascii() and p.isprintable()):
            return None
    if _col_rank(paths) in (_INT, _FLOAT):
        return None
    widths = []
    checked: t.Dict[int, int] = {}  # tables shared by several files are checked once
    for tab in tables:
        known = checked.get(id(tab))
        if known is not None:
            widths.append(known)
            continue
        if (
            type(tab) is not str
            or not tab.isascii()
            or tab[:1] == " "
            or tab.endswith("\n")
            or "\n\n" in tab
            or tab.encode("ascii").translate(None, _PRINTABLE_NL)
        ):
            return None
        i = tab.find("\n")
        if i < 0 or not tab.startswith("Name"):
            return None
        j = tab.find("\n", i + 1)
        widths.append((j if j >= 0 else len(tab)) - i - 1)
        checked[id(tab)] = widths[-1]
    stripped = [p.strip() for p in paths]
    w0 = max(max(map(len, stripped)), len(_OUTER_HEADERS[0]) + 2)
    w1 = max(max(widths), len(_OUTER_HEADERS[1]) + 2)
    blank = "\n" + " " * (w0 + len(_SEP))
    parts = [
        _OUTER_HEADERS[0].ljust(w0) + _SEP + _OUTER_HEADERS[1],
        "-" * w0 + _SEP + "-" * w1,
    ]
    parts += [
        p.ljust(w0 + len(_SEP)) + tab.replace("\n", blank) for p, tab in zip(stripped, tables)
    ]
    return "\n".join(parts)
