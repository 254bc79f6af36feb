"""The node's TLS certificate: made at its first start in its data folder, kept after."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .errors import NodeError

CERT_NAME = "node.crt"
KEY_NAME = "node.key"
VALID_DAYS = 3650


def _names(listen: str) -> list[x509.GeneralName]:
    """Whom the certificate is for: this machine's names and the addresses clients dial."""
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName(socket.gethostname())]
    addresses = {"127.0.0.1", "::1", listen}
    for address in sorted(addresses):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            if address not in ("localhost", socket.gethostname()):
                names.append(x509.DNSName(address))
    return names


def make_certificate(folder: Path, listen: str) -> None:
    """A self-signed certificate and its key (mode 0600) in ``folder``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"zos node {socket.gethostname()}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(_names(listen)), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(folder / KEY_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_bytes)
    (folder / CERT_NAME).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def server_context(folder: Path, listen: str) -> ssl.SSLContext:
    """The TLS context of the node, its certificate made first when there is none."""
    cert, key = folder / CERT_NAME, folder / KEY_NAME
    try:
        if not cert.exists() or not key.exists():
            make_certificate(folder, listen)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise NodeError(f"cannot set up TLS from {folder}: {exc}") from exc
    return context


__all__ = ["CERT_NAME", "KEY_NAME", "make_certificate", "server_context"]
