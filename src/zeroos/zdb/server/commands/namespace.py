"""The namespaces: SELECT, NSNEW, NSDEL, NSLIST, NSINFO, NSSET, FLUSH, RELOAD, DBSIZE."""

from __future__ import annotations

import hmac
import os
import shutil
import time

from ...chain.leaf import OP_NSSET
from ...errors import (
    ACCESS_DENIED,
    FLUSH_DENIED,
    NS_MISSING,
    NS_NOT_FOUND,
    NS_PRIVATE,
    PERMISSION_DENIED,
    WORM,
    ReplyError,
    StorageError,
)
from ...namespace import DEFAULT_NAMESPACE, NamespaceSettings
from ...protocol import OK, array, bulk, integer
from .args import NAMESPACE_MAX, admin, is_owner, mb, need, text_arg, yes
from .auth import guessed, secure_ok
from .session import ACCESS_FROZEN, ACCESS_LOCKED, ACCESS_OPEN, Session


def command_select(session: Session, args: list[bytes]) -> bytes:
    """SELECT ns [password | SECURE hash]: switch the session's namespace."""
    if len(args) < 2 or not args[1]:
        raise ReplyError("Invalid argument")
    if len(args[1]) > NAMESPACE_MAX:
        raise ReplyError("Namespace too long")
    store = session.commands.lookup(args[1])
    password = store.settings.password
    owned = store.settings.owner is not None
    if owned and (session.admin or is_owner(session, store)) and len(args) == 2:
        session.enter(store, True)
        return OK
    if password is None and not owned:
        session.enter(store, True)
        return OK
    if len(args) == 2 or password is None:
        if len(args) > 2:
            raise ReplyError(ACCESS_DENIED)
        if not store.settings.public:
            raise ReplyError(NS_PRIVATE)
        session.enter(store, False)
        return OK
    if len(args) > 4:
        raise ReplyError("Too many arguments")
    if len(args) == 3:
        if len(args[2]) > 255:
            raise ReplyError("Password too long")
        ok = hmac.compare_digest(args[2], password.encode())
    else:
        if not args[2] or not b"SECURE".startswith(args[2].upper()):
            raise ReplyError("Only SECURE extra method supported")
        ok = secure_ok(session, args[3], password)
    guessed(session, ok, "SELECT", store.name)
    session.enter(store, True)
    return OK


def command_nsnew(session: Session, args: list[bytes]) -> bytes:
    """NSNEW ns (admin, arity in the table)."""
    commands = session.commands
    name = commands.new_name(args[1])
    try:
        commands.engine.create(name, NamespaceSettings(mode=commands.fixed_mode or "user"))
    except StorageError:
        raise ReplyError("Could not create namespace") from None
    return OK


def command_nsdel(session: Session, args: list[bytes]) -> bytes:
    """NSDEL ns (admin, arity in the table)."""
    commands = session.commands
    if len(args[1]) > NAMESPACE_MAX:
        raise ReplyError("Namespace too long")
    if args[1] == DEFAULT_NAMESPACE.encode():
        raise ReplyError("Cannot remove default namespace")
    try:
        store = commands.lookup(args[1])
    except ReplyError:
        raise ReplyError(NS_MISSING) from None
    if store is session.store:
        raise ReplyError("Cannot remove namespace you're currently using.")
    try:
        commands.engine.drop(store.name)
    except (StorageError, OSError):
        raise ReplyError("Could not delete this namespace") from None
    commands.reserved.discard(store.name)
    return OK


def command_reload(session: Session, args: list[bytes]) -> bytes:
    """RELOAD ns (admin, arity in the table): read a namespace again from disk; its clients
    stay in it."""
    commands = session.commands
    if len(args[1]) > NAMESPACE_MAX:
        raise ReplyError("Namespace too long")
    old = commands.lookup(args[1])
    # a failed or vanished reload leaves old dropped (the engine's doing): its clients are
    # told the namespace is gone
    new = commands.engine.reload(old.name)
    if new is None:
        raise ReplyError(NS_NOT_FOUND)
    if new is not old:
        commands.stats.data_cuts += new.faults.cuts  # what its recovery cut, as at start
        commands.stats.data_cut_bytes += new.faults.cut_bytes
        commands.replaced(old, new)
    return OK


def command_nslist(session: Session, args: list[bytes]) -> bytes:
    """NSLIST: every namespace's name, the default one first."""
    names = [n for n in session.commands.engine.namespaces() if n != DEFAULT_NAMESPACE]
    return array([bulk(DEFAULT_NAMESPACE.encode())] + [bulk(n.encode()) for n in names])


def command_nsinfo(session: Session, args: list[bytes]) -> bytes:
    """NSINFO ns (arity in the table): 0-db's namespace report."""
    commands = session.commands
    if len(args[1]) > NAMESPACE_MAX:
        raise ReplyError("Namespace too long")
    store = commands.lookup(args[1])
    s = store.settings
    nextid = int.from_bytes((store.next_id & 0xFFFFFFFF).to_bytes(4, "little"), "big")
    lines = [
        "# namespace",
        f"name: {store.name}",
        f"entries: {store.entries}",
        f"public: {yes(s.public)}",
        f"worm: {yes(s.worm)}",
        f"locked: {yes(commands.access_of(store).state != ACCESS_OPEN)}",
        f"password: {yes(s.password is not None)}",
        f"data_size_bytes: {store.data_size}",
        f"data_size_mb: {mb(store.data_size)}",
        f"data_limits_bytes: {s.maxsize}",
        f"index_size_bytes: {store.index_size}",
        f"index_size_kb: {store.index_size / 1024:.2f}",
        f"next_internal_id: 0x{nextid:08x}",
        f"mode: {'sequential' if s.mode == 'seq' else 'userkey'}",
        f"stats_index_io_errors: {store.faults.index_io_errors}",
        f"stats_index_io_error_last: {store.faults.index_io_error_last}",
        f"stats_index_faults: {store.faults.index_faults}",
        f"stats_data_io_errors: {store.faults.data_io_errors}",
        f"stats_data_io_error_last: {store.faults.data_io_error_last}",
        f"stats_data_faults: {store.faults.data_faults}",
        f"stats_data_cuts: {store.faults.cuts}",
        f"stats_data_cut_bytes: {store.faults.cut_bytes}",
        f"disk_size_bytes: {store.disk_size}",
    ]
    if s.maxsize > 0:
        lines.append(f"space_available: {s.maxsize - store.data_size}")
    folders = commands.engine.folders()
    if folders is not None:
        datadir, indexdir = folders
        for label, path in (("index", indexdir), ("data", datadir)):
            free = shutil.disk_usage(path).free
            lines.append(f"{label}_disk_freespace_bytes: {free}")
            lines.append(f"{label}_disk_freespace_mb: {mb(free)}")
        if session.admin:
            lines.append(f"data_path: {os.path.join(datadir, store.name)}")
            lines.append(f"index_path: {os.path.join(indexdir, store.name)}")
    if s.owner:
        commands.check_reservation(store, time.time())
        lines.append(f"reservation_owner: {s.owner}")
        lines.append(f"reservation_expiry: {s.expiry}")
        lines.append(f"reservation_state: {s.state}")
    if store.chain is not None:
        store.chain.commit()
        lines.append(f"chain_size: {store.chain.size}")
    return bulk(("\n".join(lines) + "\n").encode())


def command_nsset(session: Session, args: list[bytes]) -> bytes:
    """NSSET ns property value: admin, or a reservation's owner for its own settings."""
    commands = session.commands
    owner = (
        not session.admin
        and len(args) == 4
        and session.owner_of is not None
        and args[1] == session.owner_of.encode()
        and args[2] in (b"password", b"public", b"worm", b"lock", b"freeze")
    )
    if not owner:
        admin(session)
    need(args, 4)
    if len(args[1]) > NAMESPACE_MAX:
        raise ReplyError("Namespace too long")
    if len(args[2]) > 64 or len(args[3]) > 63:
        raise ReplyError("Argument too long")
    store = commands.lookup(args[1])
    if owner and not is_owner(session, store):
        raise ReplyError(PERMISSION_DENIED)
    prop, value = args[2], args[3]
    settings = store.settings
    if prop in (b"lock", b"freeze"):
        access = commands.access_of(store)
        if owner and access.by_admin:
            raise ReplyError(PERMISSION_DENIED)  # the admin's lock is the admin's to lift
        if value != b"1":
            access.state = ACCESS_OPEN
        else:
            access.state = ACCESS_LOCKED if prop == b"lock" else ACCESS_FROZEN
        access.by_admin = session.admin and access.state != ACCESS_OPEN
        return OK
    if prop == b"mode":
        if commands.fixed_mode is not None:
            raise ReplyError("This server instance is configured to use a single runtime mode")
        if store.index_size > 0 or store.entries > 0:
            raise ReplyError("Cannot change mode of used namespace")
        if value not in (b"user", b"seq"):
            raise ReplyError("Invalid property value (expected: user, seq)")
        settings.mode = "seq" if value == b"seq" else "user"
    elif store.name == DEFAULT_NAMESPACE:
        raise ReplyError("Cannot update default namespace")
    elif prop == b"maxsize":
        try:
            maxsize = int(value)
        except ValueError:
            raise ReplyError("Invalid property value (expected: a size in bytes)") from None
        if maxsize < 0:
            raise ReplyError("Invalid property value (expected: a size in bytes)")
        settings.maxsize = maxsize
    elif prop == b"password":
        settings.password = None if value == b"*" else text_arg(value)
    elif prop == b"public":
        settings.public = value[:1] == b"1"
    elif prop == b"worm":
        settings.worm = value[:1] == b"1"
    else:
        raise ReplyError("Invalid property")
    store.save_settings()
    if store.chain is not None:
        shown = (b"unset" if value == b"*" else b"set") if prop == b"password" else value
        store.chain.event(OP_NSSET, prop, extra=shown)
    return OK


def command_flush(session: Session, args: list[bytes]) -> bytes:
    """FLUSH: empty the session's namespace (a private one with a password)."""
    store = session.store
    if store.settings.public or store.settings.password is None:
        raise ReplyError(FLUSH_DENIED)
    # read-only, frozen, locked, an expired or released reservation
    session.commands.writable(session)
    if store.settings.worm:
        raise ReplyError(WORM)
    try:
        store.clear()
    except (StorageError, OSError):
        raise ReplyError("Internal Server Error") from None
    return OK


def command_dbsize(session: Session, args: list[bytes]) -> bytes:
    """DBSIZE: the session's namespace's entries."""
    return integer(session.store.entries)
