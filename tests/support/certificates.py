"""Self-signed certificates for TLS tests, made by the openssl command (skipped without it)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.capabilities import unavailable


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate: the server's, and the CA file a client trusts it by."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed(folder: Path, name: str, subject_alt_name: str) -> Certificate:
    """A certificate for `name` (CN) and `subject_alt_name` ("DNS:…" or "IP:…") in `folder`."""
    openssl = shutil.which("openssl")
    if openssl is None:
        unavailable(
            "openssl", "the openssl command is not installed (it makes the test certificates)"
        )
    cert, key = folder / f"{name}.pem", folder / f"{name}-key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN={name}", "-addext", f"subjectAltName={subject_alt_name}",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Certificate(cert, key)
