"""The stack's certificate authority, serving and client certificates, and kubeconfigs.

As in a kubeadm cluster: one CA signs every serving certificate (SANs ``127.0.0.1`` and
``localhost``, plus the in-cluster names for the API server) and every client certificate,
whose CN is the user name and O the groups Kubernetes authorises on. ECDSA P-256 throughout:
every component accepts it and generating the whole set takes milliseconds, so a fresh stack
gets a fresh CA. Private keys are written mode 0600.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .paths import StackLayout

VALIDITY = timedelta(days=365)
LOOPBACK_SANS = ("127.0.0.1", "localhost")
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
API_SERVER_SANS = (
    *LOOPBACK_SANS,
    "10.96.0.1",  # the `kubernetes` Service's ClusterIP: first address of the range above
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class CertSpec:
    """One key pair and certificate: ``name`` is the file stem under ``pki/``."""

    name: str
    common_name: str
    _: KW_ONLY
    organizations: Sequence[str] = ()
    sans: Sequence[str] = ()
    server: bool = False
    client: bool = False


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _san(entry: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(entry))
    except ValueError:
        return x509.DNSName(entry)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, *, ca: bool
) -> x509.CertificateBuilder:
    """What every certificate of the stack has: names, key, validity, and the basic
    constraints and key usages of a CA (signs certificates) or of a leaf (signs handshakes)."""
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )


class CertificateAuthority:
    """A CA, written to ``pki/<name>.crt``/``.key``, that signs certificates into ``pki/``.

    The stack has two, as kubeadm clusters do: ``ca`` for everything, and ``front-proxy-ca``,
    whose only client is the API server's aggregation proxy (request-header authentication
    trusts identities asserted in headers by clients of that CA, so it must not be ``ca``).
    """

    def __init__(self, layout: StackLayout, name: str = "ca") -> None:
        self._layout = layout
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(f"agent-release-local-{name}")
        self._cert = (
            _builder(subject, subject, self._key.public_key(), ca=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        layout.pki.mkdir(parents=True, exist_ok=True)
        layout.cert(name).write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        _write_key(layout.key(name), self._key)

    def issue(self, spec: CertSpec) -> None:
        """Write ``pki/<name>.crt`` and ``pki/<name>.key`` for ``spec``."""
        key = ec.generate_private_key(ec.SECP256R1())
        usages = []
        if spec.server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if spec.client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = (
            _builder(
                _name(spec.common_name, spec.organizations),
                self._cert.subject,
                key.public_key(),
                ca=False,
            )
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        if spec.sans:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_san(entry) for entry in spec.sans]), critical=False
            )
        cert = builder.sign(self._key, hashes.SHA256())
        self._layout.cert(spec.name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(self._layout.key(spec.name), key)


def write_service_account_keys(layout: StackLayout) -> None:
    """The key pair that signs and verifies ServiceAccount tokens (``sa.key``/``sa.pub``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    _write_key(layout.key("sa"), key)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (layout.pki / "sa.pub").write_bytes(public)


def write_kubeconfig(
    layout: StackLayout, user: str, server: str, namespace: str = "default"
) -> Path:
    """A kubeconfig for client certificate ``pki/<user>.crt`` against ``server``.

    Paths, not embedded data, so the files stay short and readable while debugging.
    """
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "agent-release-local",
                "cluster": {"server": server, "certificate-authority": str(layout.ca_cert)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate": str(layout.cert(user)),
                    "client-key": str(layout.key(user)),
                },
            }
        ],
        "contexts": [
            {
                "name": f"{user}@agent-release-local",
                "context": {"cluster": "agent-release-local", "user": user, "namespace": namespace},
            }
        ],
        "current-context": f"{user}@agent-release-local",
    }
    layout.kubeconfigs.mkdir(parents=True, exist_ok=True)
    path = layout.kubeconfig(user)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    return path
