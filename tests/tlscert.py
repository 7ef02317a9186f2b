"""A throw-away self-signed certificate for HTTPS tests (tests/test_tls.py, compat/run_oss2_suite.py).

The certificate is its own CA (BasicConstraints CA:TRUE), so clients verify the server by trusting
the certificate file itself (REQUESTS_CA_BUNDLE, ssl cafile). Names: localhost, 127.0.0.1, ::1.
"""
from __future__ import annotations

import datetime
import ipaddress
import os


def make_self_signed(directory: str, name: str = "ossbox-test") -> tuple[str, str]:
    """Write <name>.crt and <name>.key (PEM, the key unencrypted) into `directory`; returns
    (certfile, keyfile)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ossbox test server")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    certfile = os.path.join(directory, f"{name}.crt")
    keyfile = os.path.join(directory, f"{name}.key")
    with open(certfile, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(keyfile, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return certfile, keyfile


def https_endpoint(output_lines) -> str | None:
    """The HTTPS address a server started with --https-port printed ("ossbox serving HTTPS on ...")."""
    for line in output_lines:
        if line.startswith("ossbox serving HTTPS on "):
            return line.split()[-1].strip()
    return None
