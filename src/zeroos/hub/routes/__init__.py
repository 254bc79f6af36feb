"""zero-hub's HTTP routes, one module a resource; :mod:`..app` includes them in order."""
