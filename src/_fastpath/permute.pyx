# cython: language_level=3
"""Parameter expansion in index space.

An ensemble member is a row of an index matrix (members x params): entry ``[i, j]`` is the
position of member ``i``'s value in parameter ``j``'s value list. Nothing here builds a
Python object per member, so a million-member ensemble costs one small numpy array.
"""
import numpy as np

cimport cython
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t

cnp.import_array()

INDEX_DTYPE = np.int32


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


@cython.boundscheck(False)
@cython.wraparound(False)
cdef void _decode_row(int64_t flat, const int64_t[:] sizes, int32_t[:, ::1] idx,
                      Py_ssize_t row) noexcept nogil:
    cdef Py_ssize_t j = sizes.shape[0] - 1
    while j >= 0:
        idx[row, j] = <int32_t>(flat % sizes[j])
        flat = flat // sizes[j]
        j -= 1


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
