"""The one part of the build pyproject.toml can't say: zero-db's optional C module.

It is optional: without a C compiler, Python headers or OpenSSL headers the build warns and
zeroos runs the same code in Python (zdb/chain/native.py, zdb/embedded/codec.py), only slower.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "zeroos.zdb._native",
            ["src/zeroos/zdb/_native.c"],
            libraries=["crypto"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        ),
        # pyfuse3 given the inode in read/readdir, so that warm opens skip the process
        # (flist/mount/_noopen.c says why); without it mounts open files the slower way
        Extension(
            "zeroos.flist.mount._noopen",
            ["src/zeroos/flist/mount/_noopen.c"],
            include_dirs=["/usr/include/fuse3"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        ),
    ]
)
