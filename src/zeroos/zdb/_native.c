/* zero-db's hot paths in C: a SET's data entry, index record and chain leaf; a GET's value;
 * the scans that open a namespace; the framing walk that reads every request's headers.
 *
 * Every SET and DEL costs three SHA-256 calls (the value, the leaf, a share of the node
 * hashes). Through hashlib each call costs about 0.45 us on Python 3.11 with OpenSSL 3,
 * whatever the input size: an EVP context, a provider lookup and two Python objects. Here a
 * call is one pass over a reused context. Encoding an entry and its index record costs about
 * 1.5 us in Python (two struct packs, concatenations, two CRCs, two slice copies) and a tenth
 * of that here. chain/native.py and embedded/codec.py keep the same code in Python: it runs
 * when this module is not built, and tests/zdb/test_native.py checks both give the same
 * bytes. The layouts are embedded/format.py's, chain/leaf.py's and chain/log.py's; this file
 * adds none of its own. Like 0-db, it supports little-endian machines only: elsewhere the
 * build stops here and the Python code runs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "zeroos.zdb._native needs a little-endian machine"
#endif

#define HASH 32
/* embedded/format.py's layouts (tests/zdb/test_contracts.py checks the module's constants
 * against it): a data entry's header, an index record's header and its u16 trailer */
#define DATA_HEADER_SIZE 26
#define INDEX_HEADER_SIZE 22
#define INDEX_OVERHEAD (INDEX_HEADER_SIZE + 2)
#define FLAG_DELETED 0x01
/* chain/leaf.py's: a leaf's version byte and the operations of data leaves */
#define LEAF_VERSION 1
#define OP_SET 1
#define OP_DEL 2

static EVP_MD *sha256_md;
static EVP_MD_CTX *sha256_ctx; /* used with the GIL held only: one context is enough */

static int
digest(const unsigned char *prefix, size_t plen, const unsigned char *data, size_t len,
       unsigned char out[HASH])
{
    unsigned int outlen = HASH;
    if (EVP_DigestInit_ex(sha256_ctx, sha256_md, NULL) != 1 ||
        (plen && EVP_DigestUpdate(sha256_ctx, prefix, plen) != 1) ||
        EVP_DigestUpdate(sha256_ctx, data, len) != 1 ||
        EVP_DigestFinal_ex(sha256_ctx, out, &outlen) != 1) {
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL SHA-256 failed");
        return -1;
    }
    return 0;
}

/* -- CRC32C (Castagnoli), as the crc32c package computes it ------------------------------- */
static uint32_t crc_table[8][256];
static int crc_hw;

static void
crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t
crc_sw(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc;
        crc = crc_table[7][w & 0xFF] ^ crc_table[6][(w >> 8) & 0xFF] ^
              crc_table[5][(w >> 16) & 0xFF] ^ crc_table[4][(w >> 24) & 0xFF] ^
              crc_table[3][(w >> 32) & 0xFF] ^ crc_table[2][(w >> 40) & 0xFF] ^
              crc_table[1][(w >> 48) & 0xFF] ^ crc_table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xFF];
    return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc_sse42(uint32_t crc, const unsigned char *p, size_t n)
{
    uint64_t c = ~crc & 0xFFFFFFFFu;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}
#endif

static uint32_t
crc32c(uint32_t crc, const unsigned char *p, size_t n)
{
#if defined(__x86_64__)
    if (crc_hw)
        return crc_sse42(crc, p, n);
#endif
    return crc_sw(crc, p, n);
}

/* -- Python functions ---------------------------------------------------------------------- */
static PyObject *
py_sha256(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    unsigned char out[HASH];
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    int rc = digest(NULL, 0, view.buf, (size_t)view.len, out);
    PyBuffer_Release(&view);
    return rc < 0 ? NULL : PyBytes_FromStringAndSize((const char *)out, HASH);
}

static PyObject *
py_crc32c(PyObject *self, PyObject *args)
{
    Py_buffer view;
    unsigned int crc = 0;
    int portable = 0; /* the table code that machines without SSE4.2 run: for the tests */
    if (!PyArg_ParseTuple(args, "y*|Ip", &view, &crc, &portable))
        return NULL;
    uint32_t out = portable ? crc_sw(crc, view.buf, (size_t)view.len)
                            : crc32c(crc, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(out);
}

/* merkle.packed_root: hash pairs of 32-byte nodes (the last slice may be shorter) until one
 * node is left. */
static PyObject *
py_packed_root(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    static const unsigned char node_prefix = 0x01;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t len = view.len;
    if (len <= HASH) {
        PyObject *same = PyBytes_FromStringAndSize(view.buf, len);
        PyBuffer_Release(&view);
        return same;
    }
    unsigned char *work = PyMem_Malloc((size_t)len);
    if (work == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    memcpy(work, view.buf, (size_t)len);
    PyBuffer_Release(&view);
    while (len > HASH) {
        Py_ssize_t out = 0;
        for (Py_ssize_t i = 0; i < len; i += 2 * HASH, out += HASH) {
            Py_ssize_t n = len - i < 2 * HASH ? len - i : 2 * HASH;
            unsigned char node[HASH];
            if (digest(&node_prefix, 1, work + i, (size_t)n, node) < 0) {
                PyMem_Free(work);
                return NULL;
            }
            memcpy(work + out, node, HASH);
        }
        len = out;
    }
    PyObject *root = PyBytes_FromStringAndSize((const char *)work, len);
    PyMem_Free(work);
    return root;
}

static int
grow(unsigned char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t cap2 = *cap * 2 > need ? *cap * 2 : need;
    unsigned char *b = PyMem_Realloc(*buf, cap2);
    if (b == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *buf = b;
    *cap = cap2;
    return 0;
}

static void
put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xFF);
        v >>= 8;
    }
}

/* leaf_records(pending, first, ns, mark_mask) -> (records, hashes, marks)
 *
 * pending: [(flags, key, value, timestamp_us)] of SET (flags 0) and DEL (flags & 1) leaves,
 * numbered from first; with flags & 2 the value is already its SHA-256 (leaves rebuilt from
 * the data); ns: the namespace with its length byte in front. records: the leaves
 * file records (u32le crc32c | u16le length | leaf); hashes: the leaf hashes back to back;
 * marks: the offsets in records of the leaves whose number & mark_mask is 0.
 */
static PyObject *
py_leaf_records(PyObject *self, PyObject *args)
{
    PyObject *pending, *marks = NULL, *result = NULL;
    unsigned long long first, mark_mask;
    Py_buffer ns;
    unsigned char *rec = NULL, *hashes = NULL;
    size_t rcap = 0, rlen = 0;
    static const unsigned char leaf_prefix = 0x00;

    if (!PyArg_ParseTuple(args, "O!Ky*K", &PyList_Type, &pending, &first, &ns, &mark_mask))
        return NULL;
    Py_ssize_t count = PyList_GET_SIZE(pending);
    if (ns.len < 1 || ns.len > 256) {
        PyErr_SetString(PyExc_ValueError, "namespace prefix must be 1 to 256 bytes");
        goto done;
    }
    hashes = PyMem_Malloc((size_t)(count ? count : 1) * HASH);
    marks = PyList_New(0);
    if (hashes == NULL || marks == NULL) {
        if (hashes == NULL)
            PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyList_GET_ITEM(pending, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 4) {
            PyErr_SetString(PyExc_TypeError, "pending leaf must be (flags, key, value, ts)");
            goto done;
        }
        long flags = PyLong_AsLong(PyTuple_GET_ITEM(item, 0));
        unsigned long long ts = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(item, 3));
        if (PyErr_Occurred())
            goto done;
        PyObject *key = PyTuple_GET_ITEM(item, 1), *value = PyTuple_GET_ITEM(item, 2);
        if (!PyBytes_Check(key) || PyBytes_GET_SIZE(key) > 255) {
            PyErr_SetString(PyExc_ValueError, "key must be bytes of at most 255");
            goto done;
        }
        Py_buffer val;
        if (PyObject_GetBuffer(value, &val, PyBUF_SIMPLE) < 0)
            goto done;
        unsigned char vhash[HASH];
        int rc = 0;
        if (!(flags & 2))
            rc = digest(NULL, 0, val.buf, (size_t)val.len, vhash);
        else if (val.len == HASH)
            memcpy(vhash, val.buf, HASH);
        else {
            PyErr_SetString(PyExc_ValueError, "a value hash must be 32 bytes");
            rc = -1;
        }
        PyBuffer_Release(&val);
        if (rc < 0)
            goto done;

        size_t keylen = (size_t)PyBytes_GET_SIZE(key);
        size_t leaflen = 18 + (size_t)ns.len + 1 + keylen + HASH + 2;
        uint64_t n = first + (uint64_t)i;
        if (grow(&rec, &rcap, rlen + 6 + leaflen) < 0)
            goto done;
        if ((n & mark_mask) == 0) {
            PyObject *off = PyLong_FromSize_t(rlen);
            if (off == NULL || PyList_Append(marks, off) < 0) {
                Py_XDECREF(off);
                goto done;
            }
            Py_DECREF(off);
        }
        unsigned char *body = rec + rlen + 4, *leaf = body + 2, *p = leaf;
        body[0] = (unsigned char)(leaflen & 0xFF);
        body[1] = (unsigned char)(leaflen >> 8);
        *p++ = LEAF_VERSION;
        *p++ = flags & FLAG_DELETED ? OP_DEL : OP_SET;
        put_be64(p, n);
        put_be64(p + 8, ts);
        p += 16;
        memcpy(p, ns.buf, (size_t)ns.len);
        p += ns.len;
        *p++ = (unsigned char)keylen;
        memcpy(p, PyBytes_AS_STRING(key), keylen);
        p += keylen;
        memcpy(p, vhash, HASH);
        p += HASH;
        *p++ = 0; /* no extra */
        *p++ = 0;
        uint32_t crc = crc32c(0, body, 2 + leaflen);
        unsigned char *c = rec + rlen;
        c[0] = crc & 0xFF;
        c[1] = (crc >> 8) & 0xFF;
        c[2] = (crc >> 16) & 0xFF;
        c[3] = crc >> 24;
        if (digest(&leaf_prefix, 1, leaf, leaflen, hashes + (size_t)i * HASH) < 0)
            goto done;
        rlen += 6 + leaflen;
    }
    {
        PyObject *r = PyBytes_FromStringAndSize((const char *)rec, (Py_ssize_t)rlen);
        PyObject *h = PyBytes_FromStringAndSize((const char *)hashes, count * HASH);
        if (r != NULL && h != NULL)
            result = PyTuple_Pack(3, r, h, marks);
        Py_XDECREF(r);
        Py_XDECREF(h);
    }
done:
    PyBuffer_Release(&ns);
    PyMem_Free(rec);
    PyMem_Free(hashes);
    Py_XDECREF(marks);
    return result;
}

static void
put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (unsigned char)(v & 0xFF);
        v >>= 8;
    }
}

/* write_entry(dmap, dpos, imap, ipos, flags, key, value, timestamp_us, prev) -> None
 *
 * Writes a data entry at dpos of dmap and its index record at ipos of imap (both writable
 * buffers with room for them: embedded/codec.py grows the files first):
 *   crc32c u32 | flags u8 | keylen u8 | vallen u32 | timestamp_us u64 | prev u64 | key | value
 *   crc32c u32 | flags u8 | keylen u8 | offset u32 | entrylen u32 | timestamp_us u64 | key
 *     | reclen u16
 * Nothing is written unless every argument is valid.
 */
static PyObject *
py_write_entry(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t dpos, ipos;
    long flags;
    Py_buffer key = {0}, value = {0}, dmap = {0}, imap = {0};
    unsigned long long ts, prev;
    PyObject *result = NULL;

    /* METH_FASTCALL, parsed by hand: PyArg_ParseTuple's format walk cost as much as the rest */
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "write_entry takes 9 arguments");
        return NULL;
    }
    dpos = PyLong_AsSsize_t(args[1]);
    ipos = PyLong_AsSsize_t(args[3]);
    flags = PyLong_AsLong(args[4]);
    ts = PyLong_AsUnsignedLongLong(args[7]);
    prev = PyLong_AsUnsignedLongLong(args[8]);
    if (PyErr_Occurred())
        return NULL;
    if (PyObject_GetBuffer(args[5], &key, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[6], &value, PyBUF_SIMPLE) < 0)
        goto done;
    size_t keylen = (size_t)key.len, vallen = (size_t)value.len;
    size_t entrylen = DATA_HEADER_SIZE + keylen + vallen, reclen = INDEX_OVERHEAD + keylen;
    if (keylen > 255 || vallen > 0xFFFFFFFFu - DATA_HEADER_SIZE - 255 || flags < 0 ||
        flags > 255) {
        PyErr_SetString(PyExc_ValueError, "key over 255 bytes, value over 4 GiB or bad flags");
        goto done;
    }
    if (dpos < 0 || ipos < 0 || (uint64_t)dpos > 0xFFFFFFFFu) {
        PyErr_SetString(PyExc_ValueError, "offset out of range");
        goto done;
    }
    if (PyObject_GetBuffer(args[0], &dmap, PyBUF_WRITABLE) < 0)
        goto done;
    if (PyObject_GetBuffer(args[2], &imap, PyBUF_WRITABLE) < 0)
        goto done;
    if ((size_t)dpos + entrylen > (size_t)dmap.len || (size_t)ipos + reclen > (size_t)imap.len) {
        PyErr_SetString(PyExc_ValueError, "no room for the entry: grow the file first");
        goto done;
    }
    unsigned char *d = (unsigned char *)dmap.buf + dpos;
    d[4] = (unsigned char)flags;
    d[5] = (unsigned char)keylen;
    put_le(d + 6, vallen, 4);
    put_le(d + 10, ts, 8);
    put_le(d + 18, prev, 8);
    memcpy(d + DATA_HEADER_SIZE, key.buf, keylen);
    memcpy(d + DATA_HEADER_SIZE + keylen, value.buf, vallen);
    put_le(d, crc32c(0, d + 4, entrylen - 4), 4);

    unsigned char *r = (unsigned char *)imap.buf + ipos;
    r[4] = (unsigned char)flags;
    r[5] = (unsigned char)keylen;
    put_le(r + 6, (uint64_t)dpos, 4);
    put_le(r + 10, entrylen, 4);
    put_le(r + 14, ts, 8);
    memcpy(r + INDEX_HEADER_SIZE, key.buf, keylen);
    put_le(r + INDEX_HEADER_SIZE + keylen, reclen, 2);
    put_le(r, crc32c(0, r + 4, reclen - 4), 4);
    result = Py_None;
    Py_INCREF(result);
done:
    if (dmap.obj != NULL)
        PyBuffer_Release(&dmap);
    if (imap.obj != NULL)
        PyBuffer_Release(&imap);
    PyBuffer_Release(&key);
    if (value.obj != NULL)
        PyBuffer_Release(&value);
    return result;
}

static uint32_t
get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* read_value(map, offset, entrylen, key) -> bytes | None
 *
 * The value of the data entry at offset of map, or None when the entry does not pass its
 * CRC, holds another key, or does not fit: the caller then reads it the slow way, which names
 * what is wrong. One copy (the value), where slicing in Python made three.
 */
static PyObject *
py_read_value(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer map;
    if (nargs != 4 || !PyBytes_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "read_value(map, offset, entrylen, key: bytes)");
        return NULL;
    }
    Py_ssize_t offset = PyLong_AsSsize_t(args[1]), entrylen = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred())
        return NULL;
    Py_ssize_t keylen = PyBytes_GET_SIZE(args[3]);
    if (PyObject_GetBuffer(args[0], &map, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *result = Py_None;
    if (offset >= 0 && entrylen >= DATA_HEADER_SIZE + keylen && offset <= map.len - entrylen) {
        const unsigned char *p = (const unsigned char *)map.buf + offset;
        if (get_le32(p) == crc32c(0, p + 4, (size_t)entrylen - 4) && p[5] == keylen &&
            get_le32(p + 6) == (uint64_t)(entrylen - DATA_HEADER_SIZE - keylen) &&
            memcmp(p + DATA_HEADER_SIZE, PyBytes_AS_STRING(args[3]), (size_t)keylen) == 0)
            result = PyBytes_FromStringAndSize((const char *)p + DATA_HEADER_SIZE + keylen,
                                               entrylen - DATA_HEADER_SIZE - keylen);
    }
    PyBuffer_Release(&map);
    if (result == Py_None)
        Py_INCREF(result);
    return result;
}


/* -- opening a namespace: one pass over a file instead of a Python loop per record -------- */

/* index_valid_end(buf) -> int: where the run of whole, checksummed index records ends
 * (embedded/codec.py's py_index_valid_end). */
static PyObject *
py_index_valid_end(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *b = view.buf;
    size_t pos = 0, end = (size_t)view.len;
    while (pos + INDEX_OVERHEAD <= end) {
        size_t nxt = pos + INDEX_OVERHEAD + b[pos + 5];
        if (nxt > end || crc32c(0, b + pos + 4, nxt - pos - 4) != get_le32(b + pos))
            break;
        pos = nxt;
    }
    PyBuffer_Release(&view);
    return PyLong_FromSize_t(pos);
}

/* The length of the whole, checksummed data entry at pos of b[:end], or 0 (codec.py's
 * _entry_len_at). */
static size_t
entry_len_at(const unsigned char *b, size_t pos, size_t end)
{
    if (pos + DATA_HEADER_SIZE > end)
        return 0;
    size_t entrylen = DATA_HEADER_SIZE + (size_t)b[pos + 5] + get_le32(b + pos + 6);
    if (entrylen > end - pos || crc32c(0, b + pos + 4, entrylen - 4) != get_le32(b + pos))
        return 0;
    return entrylen;
}

static int
append_segment(PyObject *out, size_t offset, size_t length, int whole)
{
    PyObject *seg = Py_BuildValue("(nnO)", (Py_ssize_t)offset, (Py_ssize_t)length,
                                  whole ? Py_True : Py_False);
    int rc = seg == NULL ? -1 : PyList_Append(out, seg);
    Py_XDECREF(seg);
    return rc;
}

/* scan_entries(buf, start) -> [(offset, length, whole), ...]
 *
 * The whole entries and damaged stretches of a data file from start (codec.py's
 * py_scan_entries, which says how a damaged stretch is bounded).
 */
static PyObject *
py_scan_entries(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t start;
    if (!PyArg_ParseTuple(args, "y*n", &view, &start))
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL || start < 0) {
        if (out != NULL)
            PyErr_SetString(PyExc_ValueError, "start must not be negative");
        Py_CLEAR(out);
        PyBuffer_Release(&view);
        return NULL;
    }
    const unsigned char *b = view.buf;
    size_t end = (size_t)view.len, pos = (size_t)start;
    Py_ssize_t bad = -1;
    while (pos < end) {
        size_t entrylen = entry_len_at(b, pos, end);
        if (entrylen) {
            if (bad >= 0 && append_segment(out, (size_t)bad, pos - (size_t)bad, 0) < 0)
                goto fail;
            bad = -1;
            if (append_segment(out, pos, entrylen, 1) < 0)
                goto fail;
            pos += entrylen;
            continue;
        }
        if (bad < 0) {
            bad = (Py_ssize_t)pos;
            if (pos + DATA_HEADER_SIZE <= end) {
                size_t declared = DATA_HEADER_SIZE + (size_t)b[pos + 5] + get_le32(b + pos + 6);
                if (declared < end - pos && entry_len_at(b, pos + declared, end)) {
                    pos += declared;
                    continue;
                }
            }
        }
        pos++;
        if (pos < end && b[pos] == 0) {
            size_t q = pos;
            while (q < end && b[q] == 0)
                q++;
            if (q >= pos + DATA_HEADER_SIZE - 1)
                pos = q - (DATA_HEADER_SIZE - 1);
        }
    }
    if (bad >= 0 && append_segment(out, (size_t)bad, end - (size_t)bad, 0) < 0)
        goto fail;
    PyBuffer_Release(&view);
    return out;
fail:
    Py_DECREF(out);
    PyBuffer_Release(&view);
    return NULL;
}

/* scan_leaves(buf, mark_mask) -> (count, valid_end, marks, events)
 *
 * The run of valid leaf records at the start of a leaves file (chain/native.py's
 * py_scan_leaves): marks are the offsets of the leaves whose index & mark_mask is 0, events
 * the (index, offset) of the leaves that are not SET or DEL.
 */
static PyObject *
py_scan_leaves(PyObject *self, PyObject *args)
{
    Py_buffer view;
    unsigned long long mask;
    PyObject *marks = NULL, *events = NULL, *result = NULL;
    if (!PyArg_ParseTuple(args, "y*K", &view, &mask))
        return NULL;
    marks = PyList_New(0);
    events = PyList_New(0);
    if (marks == NULL || events == NULL)
        goto done;
    const unsigned char *b = view.buf;
    size_t pos = 0, end = (size_t)view.len, count = 0;
    while (pos + 6 <= end) {
        size_t length = (size_t)b[pos + 4] | (size_t)b[pos + 5] << 8;
        size_t nxt = pos + 6 + length;
        if (nxt > end || length == 0 || crc32c(0, b + pos + 4, nxt - pos - 4) != get_le32(b + pos))
            break;
        if ((count & mask) == 0) {
            PyObject *off = PyLong_FromSize_t(pos);
            int rc = off == NULL ? -1 : PyList_Append(marks, off);
            Py_XDECREF(off);
            if (rc < 0)
                goto done;
        }
        unsigned char op = length >= 2 ? b[pos + 7] : 0;
        if (op != 1 && op != 2) {
            PyObject *ev = Py_BuildValue("(nn)", (Py_ssize_t)count, (Py_ssize_t)pos);
            int rc = ev == NULL ? -1 : PyList_Append(events, ev);
            Py_XDECREF(ev);
            if (rc < 0)
                goto done;
        }
        count++;
        pos = nxt;
    }
    result = Py_BuildValue("(nnOO)", (Py_ssize_t)count, (Py_ssize_t)pos, marks, events);
done:
    Py_XDECREF(marks);
    Py_XDECREF(events);
    PyBuffer_Release(&view);
    return result;
}

/* apply_key_leaves(buf, count, keys, dels, shift) -> None
 *
 * store.py's _load_leaves over the first count leaf records of buf (already checked on
 * open): a SET leaf i puts (i + 1) << shift into its key's location int, over the bits
 * below shift it keeps; a DEL leaf of a key that is gone goes to dels; FLUSH and RELEASE
 * empty dels.
 */
static PyObject *
py_apply_key_leaves(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t count;
    PyObject *keys, *dels, *mask = NULL, *shift = NULL, *one = NULL, *result = NULL;
    int shift_bits;
    if (!PyArg_ParseTuple(args, "y*nO!O!i", &view, &count, &PyDict_Type, &keys, &PyDict_Type,
                          &dels, &shift_bits))
        return NULL;
    shift = PyLong_FromLong(shift_bits);
    one = PyLong_FromLong(1);
    mask = shift && one ? PyNumber_Lshift(one, shift) : NULL;
    if (mask != NULL) {
        PyObject *m = PyNumber_Subtract(mask, one);
        Py_SETREF(mask, m);
    }
    if (mask == NULL)
        goto done;
    const unsigned char *b = view.buf;
    size_t pos = 0, end = (size_t)view.len;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (pos + 6 > end)
            goto bad;
        size_t length = (size_t)b[pos + 4] | (size_t)b[pos + 5] << 8;
        const unsigned char *leaf = b + pos + 6;
        if (pos + 6 + length > end || length < 19)
            goto bad;
        unsigned char op = leaf[1];
        if (op == 1 || op == 2) {
            size_t p = 19 + (size_t)leaf[18];
            if (p + 1 > length || p + 1 + leaf[p] > length)
                goto bad;
            PyObject *key = PyBytes_FromStringAndSize((const char *)leaf + p + 1, leaf[p]);
            if (key == NULL)
                goto done;
            int rc = 0;
            if (op == 1) {
                PyObject *loc = PyDict_GetItemWithError(keys, key); /* borrowed */
                if (loc != NULL) {
                    PyObject *low = PyNumber_And(loc, mask);
                    PyObject *idx = low ? PyLong_FromSsize_t(i + 1) : NULL;
                    PyObject *high = idx ? PyNumber_Lshift(idx, shift) : NULL;
                    PyObject *both = high ? PyNumber_Or(low, high) : NULL;
                    rc = both ? PyDict_SetItem(keys, key, both) : -1;
                    Py_XDECREF(low);
                    Py_XDECREF(idx);
                    Py_XDECREF(high);
                    Py_XDECREF(both);
                } else if (PyErr_Occurred())
                    rc = -1;
                if (rc == 0 && PyDict_GET_SIZE(dels)) {
                    int has = PyDict_Contains(dels, key);
                    rc = has < 0 ? -1 : has ? PyDict_DelItem(dels, key) : 0;
                }
            } else {
                int has = PyDict_Contains(keys, key);
                if (has < 0)
                    rc = -1;
                else if (!has) {
                    PyObject *idx = PyLong_FromSsize_t(i);
                    rc = idx ? PyDict_SetItem(dels, key, idx) : -1;
                    Py_XDECREF(idx);
                }
            }
            Py_DECREF(key);
            if (rc < 0)
                goto done;
        } else if (op == 9 || op == 8) { /* OP_FLUSH, OP_RELEASE */
            PyDict_Clear(dels);
        }
        pos += 6 + length;
    }
    result = Py_None;
    Py_INCREF(result);
    goto done;
bad:
    PyErr_SetString(PyExc_ValueError, "leaf records end early or are malformed");
done:
    Py_XDECREF(mask);
    Py_XDECREF(shift);
    Py_XDECREF(one);
    PyBuffer_Release(&view);
    return result;
}

/* -- RESP request framing (protocol.py's py_frame: the same walk, codes and results) ----- */
#define FRAME_OK 0
#define FRAME_TOO_MANY 1
#define FRAME_ABSURD 2
#define FRAME_NOT_ARRAY 3
#define FRAME_NOT_BULK 4
#define FRAME_BAD_COUNT 5
#define FRAME_BAD_LENGTH 6
#define FRAME_SKIPPED 7
#define FRAME_LINE_MAX 24

/* A canonical decimal as hiredis's string2ll takes it, of at most 18 digits ("0" or
 * -?[1-9][0-9]{0,17}); 0 when the text is not one. */
static int
frame_number(const unsigned char *p, size_t len, long long *out)
{
    size_t i = 0;
    int neg = 0;
    if (len == 1 && p[0] == '0') {
        *out = 0;
        return 1;
    }
    if (len && p[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i >= len || len - i > 18 || p[i] < '1' || p[i] > '9')
        return 0;
    unsigned long long v = 0;
    for (; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (unsigned long long)(p[i] - '0');
    }
    *out = neg ? -(long long)v : (long long)v;
    return 1;
}

static PyObject *
frame_result(long long left, long long need, int skip, Py_ssize_t end, Py_ssize_t resume,
             int code)
{
    return Py_BuildValue("(LLOnni)", left, need, skip ? Py_True : Py_False, end, resume, code);
}

static PyObject *
py_resp_frame(PyObject *self, PyObject *args)
{
    long long left, need, max_args, skip_max;
    int skip;
    Py_buffer view;
    Py_ssize_t pos;
    if (!PyArg_ParseTuple(args, "LLpy*nLL", &left, &need, &skip, &view, &pos, &max_args,
                          &skip_max))
        return NULL;
    const unsigned char *b = view.buf;
    Py_ssize_t end = view.len;
    PyObject *res;
    for (;;) {
        if (need) {
            long long step = need < end - pos ? need : end - pos;
            need -= step;
            pos += (Py_ssize_t)step;
            if (need) {
                res = frame_result(left, need, skip, pos, pos, FRAME_OK);
                break;
            }
            if (!left && skip) {
                res = frame_result(0, 0, 0, pos, pos, FRAME_SKIPPED);
                break;
            }
        }
        if (pos >= end) {
            res = frame_result(left, need, skip, pos, pos, FRAME_OK);
            break;
        }
        unsigned char kind = b[pos];
        if (kind != (left ? '$' : '*')) { /* "$" for an argument, "*" for a command */
            res = frame_result(left, need, skip, pos, pos, left ? FRAME_NOT_BULK : FRAME_NOT_ARRAY);
            break;
        }
        Py_ssize_t limit = end - pos < FRAME_LINE_MAX ? end - pos : FRAME_LINE_MAX;
        Py_ssize_t nl = -1;
        for (Py_ssize_t i = 0; i + 1 < limit; i++)
            if (b[pos + i] == '\r' && b[pos + i + 1] == '\n') {
                nl = pos + i;
                break;
            }
        if (nl < 0) {
            if (end - pos < FRAME_LINE_MAX) {
                res = frame_result(left, need, skip, pos, pos, FRAME_OK);
                break;
            }
            res = frame_result(left, need, skip, pos, pos, left ? FRAME_BAD_LENGTH : FRAME_BAD_COUNT);
            break;
        }
        long long value;
        int ok = frame_number(b + pos + 1, (size_t)(nl - pos - 1), &value);
        if (!left) {
            if (!ok || value < 0) {
                res = frame_result(left, need, skip, pos, pos, FRAME_BAD_COUNT);
                break;
            }
            if (value > max_args) {
                int code = value <= skip_max ? FRAME_TOO_MANY : FRAME_ABSURD;
                res = frame_result(value, 0, 1, pos, nl + 2, code);
                break;
            }
            left = value;
            pos = nl + 2;
            continue;
        }
        if (!ok || value < -1) {
            res = frame_result(left, need, skip, pos, pos, FRAME_BAD_LENGTH);
            break;
        }
        left -= 1;
        pos = nl + 2;
        need = value >= 0 ? value + 2 : 0;
        if (!need && !left && skip) {
            res = frame_result(0, 0, 0, pos, pos, FRAME_SKIPPED);
            break;
        }
    }
    PyBuffer_Release(&view);
    return res;
}

static PyMethodDef methods[] = {
    {"sha256", py_sha256, METH_O, "SHA-256 of a bytes-like object."},
    {"crc32c", py_crc32c, METH_VARARGS, "CRC32C of a bytes-like object, continuing crc."},
    {"packed_root", py_packed_root, METH_O, "merkle.packed_root in C."},
    {"leaf_records", py_leaf_records, METH_VARARGS, "ChainLog.commit's leaf loop in C."},
    {"write_entry", (PyCFunction)(void (*)(void))py_write_entry, METH_FASTCALL,
     "A data entry and its index record."},
    {"read_value", (PyCFunction)(void (*)(void))py_read_value, METH_FASTCALL,
     "The value of a data entry whose CRC and key match, or None."},
    {"index_valid_end", py_index_valid_end, METH_O, "Where the valid index records end."},
    {"scan_entries", py_scan_entries, METH_VARARGS, "The whole and damaged entries of data."},
    {"scan_leaves", py_scan_leaves, METH_VARARGS, "The valid leaf records of a leaves file."},
    {"apply_key_leaves", py_apply_key_leaves, METH_VARARGS, "Each key's leaf into its location."},
    {"resp_frame", py_resp_frame, METH_VARARGS, "protocol.py's py_frame: a request's framing."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native", "zero-db's write path in C.", -1, methods, NULL, NULL, NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    sha256_ctx = EVP_MD_CTX_new();
    if (sha256_md == NULL || sha256_ctx == NULL) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL has no SHA-256");
        return NULL;
    }
    crc_init();
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    /* the layouts and codes this file assumes, for the test that holds them to Python's */
    if (PyModule_AddIntConstant(m, "DATA_HEADER_SIZE", DATA_HEADER_SIZE) < 0 ||
        PyModule_AddIntConstant(m, "INDEX_HEADER_SIZE", INDEX_HEADER_SIZE) < 0 ||
        PyModule_AddIntConstant(m, "INDEX_OVERHEAD", INDEX_OVERHEAD) < 0 ||
        PyModule_AddIntConstant(m, "FLAG_DELETED", FLAG_DELETED) < 0 ||
        PyModule_AddIntConstant(m, "LEAF_VERSION", LEAF_VERSION) < 0 ||
        PyModule_AddIntConstant(m, "OP_SET", OP_SET) < 0 ||
        PyModule_AddIntConstant(m, "OP_DEL", OP_DEL) < 0 ||
        PyModule_AddIntConstant(m, "FRAME_LINE_MAX", FRAME_LINE_MAX) < 0 ||
        PyModule_AddIntConstant(m, "FRAME_OK", FRAME_OK) < 0 ||
        PyModule_AddIntConstant(m, "FRAME_TOO_MANY", FRAME_TOO_MANY) < 0 ||
        PyModule_AddIntConstant(m, "FRAME_ABSURD", FRAME_ABSURD) < 0 ||
        PyModule_AddIntConstant(m, "FRAME_NOT_ARRAY", FRAME_NOT_ARRAY) < 0 ||
        PyModule_AddIntConstant(m, "FRAME_NOT_BULK", FRAME_NOT_BULK) < 0 ||
        PyModule_AddIntConstant(m, "FRAME_BAD_COUNT", FRAME_BAD_COUNT) < 0 ||
        PyModule_AddIntConstant(m, "FRAME_BAD_LENGTH", FRAME_BAD_LENGTH) < 0 ||
        PyModule_AddIntConstant(m, "FRAME_SKIPPED", FRAME_SKIPPED) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
