"""The one part of the build pyproject.toml can't say: zeroos's optional C modules.

They are optional: without a C compiler, Python headers or the library headers one needs, the
build warns and zeroos runs the same code in Python (zdb/chain/native.py,
zdb/embedded/codec.py, flist's mount without _noopen), only slower.
"""

from typing import Any

from setuptools import Extension, setup


def optional_c(name: str, source: str, **options: Any) -> Extension:
    """A C module built with the warnings on, and skipped (with a warning) when it can't be."""
    flags = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    return Extension(name, [source], extra_compile_args=flags, optional=True, **options)


setup(
    ext_modules=[
        optional_c("zeroos.zdb._native", "src/zeroos/zdb/_native.c", libraries=["crypto"]),
        # pyfuse3 given the inode in read/readdir, so that warm opens skip the process
        # (flist/mount/_noopen.c says why); without it mounts open files the slower way
        optional_c(
            "zeroos.flist.mount._noopen",
            "src/zeroos/flist/mount/_noopen.c",
            include_dirs=["/usr/include/fuse3"],
        ),
    ]
)
