/*
 * Gives pyfuse3's read and readdir the inode when FUSE runs without open/opendir requests.
 *
 * Why C: a warm flist read costs the kernel nothing but its page cache, except that every
 * open(2) (and opendir(2)) of a file is a round trip to the Python process. The kernel can skip
 * those (its "no-open" mode: open answered ENOSYS once, then never sent again, pages and
 * listings kept across opens), but then every read arrives with file handle 0, and pyfuse3's
 * read(fh, off, size) and readdir(fh, off, token) drop the inode the kernel sends with it
 * (pyfuse3 3.5, the newest; llfuse and the high-level bindings are no better).
 *
 * This library defines fuse_session_new. Loaded RTLD_GLOBAL before pyfuse3 is imported (Python
 * loads extensions RTLD_NOW, so pyfuse3 binds libfuse's names then; noopen.py and the package's
 * __init__ see to the order), it is the one pyfuse3 gets: it copies pyfuse3's operation
 * table and wraps read and readdirplus so that a request with handle 0 carries its inode as the
 * handle, and asks the kernel to cache symlink targets too, then calls libfuse's own
 * fuse_session_new with that table. Nothing else changes, and only when armed from Python.
 * When it is not built or not reached (zos_noopen_engaged() stays 0) the mount opens files the
 * ordinary way; it serves the same bytes, only each open costs a request.
 */
#define PY_SSIZE_T_CLEAN
#define FUSE_USE_VERSION 35
#include <Python.h>
#include <dlfcn.h>
#include <fuse_lowlevel.h>
#include <string.h>

static struct fuse_lowlevel_ops wrapped;
static void (*inner_read)(fuse_req_t, fuse_ino_t, size_t, off_t, struct fuse_file_info *);
static void (*inner_readdirplus)(fuse_req_t, fuse_ino_t, size_t, off_t, struct fuse_file_info *);
static void (*inner_init)(void *, struct fuse_conn_info *);
static int armed;
static int engaged;

/* Called right before pyfuse3.init: only the session it makes is changed. */
static PyObject *arm(PyObject *self, PyObject *noargs) {
    armed = 1;
    engaged = 0;
    Py_RETURN_NONE;
}

/* True once a session was made with the wrapped table: reads and readdirs carry inodes. */
static PyObject *is_engaged(PyObject *self, PyObject *noargs) { return PyBool_FromLong(engaged); }

static void read_with_inode(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                            struct fuse_file_info *fi) {
    if (fi->fh == 0)
        fi->fh = ino;
    inner_read(req, ino, size, off, fi);
}

static void readdirplus_with_inode(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                                   struct fuse_file_info *fi) {
    if (fi->fh == 0)
        fi->fh = ino;
    inner_readdirplus(req, ino, size, off, fi);
}

static void init_caching_links(void *userdata, struct fuse_conn_info *conn) {
    /* the flist never changes: symlink targets may stay in the page cache like file pages */
    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
        conn->want |= FUSE_CAP_CACHE_SYMLINKS;
    inner_init(userdata, conn);
}

typedef struct fuse_session *(*session_new_t)(struct fuse_args *, const struct fuse_lowlevel_ops *,
                                              size_t, void *);

struct fuse_session *fuse_session_new(struct fuse_args *args, const struct fuse_lowlevel_ops *op,
                                      size_t op_size, void *userdata) {
    void *libfuse = dlopen("libfuse3.so.3", RTLD_NOW | RTLD_LOCAL);
    session_new_t real = NULL;
    if (libfuse != NULL)
        real = (session_new_t)dlvsym(libfuse, "fuse_session_new", "FUSE_3.0");
    if (real == NULL)
        return NULL; /* pyfuse3 reports "fuse_session_new() failed" */
    if (!armed || op_size != sizeof(wrapped) || op->read == NULL || op->readdirplus == NULL ||
        op->init == NULL)
        return real(args, op, op_size, userdata);
    memcpy(&wrapped, op, sizeof(wrapped));
    inner_read = op->read;
    inner_readdirplus = op->readdirplus;
    inner_init = op->init;
    wrapped.read = read_with_inode;
    wrapped.readdirplus = readdirplus_with_inode;
    wrapped.init = init_caching_links;
    struct fuse_session *session = real(args, &wrapped, sizeof(wrapped), userdata);
    engaged = session != NULL;
    armed = 0;
    return session;
}

static PyMethodDef methods[] = {
    {"arm", arm, METH_NOARGS, "Wrap the operations of the next FUSE session pyfuse3 makes."},
    {"engaged", is_engaged, METH_NOARGS, "Whether the last session got the wrapped operations."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_noopen",
    "pyfuse3's read and readdir given the inode, for FUSE's no-open mode (see the source).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__noopen(void) { return PyModule_Create(&module); }
