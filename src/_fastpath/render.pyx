# cython: language_level=3
"""Template rendering: compile a tagged template once, render it for many members.

A template is split once into literal byte segments and parameter slots. Rendering a
member is a series of ``memcpy`` calls into one buffer and one atomic file write
(write a hidden temporary file, then ``rename`` over the target), all with the GIL
released, so a crash never leaves a half-written input deck.
"""
import os

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.errno cimport errno, EEXIST, ENOENT
from libc.stdint cimport int32_t
from libc.stdio cimport snprintf, rename, remove
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memchr, strlen

cdef extern from "<fcntl.h>" nogil:
    int open(const char *path, int flags, int mode)
    int O_WRONLY, O_CREAT, O_TRUNC, O_CLOEXEC

cdef extern from "<unistd.h>" nogil:
    ssize_t write(int fd, const void *buf, size_t count)
    int close(int fd)

cdef extern from "<sys/stat.h>" nogil:
    int mkdir(const char *path, int mode)

cdef extern from "<string.h>" nogil:
    void *memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen)

DEF PATH_MAX_LEN = 4096


cdef class CompiledTemplate:
    """A template split into ``len(slots) + 1`` literals around parameter slots."""
    cdef readonly object path
    cdef readonly list literals
    cdef readonly list slots
    cdef readonly dict unknown_tags
    cdef readonly int mode

    def __init__(self, path, list literals, list slots, dict unknown_tags, int mode):
        self.path = path
        self.literals = literals
        self.slots = slots
        self.unknown_tags = unknown_tags
        self.mode = mode

    @property
    def used_params(self):
        """Parameter names used by this template, in first-use order."""
        return list(dict.fromkeys(self.slots))

    def render(self, dict params):
        """Render with a ``{name: str}`` mapping (convenience path for single models)."""
        parts = []
        for i, name in enumerate(self.slots):
            parts.append(self.literals[i])
            parts.append(str(params[name]).encode("utf-8"))
        parts.append(self.literals[-1])
        return b"".join(parts)


@cython.boundscheck(False)
@cython.wraparound(False)
def compile_template(bytes data, bytes delimiter, known_names, path=None, int mode=0o644):
    """Split ``data`` at every ``<delim>NAME<delim>`` whose NAME is in ``known_names``.

    NAME is non-empty, on one line and free of the delimiter. A candidate whose NAME is not
    known stays in the output as written; its closing delimiter may open the next tag,
    so ``;x;A;`` still finds ``;A;``. Unknown tags are returned with their line numbers.
    """
    cdef const char *buf = PyBytes_AS_STRING(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    cdef const char *dl = PyBytes_AS_STRING(delimiter)
    cdef Py_ssize_t dlen = PyBytes_GET_SIZE(delimiter)
    cdef Py_ssize_t pos = 0, lit_start = 0, p, q, line = 1, line_pos = 0
    cdef Py_ssize_t last_unknown_close = -1
    cdef const char *hit
    cdef const char *nl
    literals = []
    slots = []
    unknown = {}
    if dlen == 0:
        raise ValueError("tag delimiter must not be empty")
    while pos < n:
        hit = <const char *>memmem(buf + pos, n - pos, dl, dlen)
        if hit == NULL:
            break
        p = hit - buf
        hit = <const char *>memmem(buf + p + dlen, n - p - dlen, dl, dlen)
        if hit == NULL:
            break
        q = hit - buf
        nl = <const char *>memchr(buf + p + dlen, b'\n', q - p - dlen)
        if nl != NULL or q == p + dlen:
            # spans a line break, or empty name: the closing delimiter may open a tag
            pos = q
            continue
        name = data[p + dlen:q].decode("utf-8", "surrogateescape")
        if name in known_names:
            literals.append(data[lit_start:p])
            slots.append(name)
            lit_start = q + dlen
            pos = q + dlen
        elif p == last_unknown_close:
            # text between an unknown tag and the next delimiter ("u=;NOPE; b=;B;"): not a tag
            last_unknown_close = q
            pos = q
        else:
            # line number of p, counted incrementally
            while line_pos < p:
                nl = <const char *>memchr(buf + line_pos, b'\n', p - line_pos)
                if nl == NULL:
                    line_pos = p
                    break
                line += 1
                line_pos = (nl - buf) + 1
            lines = unknown.setdefault(name, [])
            if not lines or lines[len(lines) - 1] != line:
                lines.append(line)
            last_unknown_close = q
            pos = q
    literals.append(data[lit_start:])
    return CompiledTemplate(path, literals, slots, unknown, mode)


cdef struct Chunk:
    const char *ptr
    Py_ssize_t size


cdef extern from *:
    """
    #include <fcntl.h>
    #include <unistd.h>
    #ifdef O_TMPFILE
    #define SS_O_TMPFILE O_TMPFILE
    #else
    #define SS_O_TMPFILE 0
    #endif
    #ifndef AT_SYMLINK_FOLLOW
    #define AT_SYMLINK_FOLLOW 0x400
    #endif
    """
    int SS_O_TMPFILE
    int AT_FDCWD
    int AT_SYMLINK_FOLLOW
    int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags) nogil


cdef int _write_all(int fd, const char *data, Py_ssize_t size) noexcept nogil:
    cdef ssize_t done
    while size > 0:
        done = write(fd, data, size)
        if done < 0:
            return errno
        data += done
        size -= done
    return 0


cdef int _write_unnamed(const char *target, const char *tmp, const char *data,
                        Py_ssize_t size, int mode) noexcept nogil:
    """Write an unnamed file in the target's directory and link it in once complete.

    ``O_TMPFILE`` + ``linkat`` gives the atomicity of write-then-rename for the price of a
    plain create: the name appears only when the content is whole. Returns 0, an errno,
    or -1 when the filesystem or platform cannot do it (the caller then renames).
    """
    cdef char dirpath[PATH_MAX_LEN]
    cdef char procpath[64]
    cdef Py_ssize_t cut = -1, i = 0
    cdef int fd, err
    if SS_O_TMPFILE == 0:
        return -1
    while target[i] != 0 and i < PATH_MAX_LEN - 1:
        dirpath[i] = target[i]
        if target[i] == b'/':
            cut = i
        i += 1
    if cut <= 0:
        return -1
    dirpath[cut] = 0
    fd = open(dirpath, SS_O_TMPFILE | O_WRONLY | O_CLOEXEC, mode)
    if fd < 0:
        return -1  # EOPNOTSUPP/EISDIR/EINVAL on filesystems without O_TMPFILE
    err = _write_all(fd, data, size)
    if err:
        close(fd)
        return err
    snprintf(procpath, 64, "/proc/self/fd/%d", fd)
    if linkat(AT_FDCWD, procpath, AT_FDCWD, target, AT_SYMLINK_FOLLOW) == 0:
        close(fd)
        return 0
    err = errno
    if err == EEXIST:
        # overwriting: link under the temporary name, then rename over the target
        remove(tmp)
        if linkat(AT_FDCWD, procpath, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0:
            close(fd)
            if rename(tmp, target) != 0:
                err = errno
                remove(tmp)
                return err
            return 0
        err = errno
    close(fd)
    return -1 if err == ENOENT else err  # no /proc: fall back


cdef int _write_atomic(const char *target, const char *tmp, const char *data,
                       Py_ssize_t size, int mode) noexcept nogil:
    """Write ``data`` so that ``target`` is never seen half-written; returns 0 or an errno."""
    cdef int err = _write_unnamed(target, tmp, data, size, mode)
    if err >= 0:
        return err
    cdef int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    if fd < 0:
        return errno
    err = _write_all(fd, data, size)
    if err:
        close(fd)
        remove(tmp)
        return err
    if close(fd) != 0:
        err = errno
        remove(tmp)
        return err
    if rename(tmp, target) != 0:
        err = errno
        remove(tmp)
        return err
    return 0


@cython.boundscheck(False)
@cython.wraparound(False)
def render_members(list templates, list out_names, list member_dirs,
                   const int32_t[:, ::1] index, list slot_columns, list value_table,
                   list subdirs=None, list extra_contents=None, bytes extra_name=None,
                   bint make_dirs=True):
    """Render every template for every member and write the files atomically.

    templates     -- CompiledTemplate objects
    out_names     -- bytes path of each template's output, relative to a member directory
    member_dirs   -- bytes directory of each member (must exist)
    index         -- (members x columns) positions into ``value_table``
    slot_columns  -- per template, the index column feeding each slot (list of ints)
    value_table   -- per column, the encoded values (list of bytes)
    subdirs       -- relative bytes directories to create in each member dir first
    extra_contents -- optional per-member bytes written verbatim to ``extra_name``
    make_dirs     -- create each member directory first (an existing one is fine)
    """
    cdef Py_ssize_t n_members = len(member_dirs)
    cdef Py_ssize_t n_templates = len(templates)
    cdef Py_ssize_t n_cols = len(value_table)
    cdef Py_ssize_t t, s, m, c, total, n_slots, n_sub = 0
    cdef Py_ssize_t n_chunks = 0, n_values = 0, n_all_slots = 0
    cdef CompiledTemplate tpl
    if index.shape[0] != n_members:
        raise ValueError(f"index has {index.shape[0]} rows for {n_members} member directories")
    if index.shape[1] != n_cols:
        raise ValueError(f"index has {index.shape[1]} columns for {n_cols} value lists")
    if len(out_names) != n_templates or len(slot_columns) != n_templates:
        raise ValueError("templates, out_names and slot_columns must have the same length")
    subdirs = subdirs or []
    n_sub = len(subdirs)
    for t in range(n_templates):
        tpl = templates[t]
        n_all_slots += len(tpl.slots)
    for c in range(n_cols):
        n_values += len(value_table[c])

    # Flat C views of everything the loop touches; the Python lists keep the bytes alive.
    cdef Chunk *lits = <Chunk *>malloc((n_all_slots + n_templates) * sizeof(Chunk))
    cdef Py_ssize_t *tpl_first = <Py_ssize_t *>malloc((n_templates + 1) * sizeof(Py_ssize_t))
    cdef Py_ssize_t *slot_col = <Py_ssize_t *>malloc((n_all_slots + 1) * sizeof(Py_ssize_t))
    cdef Chunk *vals = <Chunk *>malloc((n_values + 1) * sizeof(Chunk))
    cdef Py_ssize_t *col_first = <Py_ssize_t *>malloc((n_cols + 1) * sizeof(Py_ssize_t))
    cdef Py_ssize_t *col_size = <Py_ssize_t *>malloc((n_cols + 1) * sizeof(Py_ssize_t))
    cdef const char **dirs = <const char **>malloc((n_members + 1) * sizeof(char *))
    cdef const char **names = <const char **>malloc((n_templates + 1) * sizeof(char *))
    cdef const char **subs = <const char **>malloc((n_sub + 1) * sizeof(char *))
    cdef int *modes = <int *>malloc((n_templates + 1) * sizeof(int))
    cdef bint has_extra = extra_contents is not None
    cdef Chunk *extras = <Chunk *>malloc((n_members + 1) * sizeof(Chunk))
    cdef const char *extra_c = NULL
    if has_extra:
        if extra_name is None or len(extra_contents) != n_members:
            free(extras)
            raise ValueError("extra_contents needs extra_name and one entry per member")
        extra_c = PyBytes_AS_STRING(extra_name)
    cdef char *out = NULL
    cdef Py_ssize_t out_cap = 0
    cdef char target[PATH_MAX_LEN]
    cdef char tmp[PATH_MAX_LEN]
    cdef int err = 0, vi
    cdef Py_ssize_t bad_member = -1, bad_template = -1, k, base
    cdef bint bad_index = False
    try:
        if not (lits and tpl_first and slot_col and vals and col_first and col_size
                and dirs and names and subs and modes and extras):
            raise MemoryError()
        k = 0
        s = 0
        for t in range(n_templates):
            tpl = templates[t]
            tpl_first[t] = k
            names[t] = PyBytes_AS_STRING(out_names[t])
            modes[t] = tpl.mode
            cols = slot_columns[t]
            if len(cols) != len(tpl.slots):
                raise ValueError(f"template {tpl.path}: {len(tpl.slots)} slots, {len(cols)} columns")
            for lit in tpl.literals:
                lits[k].ptr = PyBytes_AS_STRING(lit)
                lits[k].size = PyBytes_GET_SIZE(lit)
                k += 1
            for col in cols:
                if not 0 <= col < n_cols:
                    raise ValueError(f"template {tpl.path}: column {col} out of range")
                slot_col[s] = col
                s += 1
        tpl_first[n_templates] = k
        k = 0
        for c in range(n_cols):
            col_first[c] = k
            col_size[c] = len(value_table[c])
            for v in value_table[c]:
                vals[k].ptr = PyBytes_AS_STRING(v)
                vals[k].size = PyBytes_GET_SIZE(v)
                k += 1
        for m in range(n_members):
            dirs[m] = PyBytes_AS_STRING(member_dirs[m])
            if has_extra:
                extras[m].ptr = PyBytes_AS_STRING(extra_contents[m])
                extras[m].size = PyBytes_GET_SIZE(extra_contents[m])
        for s in range(n_sub):
            subs[s] = PyBytes_AS_STRING(subdirs[s])

        with nogil:
            for m in range(n_members):
                if make_dirs and mkdir(dirs[m], 0o777) != 0 and errno != EEXIST:
                    err = errno
                    bad_member = m
                    break
                for s in range(n_sub):
                    snprintf(target, PATH_MAX_LEN, "%s/%s", dirs[m], subs[s])
                    if mkdir(target, 0o777) != 0 and errno != EEXIST:
                        err = errno
                        bad_member = m
                        break
                if err:
                    break
                base = 0  # running slot offset across templates
                for t in range(n_templates):
                    n_slots = tpl_first[t + 1] - tpl_first[t] - 1
                    total = 0
                    for s in range(n_slots + 1):
                        total += lits[tpl_first[t] + s].size
                    for s in range(n_slots):
                        c = slot_col[base + s]
                        vi = index[m, c]
                        if vi < 0 or vi >= col_size[c]:
                            bad_index = True
                            break
                        total += vals[col_first[c] + vi].size
                    if bad_index:
                        bad_member = m
                        break
                    if total > out_cap:
                        out_cap = total * 2 + 64
                        out = <char *>realloc(out, out_cap)
                        if out == NULL:
                            err = 12  # ENOMEM
                            bad_member = m
                            break
                    total = 0
                    for s in range(n_slots):
                        memcpy(out + total, lits[tpl_first[t] + s].ptr, lits[tpl_first[t] + s].size)
                        total += lits[tpl_first[t] + s].size
                        c = slot_col[base + s]
                        vi = index[m, c]
                        memcpy(out + total, vals[col_first[c] + vi].ptr, vals[col_first[c] + vi].size)
                        total += vals[col_first[c] + vi].size
                    memcpy(out + total, lits[tpl_first[t] + n_slots].ptr, lits[tpl_first[t] + n_slots].size)
                    total += lits[tpl_first[t] + n_slots].size
                    base += n_slots
                    if snprintf(target, PATH_MAX_LEN, "%s/%s", dirs[m], names[t]) >= PATH_MAX_LEN:
                        err = 36  # ENAMETOOLONG
                    elif snprintf(tmp, PATH_MAX_LEN, "%s.ssgen-tmp", target) >= PATH_MAX_LEN:
                        err = 36
                    else:
                        err = _write_atomic(target, tmp, out, total, modes[t])
                    if err:
                        bad_member = m
                        bad_template = t
                        break
                if err or bad_index:
                    break
                if has_extra:
                    if snprintf(target, PATH_MAX_LEN, "%s/%s", dirs[m], extra_c) >= PATH_MAX_LEN:
                        err = 36
                    elif snprintf(tmp, PATH_MAX_LEN, "%s.ssgen-tmp", target) >= PATH_MAX_LEN:
                        err = 36
                    else:
                        err = _write_atomic(target, tmp, extras[m].ptr, extras[m].size, 0o666)
                    if err:
                        bad_member = m
                        break
        if bad_index:
            raise IndexError(f"member {bad_member}: parameter index out of range")
        if err:
            path = member_dirs[bad_member]
            if bad_template >= 0:
                path = os.path.join(path, out_names[bad_template])
            raise OSError(err, os.strerror(err), os.fsdecode(path))
    finally:
        free(lits); free(tpl_first); free(slot_col); free(vals); free(col_first)
        free(col_size); free(dirs); free(names); free(subs); free(modes); free(out)
        free(extras)
    return n_members * n_templates
