"""`python -m zeroos.cli`: the same as `zos`."""

from .main import main

main()
