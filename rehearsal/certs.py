"""What cert-manager would write into the Secret of a `Certificate` of the build, for played pods.

cert-manager (v1.21.1) fills a Certificate's `spec.secretName` with `tls.crt`, `tls.key` and
`ca.crt` (the issuing CA's certificate, for CA issuers: pkg/issuer/ca). Manifests never contain
those Secrets, so a played pod mounting one would get nothing. Here a rehearsal CA (made once per
process with this machine's `openssl`) signs a leaf for the Certificate's dnsNames: the files
are real PEM, so a played program can load and verify them the way it would in the cluster.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from rehearsal.base import Build, JudgeUnavailable


def _openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        raise JudgeUnavailable("openssl not found (apt-get install openssl)")
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@lru_cache(maxsize=1)
def _ca_dir() -> Path:
    work = Path(tempfile.mkdtemp(prefix="rehearsal-ca-"))
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
             "-out", "ca.crt", "-days", "2", "-subj", "/CN=rehearsal data CA", cwd=work)
    return work


def certificate_secret(build: Build, namespace: str, secret_name: str) -> dict[str, str] | None:
    """The data of Secret `namespace/secret_name` as cert-manager would write it, when a
    Certificate of the build names it; None when none does."""
    certificate = next((c for c in build.of_kind("Certificate")
                        if c.namespace == namespace and c.spec.get("secretName") == secret_name), None)
    if certificate is None:
        return None
    ca = _ca_dir()
    names = [str(n) for n in certificate.spec.get("dnsNames") or []] or [certificate.name]
    leaf = ca / secret_name
    leaf.mkdir(exist_ok=True)
    (leaf / "ext.cnf").write_text("subjectAltName=" + ",".join(f"DNS:{n}" for n in names) + "\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "tls.key",
             "-out", "tls.csr", "-subj", f"/CN={names[0]}", cwd=leaf)
    _openssl("x509", "-req", "-in", "tls.csr", "-CA", "../ca.crt", "-CAkey", "../ca.key", "-CAcreateserial",
             "-out", "tls.crt", "-days", "1", "-extfile", "ext.cnf", cwd=leaf)
    return {"ca.crt": (ca / "ca.crt").read_text(), "tls.crt": (leaf / "tls.crt").read_text(),
            "tls.key": (leaf / "tls.key").read_text()}
