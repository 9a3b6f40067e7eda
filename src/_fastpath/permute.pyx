# cython: language_level=3
"""Parameter expansion in index space.

An ensemble member is a row of an index table (members x params): entry ``[i, j]`` is the
position of member ``i``'s value in parameter ``j``'s value list. Nothing here builds a
Python object per member. ``all_perm`` members are never stored at all: ``ProductIndex``
decodes a member's row from its position (mixed radix), so a 10^9-member ensemble costs a
few hundred bytes; the other strategies return a (members x params) int32 matrix.
"""
import numpy as np

cimport cython
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t

cnp.import_array()

INDEX_DTYPE = np.int32


MAX_MEMBERS = 2**63 - 1


def product_size(sizes):
    """Number of combinations of the Cartesian product (a Python int: it may exceed 2**63)."""
    total = 1
    for s in sizes:
        total *= int(s)
    return total


@cython.boundscheck(False)
@cython.wraparound(False)
def expand_all(const int64_t[:] sizes):
    """Cartesian product in ``itertools.product`` order: last parameter varies fastest."""
    cdef Py_ssize_t k = sizes.shape[0]
    total = product_size(sizes)
    if total > 2**31 - 1:
        raise OverflowError(f"all_perm would make {total} members; at most {2**31 - 1} are supported")
    cdef Py_ssize_t n = total if k else 0
    out = np.empty((n, k), dtype=INDEX_DTYPE)
    cdef int32_t[:, ::1] idx = out
    cdef int32_t[::1] odometer = np.zeros(k, dtype=INDEX_DTYPE)
    cdef Py_ssize_t i, j
    with nogil:
        for i in range(n):
            for j in range(k):
                idx[i, j] = odometer[j]
            # advance the odometer from the last digit
            j = k - 1
            while j >= 0:
                odometer[j] += 1
                if odometer[j] < sizes[j]:
                    break
                odometer[j] = 0
                j -= 1
    return out


@cython.boundscheck(False)
@cython.wraparound(False)
cdef void _decode_row(int64_t flat, const int64_t[:] sizes, int32_t[:, ::1] idx,
                      Py_ssize_t row) noexcept nogil:
    cdef Py_ssize_t j = sizes.shape[0] - 1
    while j >= 0:
        idx[row, j] = <int32_t>(flat % sizes[j])
        flat = flat // sizes[j]
        j -= 1


@cython.boundscheck(False)
@cython.wraparound(False)
cdef void _decode_positions(const int64_t[::1] positions, int64_t replicas, const int64_t[:] sizes,
                            int32_t[:, ::1] idx) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(positions.shape[0]):
        _decode_row(positions[i] // replicas, sizes, idx, i)


cdef class ProductIndex:
    """The index table of a Cartesian product, each row repeated ``replicas`` times, that
    is never built: a row is decoded from its position when asked for.

    Reads like the (rows x params) int32 matrix it stands for -- ``len``, ``shape``,
    ``idx[i]``, ``idx[a:b]``, ``idx[positions]``, ``idx[rows, cols]``, ``np.asarray(idx)`` --
    so code written against the matrix of the other strategies works unchanged, while
    creating, counting and looking up members of a 10^9-member ensemble costs no memory.
    Row order is ``itertools.product`` order (last parameter fastest), replicas adjacent.
    """

    cdef readonly object sizes
    cdef readonly Py_ssize_t replicas
    cdef readonly Py_ssize_t n_rows
    cdef const int64_t[::1] _sizes

    def __init__(self, sizes, Py_ssize_t replicas=1):
        sizes = np.array(sizes, dtype=np.int64).reshape(-1)
        if replicas < 1:
            raise ValueError(f"replicas must be >= 1, got {replicas}")
        if (sizes < 1).any():
            raise ValueError(f"every parameter needs at least one value; value counts {sizes.tolist()}")
        total = product_size(sizes) * replicas if len(sizes) else 0
        if total > MAX_MEMBERS:
            raise OverflowError(
                f"all_perm would make {total} members; at most {MAX_MEMBERS} are supported")
        sizes.setflags(write=False)
        self.sizes = sizes
        self._sizes = np.ascontiguousarray(sizes)
        self.replicas = replicas
        self.n_rows = total

    @property
    def shape(self):
        return (self.n_rows, self._sizes.shape[0])

    @property
    def ndim(self):
        return 2

    @property
    def dtype(self):
        return np.dtype(INDEX_DTYPE)

    @property
    def size(self):
        return self.n_rows * self._sizes.shape[0]

    def __len__(self):
        return self.n_rows

    def __reduce__(self):
        return (ProductIndex, (self.sizes, self.replicas))

    def rows(self, positions):
        """Rows at ``positions`` (int64 array-like, already within ``0 <= p < len``)."""
        pos = np.ascontiguousarray(positions, dtype=np.int64).reshape(-1)
        out = np.empty((pos.shape[0], self._sizes.shape[0]), dtype=INDEX_DTYPE)
        cdef const int64_t[::1] pos_view = pos
        cdef int32_t[:, ::1] idx = out
        cdef int64_t replicas = self.replicas
        with nogil:
            _decode_positions(pos_view, replicas, self._sizes, idx)
        return out

    def _positions(self, key):
        n = self.n_rows
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            return np.arange(start, stop, step, dtype=np.int64)
        pos = np.asarray(key)
        if pos.dtype == np.bool_:
            if pos.shape != (n,):
                raise IndexError(f"boolean index of shape {pos.shape} does not match {n} rows")
            return np.flatnonzero(pos).astype(np.int64)
        if pos.dtype.kind not in "iu":
            raise IndexError(f"rows are selected by int, slice, int array or bool mask, got {key!r}")
        pos = pos.astype(np.int64).reshape(-1)
        pos = np.where(pos < 0, pos + n, pos)
        if pos.size and (pos.min() < 0 or pos.max() >= n):
            bad = pos[(pos < 0) | (pos >= n)][0]
            raise IndexError(f"row {bad} out of range for {n} rows")
        return pos

    def __getitem__(self, key):
        if isinstance(key, tuple):
            if len(key) != 2:
                raise IndexError(f"an index table has 2 dimensions, got the index {key!r}")
            return self[key[0]][:, key[1]] if not _is_scalar(key[0]) else self[key[0]][key[1]]
        if _is_scalar(key):
            i = int(key)
            if i < 0:
                i += self.n_rows
            if not 0 <= i < self.n_rows:
                raise IndexError(f"row {key} out of range for {self.n_rows} rows")
            return self.rows((i,))[0]
        return self.rows(self._positions(key))

    def __array__(self, dtype=None, copy=None):
        if self.n_rows > 2**31 - 1:
            raise MemoryError(
                f"refusing to build the {self.n_rows} x {self._sizes.shape[0]} index matrix of a "
                "product this large; read rows by position instead")
        out = repeat_rows(expand_all(self.sizes), self.replicas)
        return out if dtype is None else out.astype(dtype, copy=False)

    def tolist(self):
        return np.asarray(self).tolist()

    def __repr__(self):
        return f"ProductIndex(sizes={self.sizes.tolist()}, replicas={self.replicas})"


def _is_scalar(key):
    return isinstance(key, (int, np.integer)) and not isinstance(key, bool)


@cython.boundscheck(False)
@cython.wraparound(False)
def expand_step(Py_ssize_t n_members, Py_ssize_t n_params):
    """Index-wise zip: member ``i`` takes value ``i`` of every parameter."""
    out = np.empty((n_members, n_params), dtype=INDEX_DTYPE)
    cdef int32_t[:, ::1] idx = out
    cdef Py_ssize_t i, j
    with nogil:
        for i in range(n_members):
            for j in range(n_params):
                idx[i, j] = <int32_t>i
    return out


def decode_flat(flat_indices, const int64_t[:] sizes):
    """Rows of the product for flat positions (mixed-radix decoding, product order)."""
    cdef Py_ssize_t k = sizes.shape[0]
    cdef Py_ssize_t n = len(flat_indices)
    out = np.empty((n, k), dtype=INDEX_DTYPE)
    cdef int32_t[:, ::1] idx = out
    cdef Py_ssize_t i, j
    cdef int64_t[::1] flat64
    if product_size(sizes) <= 2**63 - 1:
        flat64 = np.asarray(flat_indices, dtype=np.int64)
        with nogil:
            for i in range(n):
                _decode_row(flat64[i], sizes, idx, i)
    else:
        # products beyond int64: decode with Python integers
        for i, flat in enumerate(flat_indices):
            for j in range(k - 1, -1, -1):
                flat, idx[i, j] = divmod(flat, int(sizes[j]))
    return out


def sample_without_replacement(sizes, Py_ssize_t n_samples, rng):
    """``n_samples`` distinct rows of the product, drawn by ``rng`` (a ``random.Random``).

    ``random.sample`` over a ``range`` picks positions without materialising the product,
    so the cost is O(n_samples) whatever the product size.
    """
    sizes64 = np.asarray(sizes, dtype=np.int64)
    total = product_size(sizes64)
    if total <= 2**62:
        flat = rng.sample(range(total), n_samples)
    else:
        # len(range) overflows here; with n_samples < 2**31 a rejection loop is cheap
        seen = set()
        flat = []
        while len(flat) < n_samples:
            pick = rng.randrange(total)
            if pick not in seen:
                seen.add(pick)
                flat.append(pick)
    return decode_flat(flat, sizes64)


def repeat_rows(index, Py_ssize_t replicas):
    """Each row ``replicas`` times in a row (combination-major member order)."""
    if replicas == 1:
        return index
    return np.repeat(index, replicas, axis=0)
