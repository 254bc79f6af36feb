"""zero-db's Tarantool engine: data, index and chain in a (replicated) Tarantool."""

from .engine import TarantoolEngine, TarantoolStore

__all__ = ["TarantoolEngine", "TarantoolStore"]
