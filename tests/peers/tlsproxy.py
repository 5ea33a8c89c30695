"""A TLS-terminating TCP relay with its own private CA, in front of any plain-HTTP peer.

    with tls_proxy("http://127.0.0.1:9200") as tls:
        tls.url      # https://localhost:PORT  (certificate for localhost only: use
                     # https://127.0.0.1:PORT to test a hostname mismatch)
        tls.ca_path  # PEM of the CA that signed it (what a user would give as CA bundle)
        tls.ca_pem

The peers (osmem-server, SeaweedFS) speak plain HTTP; this puts a real TLS handshake with
a certificate from a CA the system does not trust in front of them, so a client's CA
bundle, its "verification off" switch and its error message on an unknown CA are tested
against real sockets.
"""
from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tests.peers.util import free_port


@dataclass
class TLSProxy:
    url: str
    ca_path: str
    ca_pem: str
    port: int


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate chain, server key) as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Stashboard test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_path.write_bytes(ca.public_bytes(pem))
    cert_path.write_bytes(cert.public_bytes(pem) + ca.public_bytes(pem))
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_path, cert_path, key_path


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(1 << 16)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def tls_proxy(upstream: str) -> Iterator[TLSProxy]:
    """Relay https://localhost:PORT to the plain-HTTP `upstream` until the block ends."""
    up = urlsplit(upstream)
    target = (up.hostname or "127.0.0.1", up.port or 80)
    with tempfile.TemporaryDirectory(prefix="tls-proxy-") as tmp:
        ca_path, cert_path, key_path = _certificates(Path(tmp))
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert_path, key_path)
        port = free_port()
        listener = socket.create_server(("127.0.0.1", port))
        stop = threading.Event()
        conns: list[socket.socket] = []

        def handle(raw: socket.socket) -> None:
            try:
                client = ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()  # a client that refused our certificate: that is the test
                return
            try:
                server = socket.create_connection(target)
            except OSError:
                client.close()
                return
            conns.extend([client, server])
            back = threading.Thread(target=_pump, args=(server, client), daemon=True)
            back.start()
            _pump(client, server)
            back.join()
            client.close()
            server.close()

        def accept() -> None:
            while not stop.is_set():
                try:
                    raw, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=handle, args=(raw,), daemon=True).start()

        t = threading.Thread(target=accept, name="tls-proxy", daemon=True)
        t.start()
        try:
            yield TLSProxy(url=f"https://localhost:{port}", ca_path=str(ca_path),
                           ca_pem=ca_path.read_text(), port=port)
        finally:
            stop.set()
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
            listener.close()
            for c in conns:
                with contextlib.suppress(OSError):
                    c.close()
            t.join(5)
