"""The version of zeroos, in a module of its own.

It is not kept in ``zeroos/__init__.py``: the PyPI ``0-core-client`` installs its own
``zeroos/__init__.py`` (a pkg_resources namespace declaration) into site-packages, and when
that file is the one Python runs, ours is not run at all.
"""

__version__ = "0.1.0"
