"""ES384 JWTs: the key ring (kept in zero-db, rotated without breaking live tokens), issuing and
checking tokens.

Rotation makes a new key the signing key; the old ones stay published in the JWKS, verifying
the tokens they signed, until the longest possible token lifetime has passed since they
stopped signing. Private keys live only in memory and in the key ring record, which is sealed
(AES-GCM, :mod:`zeroos.identity.sealed`) before it reaches zero-db; nothing here logs them, and
:class:`SigningKey`'s repr hides them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt.algorithms import ECAlgorithm

from .errors import InvalidToken
from .sealed import Sealer
from .store import Store

ALGORITHM: Final = "ES384"
DEFAULT_TTL: Final = 24 * 3600  # access tokens and JWTs, unless asked otherwise
MAX_VALIDITY: Final = 30 * 24 * 3600  # the longest a JWT may live
_RELOAD_INTERVAL: Final = 1.0  # at most one key ring reload a second on unknown key ids

_ECDSA: Final = ec.ECDSA(hashes.SHA384())
_COORDINATE: Final = 48  # bytes of r and of s on P-384 (RFC 7518 3.4)
# the order of P-384's base point: (r, s) and (r, n - s) both verify, so only s <= n/2 (low-s)
# is made and accepted, and one set of claims has one token (no twin to slip past a deny list)
_ORDER: Final = int(
    "ffffffffffffffffffffffffffffffffffffffffffffffff"
    "c7634d81f4372ddf581a0db248b0a77aecec196accc52973",
    16,
)
_HALF_ORDER: Final = _ORDER // 2

PublicKey = ec.EllipticCurvePublicKey


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True, repr=False)
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey
    created: int
    retired: int | None = None  # when it stopped signing

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, retired={self.retired!r})"

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS of ``claims``, as ``jwt.encode`` makes it (same header, same JSON)
        with a fifth of the Python work around the ECDSA step, which runs once per token."""
        header = {"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}
        signing_input = _b64(_json(header)) + b"." + _b64(_json(claims))
        r, s = decode_dss_signature(self.private.sign(signing_input, _ECDSA))
        if s > _HALF_ORDER:
            s = _ORDER - s
        raw = r.to_bytes(_COORDINATE, "big") + s.to_bytes(_COORDINATE, "big")
        return (signing_input + b"." + _b64(raw)).decode()

    @property
    def public(self) -> PublicKey:
        return self.private.public_key()

    def jwk(self) -> dict[str, Any]:
        out: dict[str, Any] = ECAlgorithm.to_jwk(self.public, as_dict=True)
        out.update(kid=self.kid, use="sig", alg=ALGORITHM)
        return out

    def dump(self) -> dict[str, Any]:
        pem = self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return {
            "kid": self.kid,
            "pem": pem.decode(),
            "created": self.created,
            "retired": self.retired,
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> SigningKey:
        private = serialization.load_pem_private_key(data["pem"].encode(), password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp384r1":
            raise ValueError("key ring holds a key that is not P-384")
        return cls(str(data["kid"]), private, int(data["created"]), data.get("retired"))

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(
            secrets.token_urlsafe(12), ec.generate_private_key(ec.SECP384R1()), int(time.time())
        )


class KeyRing:
    """The signing key and the retired keys still verifying live tokens; shared via zero-db."""

    def __init__(self, store: Store, sealer: Sealer, max_validity: int = MAX_VALIDITY) -> None:
        self.store = store
        self.sealer = sealer
        self.max_validity = max_validity
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._active: SigningKey  # set by _install, which reload() or _save() below runs
        self._last_reload = 0.0
        self._signer: ThreadPoolExecutor | None = None
        with store.lock:
            if not self.reload():
                self._save([SigningKey.generate()])

    @property
    def active(self) -> SigningKey:
        return self._active

    def kids(self) -> list[str]:
        return list(self._keys)

    def reload(self) -> bool:
        """Read the ring from zero-db; False when there is none yet."""
        raw = self.store.keyring()
        self._last_reload = time.monotonic()
        if raw is None:
            return False
        if not Sealer.is_sealed(raw):
            # a ring written before sealing existed: seal it now, in place
            keys = [SigningKey.load(k) for k in json.loads(raw)["keys"]]
            self._save(keys)
            return True
        data = json.loads(self.sealer.open(raw))
        self._install([SigningKey.load(k) for k in data["keys"]])
        return True

    def _install(self, keys: list[SigningKey]) -> None:
        with self._lock:
            self._keys = {k.kid: k for k in keys}
            self._active = next(k for k in keys if k.retired is None)

    def _save(self, keys: list[SigningKey]) -> None:
        plain = json.dumps({"keys": [k.dump() for k in keys]}).encode()
        self.store.put_keyring(self.sealer.seal(plain))
        self._install(keys)

    def rotate(self) -> SigningKey:
        """Sign with a new key from now on; drop keys retired longer than a token can live."""
        with self.store.lock:
            self.reload()
            now = int(time.time())
            keep: list[SigningKey] = []
            for key in self._keys.values():
                if key.retired is None:
                    key = SigningKey(key.kid, key.private, key.created, now)
                if key.retired is not None and key.retired + self.max_validity < now:
                    continue
                keep.append(key)
            new = SigningKey.generate()
            self._save([new, *keep])
            return new

    def public_key(self, kid: str) -> PublicKey | None:
        """The key for ``kid``, reloading the ring (rate-limited) when it is unknown here."""
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._last_reload > _RELOAD_INTERVAL:
            self.reload()
            key = self._keys.get(kid)
        return key.public if key is not None else None

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self._keys.values()]}

    def sign(self, claims: dict[str, Any]) -> str:
        return self.active.sign(claims)

    async def asign(self, claims: dict[str, Any]) -> str:
        """:meth:`sign` from the event loop. ECDSA, most of a grant's cost, runs without the
        GIL: in a worker thread it overlaps with the loop serving other requests (another core),
        where inline it would stall the loop for its whole length."""
        if self._signer is None:
            workers = min(4, os.cpu_count() or 1)
            self._signer = ThreadPoolExecutor(workers, thread_name_prefix="zeroid-sign")
        return await asyncio.get_running_loop().run_in_executor(self._signer, self.sign, claims)


def make_claims(
    *,
    issuer: str,
    subject: tuple[str, str],
    scope: Iterable[str],
    azp: str,
    validity: int,
    audience: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The claims of a token: ``subject`` is ("username", name) or ("globalid", name)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "iat": now,
        "exp": now + validity,
        "azp": azp,
        subject[0]: subject[1],
        "scope": list(dict.fromkeys(scope)),
    }
    if audience:
        claims["aud"] = audience if len(audience) > 1 else audience[0]
    if extra:
        claims.update(extra)
    return claims


def _low_s(token: str) -> None:
    """Refuse a signature whose s is in the upper half (the malleable twin of a low-s one)."""
    try:
        raw = base64.urlsafe_b64decode(token.rpartition(".")[2] + "==")
    except ValueError as exc:
        raise InvalidToken("malformed token signature") from exc
    if len(raw) != 2 * _COORDINATE:
        raise InvalidToken("token signature is not an ES384 signature")
    if int.from_bytes(raw[_COORDINATE:], "big") > _HALF_ORDER:
        raise InvalidToken("token signature is not in low-s form")


def decode(
    token: str,
    keys: Callable[[str], PublicKey | None],
    *,
    issuer: str,
    audience: str | None = None,
    leeway: float = 0,
    any_audience: bool = False,
) -> dict[str, Any]:
    """Check an ES384 token and return its claims; raises InvalidToken with the reason.

    Only ES384 is accepted (``alg: none`` and HMAC/ECDSA confusion are refused before any key is
    used), with a low-s signature (s <= n/2, as :meth:`SigningKey.sign` makes them: the high-s
    twin of a valid signature is refused); ``iss`` must be ``issuer``; ``exp`` must be in the
    future, ``iat`` and ``nbf`` not; a token with an ``aud`` is accepted only by the audience it
    names (``audience``; ``any_audience`` skips this check), one without by anyone.
    """
    if len(token) > 16_384:
        raise InvalidToken("token too long")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"malformed token: {exc}") from exc
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"token algorithm {header.get('alg')!r} is not accepted (only ES384)")
    _low_s(token)
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise InvalidToken("token has no key id")
    key = keys(kid)
    if key is None:
        raise InvalidToken("token signed by an unknown key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=issuer,
            leeway=leeway,
            options={
                "require": ["exp", "iss", "iat"],
                "verify_aud": False,
            },
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise InvalidToken("token not yet valid") from exc
    except jwt.InvalidIssuerError as exc:
        raise InvalidToken("token of another issuer") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"invalid token: {exc}") from exc
    aud = claims.get("aud")
    if aud is not None and not any_audience:
        auds = [aud] if isinstance(aud, str) else aud
        if not isinstance(auds, list) or audience not in auds:
            raise InvalidToken("token is meant for another audience")
    scope = claims.get("scope", [])
    if not isinstance(scope, list) or not all(isinstance(s, str) for s in scope):
        raise InvalidToken("token scope is not a list of strings")
    return claims


__all__ = [
    "ALGORITHM",
    "DEFAULT_TTL",
    "MAX_VALIDITY",
    "KeyRing",
    "SigningKey",
    "decode",
    "make_claims",
]
