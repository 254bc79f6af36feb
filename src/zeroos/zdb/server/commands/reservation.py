"""Reservations, namespaces that belong to a key: RESERVE and RESERVATION."""

from __future__ import annotations

import time

from ...chain.leaf import OP_RESERVATION, OP_RESERVE
from ...errors import PERMISSION_DENIED, ReplyError, StorageError
from ...namespace import NamespaceSettings
from ...protocol import OK
from .args import admin, int_arg, is_owner, owner_arg
from .session import Session


def command_reserve(session: Session, args: list[bytes]) -> bytes:
    """RESERVE ns size expiry owner-pubkey (admin, arity in the table)."""
    commands = session.commands
    name = commands.new_name(args[1])
    size = int_arg(args[2], "size")
    expiry = int_arg(args[3], "expiry")
    owner = owner_arg(args[4])
    settings = NamespaceSettings(
        mode=commands.fixed_mode or "user",
        maxsize=size,
        public=False,
        owner=owner,
        expiry=expiry,
        state="active",
    )
    try:
        store = commands.engine.create(name, settings)
    except StorageError:
        raise ReplyError("Could not create namespace") from None
    if store.chain is not None:
        text = f"size={size} expiry={expiry} owner={owner}"
        store.chain.event(OP_RESERVE, b"reservation", extra=text.encode())
    commands.reserved.add(name)
    commands.check_reservation(store, time.time())
    return OK


def command_reservation(session: Session, args: list[bytes]) -> bytes:
    """RESERVATION ns size|expiry|owner value (arity in the table): admin (size, expiry) or
    owner (owner)."""
    commands = session.commands
    store = commands.lookup(args[1])
    s = store.settings
    if not s.owner:
        raise ReplyError("Not a reservation")
    prop = args[2].lower()
    if prop == b"owner":
        if not (session.admin or is_owner(session, store)):
            raise ReplyError(PERMISSION_DENIED)
        value = owner_arg(args[3])
        s.owner = value
    elif prop in (b"size", b"expiry"):
        admin(session)
        number = int_arg(args[3], prop.decode())
        value = str(number)
        if prop == b"size":
            s.maxsize = number
        else:
            s.expiry = number
            if number > time.time():
                s.state = "active"
    else:
        raise ReplyError("Invalid property (expected: size, expiry, owner)")
    store.save_settings()
    if store.chain is not None:
        extra = f"{value} state={s.state}".encode()
        store.chain.event(OP_RESERVATION, prop, extra=extra)
    commands.check_reservation(store, time.time())
    return OK
