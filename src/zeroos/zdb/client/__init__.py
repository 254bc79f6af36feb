"""zero-db's client side: :mod:`.sync` (:class:`Client`) and :mod:`.aio` (:class:`AsyncClient`).

Nothing here imports the server side (:mod:`zeroos.zdb.server`). The names below are the
synchronous client's; the asyncio one is imported from :mod:`.aio` (or ``zeroos.zdb``) so
that a synchronous user never loads asyncio's redis driver.
"""

from __future__ import annotations

from .sync import (
    Address,
    Client,
    FieldValue,
    HistoryEntry,
    Key,
    Login,
    NamespaceInfo,
    ScanEntry,
    Session,
    Value,
    ZdbConnection,
    ZdbUnixConnection,
    closes_connection,
    encode_key,
    encode_value,
    make_trust,
    parse_fields,
    parse_url,
    secure_proof,
    select_steps,
    translate_error,
)

__all__ = [
    "Address",
    "Client",
    "FieldValue",
    "HistoryEntry",
    "Key",
    "Login",
    "NamespaceInfo",
    "ScanEntry",
    "Session",
    "Value",
    "ZdbConnection",
    "ZdbUnixConnection",
    "closes_connection",
    "encode_key",
    "encode_value",
    "make_trust",
    "parse_fields",
    "parse_url",
    "secure_proof",
    "select_steps",
    "translate_error",
]
