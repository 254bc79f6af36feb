"""AUTH (plain, SECURE, SIGNED) and HELLO, and the password-try accounting SELECT shares."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from ...._version import __version__
from ....common.log import event
from ...chain.signing import SignatureError, auth_message, public_key_from_hex
from ...chain.signing import verify_signature as _verify_signature
from ...errors import ACCESS_DENIED, ReplyError
from ...protocol import OK, bulk, integer, simple
from .session import Session, Waiter

log = logging.getLogger("zeroos.zdb")


def guessed(session: Session, ok: bool, command: str, namespace: str | None) -> None:
    """Account for one password try: slow its reply, log a failure, raise Access denied.

    The reply of a try (right or wrong) waits when the client's address or connection has
    failed too often (:class:`GuessThrottle`): the connection is parked like a WAIT, so
    nobody else waits. The log line never holds what was tried.
    """
    throttle = session.commands.throttle
    delay = throttle.delay(session.address, session.failures)
    if delay > 0:
        session.waiter = Waiter(session, b"", max(1, round(delay * 1000)))
    if ok:
        return
    session.failures += 1
    failures = throttle.failed(session.address)
    event(
        log,
        "auth_failed",
        level=logging.WARNING,
        peer=session.address,
        command=command,
        namespace=namespace,
        failures=max(failures, session.failures),
        delay_ms=round(delay * 1000),
    )
    raise ReplyError(ACCESS_DENIED)


def secure_ok(session: Session, proof: bytes, password: str) -> bool:
    """Whether a SECURE login's ``proof`` is sha1("nonce:password") for the session's nonce.

    The nonce CHALLENGE gave is used once, whatever the outcome.
    """
    nonce, session.nonce = session.nonce, None
    if nonce is None:
        raise ReplyError("No CHALLENGE requested, secure authentication not available")
    if len(proof) != 40:
        raise ReplyError("Invalid hash length")
    expected = hashlib.sha1(f"{nonce}:{password}".encode()).hexdigest()
    return hmac.compare_digest(proof, expected.encode())


def _auth_signed(session: Session, args: list[bytes]) -> bytes:
    if len(args) == 3 and args[2].upper() == b"CHALLENGE":
        session.signed_nonce = secrets.token_hex(16)
        return simple(session.signed_nonce)
    nonce, session.signed_nonce = session.signed_nonce, None  # single use, whatever follows
    if len(args) != 5:
        raise ReplyError("Unexpected arguments")
    if nonce is None:
        raise ReplyError("No CHALLENGE requested, signed authentication not available")
    store = session.commands.lookup(args[2])
    owner = store.settings.owner
    try:
        key = public_key_from_hex(args[3].decode("ascii"))
        signature = bytes.fromhex(args[4].decode("ascii"))
        if owner is None or key.hex() != owner:
            raise SignatureError("not the owner")
        _verify_signature(key, signature, auth_message(nonce, store.name))
        signed = True
    except (SignatureError, ValueError):
        signed = False
    guessed(session, signed, "AUTH SIGNED", store.name)
    session.enter(store, True)
    session.owner_of, session.owner_key = store.name, owner
    return OK


def command_auth(session: Session, args: list[bytes]) -> bytes:
    """AUTH password | AUTH SECURE CHALLENGE | AUTH SECURE hash | AUTH SIGNED ..."""
    if len(args) >= 3 and args[1].upper() == b"SIGNED":
        return _auth_signed(session, args)
    admin_password = session.commands.admin_password
    if len(args) == 3:
        if not b"SECURE".startswith(args[1].upper()) or not args[1]:
            raise ReplyError("Only SECURE extra method supported")
        if args[2].upper() == b"CHALLENGE":
            session.nonce = secrets.token_hex(8)
            return simple(session.nonce)
        if admin_password is None:
            raise ReplyError("Authentication disabled")
        guessed(session, secure_ok(session, args[2], admin_password), "AUTH", None)
        session.admin = True
        return OK
    if len(args) != 2:
        raise ReplyError("Unexpected arguments")
    if admin_password is None:
        raise ReplyError("Authentication disabled")
    if not args[1]:
        raise ReplyError("Invalid argument")
    if len(args[1]) > 128:
        raise ReplyError("Password too long")
    ok = hmac.compare_digest(args[1], admin_password.encode())
    guessed(session, ok, "AUTH", None)
    session.admin = True
    return OK


def command_hello(session: Session, args: list[bytes]) -> bytes:
    """Redis 6's handshake, which redis-py 8 sends first (not in 0-db: an extension).

    Only the reply to HELLO itself differs between RESP2 and RESP3: every other reply
    of zero-db is valid in both.
    """
    proto = 2
    rest = args[1:]
    if rest:
        try:
            proto = int(rest[0])
        except ValueError:
            raise ReplyError("Protocol version is not an integer or out of range") from None
        if proto not in (2, 3):
            raise ReplyError("NOPROTO unsupported protocol version")
        rest = rest[1:]
    while rest:
        option = rest[0].upper()
        if option == b"AUTH" and len(rest) >= 3:
            command_auth(session, [b"AUTH", rest[2]])
            rest = rest[3:]
        elif option == b"SETNAME" and len(rest) >= 2:
            rest = rest[2:]
        else:
            raise ReplyError("Syntax error in HELLO option")
    fields = [
        (b"server", bulk(b"0-db (zdb)")),
        (b"version", bulk(__version__.encode())),
        (b"proto", integer(proto)),
        (b"id", integer(session.commands.stats.clients_lifetime)),
        (b"mode", bulk(b"standalone")),
        (b"role", bulk(b"master")),
        (b"modules", b"*0\r\n"),
    ]
    head = b"%%%d\r\n" % len(fields) if proto == 3 else b"*%d\r\n" % (2 * len(fields))
    return head + b"".join(bulk(k) + v for k, v in fields)
