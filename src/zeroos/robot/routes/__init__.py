"""zero-robot's routers, one a resource."""
