# cython: language_level=3
"""Redis Cluster slot hashing (CRC16-XMODEM, hash tags) and the shard tags SmartRedis uses.

``slot(key)`` follows the Redis Cluster spec: the CRC is taken over the hash tag (the text
between the first ``{`` and the first ``}`` after it, when non-empty) or else the whole key,
modulo 16384.  ``slots(keys)`` does the same for a list of keys in one call.

``shard_tag(slot)`` is the short string SmartRedis 0.6.1 uses to address a shard: an
inverse CRC16 computation that yields bytes whose CRC is the requested slot, avoiding
``{`` and ``}``.  Models and scripts live on every shard under ``{<tag>}.<key>``; the same
tags are needed to find models stored by the SmartRedis clients.
"""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport uint16_t, uint64_t

import numpy as np
cimport numpy as cnp

cnp.import_array()

cdef uint16_t _TABLE[256]


cdef void _init_table():
    cdef int i, j
    cdef uint16_t c
    for i in range(256):
        c = <uint16_t>(i << 8)
        for j in range(8):
            if c & 0x8000:
                c = <uint16_t>((c << 1) ^ 0x1021)
            else:
                c = <uint16_t>(c << 1)
        _TABLE[i] = c


_init_table()


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline uint16_t crc16_raw(const unsigned char* buf, Py_ssize_t n) noexcept nogil:
    cdef uint16_t crc = 0
    cdef Py_ssize_t i
    for i in range(n):
        crc = <uint16_t>((crc << 8) ^ _TABLE[((crc >> 8) ^ buf[i]) & 0xFF])
    return crc


cdef inline uint16_t key_slot_raw(const unsigned char* buf, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t s = -1, e, i
    for i in range(n):
        if buf[i] == b'{':
            s = i
            break
    if s >= 0:
        for e in range(s + 1, n):
            if buf[e] == b'}':
                if e > s + 1:
                    return crc16_raw(buf + s + 1, e - s - 1) & 16383
                break
    return crc16_raw(buf, n) & 16383


def crc16(bytes data):
    """CRC16-XMODEM of ``data`` (the Redis Cluster polynomial)."""
    return crc16_raw(<const unsigned char*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


def slot(bytes key):
    """The cluster hash slot of ``key`` (hash tags honoured)."""
    return key_slot_raw(<const unsigned char*>PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key))


@cython.boundscheck(False)
@cython.wraparound(False)
def slots(list keys):
    """Hash slots of a list of ``bytes`` keys, as a uint16 numpy array."""
    cdef Py_ssize_t n = len(keys), i
    cdef cnp.ndarray[cnp.uint16_t, ndim=1] out = np.empty(n, dtype=np.uint16)
    cdef bytes k
    for i in range(n):
        k = <bytes>keys[i]
        out[i] = key_slot_raw(<const unsigned char*>PyBytes_AS_STRING(k), PyBytes_GET_SIZE(k))
    return out


@cython.boundscheck(False)
@cython.wraparound(False)
def node_index(cnp.ndarray slot_array, cnp.ndarray lower_bounds):
    """For each slot, the index of the node whose range starts at or below it.

    ``lower_bounds`` holds the first slot of each node, sorted ascending (int64)."""
    return np.searchsorted(lower_bounds, slot_array.astype(np.int64), side="right") - 1


cdef void _xor_shift(uint64_t* rem, int initial_shift, int n_bits) noexcept:
    cdef uint64_t digit = (<uint64_t>1) << initial_shift
    cdef uint64_t poly = (<uint64_t>69665) << initial_shift
    cdef int i
    for i in range(n_bits):
        if rem[0] & digit:
            rem[0] ^= poly
        digit <<= 1
        poly <<= 1


cdef bint _valid(uint64_t bits, int n_chars) noexcept:
    cdef int i
    cdef unsigned char c
    bits >>= 16
    for i in range(n_chars):
        c = bits & 0xFF
        if c == b'{' or c == b'}':
            return False
        bits >>= 8
    return True


def shard_tag(int hash_slot):
    """Bytes whose cluster slot is ``hash_slot``, as SmartRedis computes them (inverse CRC)."""
    if hash_slot < 0 or hash_slot > 16384:
        raise ValueError(f"hash slot {hash_slot} is outside 0..16384")
    cdef uint64_t rem = <uint64_t>hash_slot
    cdef int bit_shifts = 16, n_chars = 2, i
    _xor_shift(&rem, 0, bit_shifts)
    while not _valid(rem, n_chars):
        if bit_shifts > 24:
            raise RuntimeError(f"no shard tag found for hash slot {hash_slot}")
        _xor_shift(&rem, bit_shifts, 1)
        bit_shifts += 1
        n_chars = (bit_shifts + 7) // 8
    out = bytearray(n_chars)
    rem >>= 16
    for i in range(n_chars - 1, -1, -1):
        out[i] = rem & 0xFF
        rem >>= 8
    return bytes(out)
