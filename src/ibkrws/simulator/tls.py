"""A self-signed TLS certificate for the simulator, like the gateway's own ``vertx.jks``.

Generated once per process with ``cryptography`` (an EC P-256 key, quick to make) and written to a
private temporary directory. The certificate is its own CA and is valid for ``localhost``,
``127.0.0.1`` and ``::1`` (subject alternative names), so clients can either disable verification,
as most gateway users do, or verify against :attr:`CertFiles.cacert`.
"""

from __future__ import annotations

import atexit
import datetime as dt
import ipaddress
import shutil
import ssl
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class CertFiles:
    """Paths of the PEM certificate (also the CA file for clients) and of its private key."""

    cacert: str
    key: str


_lock = threading.Lock()
_cached: CertFiles | None = None


def _generate(directory: Path) -> CertFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ibkrws simulator")])
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1")),
            ]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "simulator-cert.pem"
    key_path = directory / "simulator-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return CertFiles(str(cert_path), str(key_path))


def certificate() -> CertFiles:
    """The process-wide simulator certificate, generated on first use and removed at exit."""
    global _cached
    with _lock:
        if _cached is None or not Path(_cached.cacert).exists():
            directory = Path(tempfile.mkdtemp(prefix="ibkrws-sim-tls-"))
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            _cached = _generate(directory)
        return _cached


def server_context(files: CertFiles) -> ssl.SSLContext:
    """A server-side TLS context serving the simulator certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(files.cacert, files.key)
    return ctx
