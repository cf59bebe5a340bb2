"""The server's TLS: a self-signed certificate made on first start, its context and fingerprint."""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import ssl
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("play.tls")

CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
VALID_DAYS = 3650  # pinned, not checked against a CA: a long life saves needless re-pinning


class TLSError(Exception):
    """The certificate or key cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class ServerTLS:
    context: ssl.SSLContext
    fingerprint: str  # SHA-256 of the certificate (DER), as AB:CD:...
    cert: Path
    key: Path
    created: bool  # made just now


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate as `openssl x509 -fingerprint -sha256` prints it."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def make_certificate(cert_path: Path, key_path: Path, name: str = "play server") -> None:
    """A new P-256 key (written 0600, never readable by others) and a self-signed certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    key_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_key = key_path.with_name(key_path.name + ".new")
    tmp_key.unlink(missing_ok=True)
    fd = os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    tmp_cert = cert_path.with_name(cert_path.name + ".new")
    tmp_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp_key, key_path)
    os.replace(tmp_cert, cert_path)


def _certificate_der(cert_path: Path) -> bytes:
    try:
        pem = cert_path.read_text(encoding="ascii")
        return ssl.PEM_cert_to_DER_cert(pem[pem.index("-----BEGIN CERTIFICATE-----"):])
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise TLSError(f"cannot read the certificate {cert_path}: "
                       f"{getattr(exc, 'strerror', None) or 'not a PEM certificate'}") from None


def _guard_key(key_path: Path) -> None:
    """A key others can read is made private again (and said so in the log)."""
    try:
        mode = key_path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO) and os.name == "posix":
            os.chmod(key_path, 0o600)
            log.warning("%s was readable by others; it is now 0600", key_path)
    except OSError:
        pass


Share = Callable[[str, str], str]  # keep a value under a name unless one is kept; the kept one
SHARED_NAME = "tls"


def _pem_pair(cert: Path, key: Path) -> str:
    try:
        return json.dumps({"cert": cert.read_text(encoding="ascii"),
                           "key": key.read_text(encoding="ascii")})
    except (OSError, UnicodeDecodeError) as exc:
        raise TLSError(f"cannot read {cert} or {key}: "
                       f"{getattr(exc, 'strerror', None) or 'not PEM text'}") from None


def _take_shared(data_dir: Path, cert: Path, key: Path, kept: str) -> None:
    """Write the cluster's pair over this node's (the key 0600), atomically."""
    try:
        pair = json.loads(kept)
        cert_pem, key_pem = str(pair["cert"]), str(pair["key"])
    except (ValueError, KeyError, TypeError):
        raise TLSError("the certificate kept in the store is unreadable; delete the row "
                       f"'{SHARED_NAME}' of the table 'shared' to let a node keep its own"
                       ) from None
    tmp_key = key.with_name(key.name + ".new")
    tmp_key.unlink(missing_ok=True)
    try:
        fd = os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key_pem)
        tmp_cert = cert.with_name(cert.name + ".new")
        tmp_cert.write_text(cert_pem, encoding="ascii")
        os.replace(tmp_key, key)
        os.replace(tmp_cert, cert)
    except OSError as exc:
        raise TLSError(f"cannot write the cluster's certificate in {data_dir}: "
                       f"{exc.strerror or exc}") from None


def server_tls(data_dir: Path, cert: Path | None = None, key: Path | None = None,
               shared: Share | None = None) -> ServerTLS:
    """Load --cert/--key, or the data directory's pair (made on first start).

    `shared` (a cluster's store): every node serves one certificate, so a pinned
    fingerprint holds on all of them. The first node keeps its pair in the store; the
    others take it, replacing their own. Given --cert/--key are served as they are
    (kept in the store if it has none yet; a different one there is logged).
    """
    created = False
    given = cert is not None
    if (cert is None) != (key is None):
        raise TLSError("give both --cert and --key, or neither (a certificate is then made)")
    if cert is None or key is None:
        cert, key = data_dir / CERT_FILE, data_dir / KEY_FILE
        if not cert.exists() and not key.exists():
            try:
                make_certificate(cert, key)
            except OSError as exc:
                raise TLSError(f"cannot write a certificate in {data_dir}: "
                               f"{exc.strerror or exc}") from None
            created = True
            log.info("made a new TLS certificate %s", cert)
        elif not (cert.exists() and key.exists()):
            missing = key if cert.exists() else cert
            raise TLSError(f"{missing} is missing; delete {cert.name} and {key.name} in "
                           f"{data_dir} to make a new pair (friends will see a new fingerprint)")
    for path, what in ((cert, "certificate"), (key, "key")):
        if not path.is_file():
            raise TLSError(f"the {what} file {path} does not exist")
    _guard_key(key)
    if shared is not None:
        mine = _pem_pair(cert, key)
        try:
            kept = shared(SHARED_NAME, mine)
        except Exception as exc:  # StorageError: the cluster's database said no
            raise TLSError(f"cannot share the TLS certificate through the store: {exc}"
                           ) from None
        if kept != mine and given:
            log.warning("the cluster's store keeps another certificate than --cert %s: "
                        "fingerprints pinned on other nodes will not hold on this one", cert)
        elif kept != mine:
            _take_shared(data_dir, cert, key, kept)
            log.info("took the cluster's TLS certificate into %s", cert)
            created = False
    der = _certificate_der(cert)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise TLSError(f"the key {key} does not fit the certificate {cert} "
                       f"(or is not a PEM key): {exc.reason or exc}") from None
    except OSError as exc:
        raise TLSError(f"cannot read {key}: {exc.strerror or exc}") from None
    return ServerTLS(context, fingerprint(der), cert, key, created)
