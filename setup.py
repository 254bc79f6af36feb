"""The one part of the build pyproject.toml can't say: the chain's optional C module.

It is optional: without a C compiler, Python headers or OpenSSL headers the build warns and
zeroos runs the same loops in Python (zeroos/zdb/chain/native.py), only slower.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "zeroos.zdb.chain._native",
            ["src/zeroos/zdb/chain/_native.c"],
            libraries=["crypto"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]
)
