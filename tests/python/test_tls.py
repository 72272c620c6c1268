"""TLS on both servers (``mlship serve`` / ``mlship.deploy`` in process, and the Python-free
``mlship-server``): HTTPS with certificates this test makes with the openssl command line and
clients that verify them (Python's ssl), plain HTTP on the TLS port, mutual TLS, and reloading the
certificate (``reload_tls()``/``reload()`` and SIGHUP), a failed reload keeping the old one."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from http_helpers import infer_body
from server_process import read_line_matching, start

import mlship
from mlship._cli import server_executable

FEATURES = 4
X = np.arange(FEATURES, dtype=np.float32).reshape(1, FEATURES)


class Double(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_certificates(d: Path) -> dict[str, str]:
    """Two CAs; server certificates a (CN server-a, serial 1001) and b (server-b, 2002) for
    127.0.0.1; a client certificate from the CA and one from the other CA."""
    (d / "server.ext").write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                                  "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (d / "client.ext").write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca, cn in (("ca", "mlship test CA"), ("other-ca", "another CA")):
        openssl("req", "-x509", "-new", *ec, "-days", "2", "-keyout", str(d / f"{ca}.key"), "-out",
                str(d / f"{ca}.pem"), "-subj", f"/CN={cn}")
    for name, cn, ca, serial, ext in (("server-a", "server-a", "ca", 1001, "server.ext"),
                                      ("server-b", "server-b", "ca", 2002, "server.ext"),
                                      ("client", "client-1", "ca", 3003, "client.ext"),
                                      ("other-client", "intruder", "other-ca", 4004, "client.ext")):
        openssl("req", "-new", *ec, "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"), "-subj",
                f"/CN={cn}")
        openssl("x509", "-req", "-days", "2", "-in", str(d / f"{name}.csr"), "-CA", str(d / f"{ca}.pem"), "-CAkey",
                str(d / f"{ca}.key"), "-set_serial", str(serial), "-out", str(d / f"{name}.pem"), "-extfile",
                str(d / ext))
    files = {p.stem: str(p) for p in d.glob("*.pem")}
    files.update({p.name: str(p) for p in d.glob("*.key")})
    return files


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict[str, str]:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def live(certs, tmp_path) -> dict[str, str]:
    """The files a server is started with (copies of server-a), which a test may overwrite."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    shutil.copy(certs["server-a"], cert)
    shutil.copy(certs["server-a.key"], key)
    return {"cert": str(cert), "key": str(key)}


def use(live: dict[str, str], certs: dict[str, str], name: str) -> None:
    """Puts server certificate ``name`` into the live files."""
    shutil.copy(certs[name], live["cert"])
    shutil.copy(certs[f"{name}.key"], live["key"])


@pytest.fixture(scope="module")
def model() -> mlship.Model:
    return mlship.load(torch.jit.script(Double()), example_inputs=torch.zeros(1, FEATURES))


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("model") / "double.pt")
    model.save(path)
    return path


def client_context(certs: dict[str, str], client: str | None = None) -> ssl.SSLContext:
    """A context that verifies the server against the test CA (and host name 127.0.0.1)."""
    context = ssl.create_default_context(cafile=certs["ca"])
    if client is not None:
        context.load_cert_chain(certs[client], certs[f"{client}.key"])
    return context


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def peer_cn(url: str, context: ssl.SSLContext) -> str:
    """The subject CN of the certificate a new connection sees."""
    with socket.create_connection(("127.0.0.1", port_of(url)), timeout=30) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            subject = dict(item[0] for item in tls.getpeercert()["subject"])
            return subject["commonName"]


def infer(url: str, context: ssl.SSLContext, name: str) -> tuple[int, dict]:
    conn = http.client.HTTPSConnection("127.0.0.1", port_of(url), context=context, timeout=30)
    try:
        conn.request("POST", f"/v2/models/{name}/infer", body=json.dumps(infer_body(INPUT, X)),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def refused(url: str, context: ssl.SSLContext, name: str) -> bool:
    """Whether the server refuses the client (in the handshake, or at the first read under TLS 1.3)."""
    try:
        infer(url, context, name)
    except (ssl.SSLError, ConnectionError, http.client.RemoteDisconnected):
        return True
    return False


INPUT = "x"


@pytest.fixture(scope="module", autouse=True)
def input_name(model) -> None:
    global INPUT
    INPUT = model.signature.inputs[0].name


def test_deploy_serves_https_to_a_verifying_client(model, certs, live):
    with mlship.deploy(model, name="double", port=0, tls_cert=live["cert"], tls_key=live["key"]) as dep:
        assert dep.url.startswith("https://127.0.0.1:")
        assert dep.dashboard_url.startswith("https://")
        status, body = infer(dep.url, client_context(certs), "double")
        assert status == 200, body
        assert body["outputs"][0]["data"] == (X * 2).ravel().tolist()
        assert peer_cn(dep.url, client_context(certs)) == "server-a"
        # A client that trusts another CA refuses the server's certificate.
        with pytest.raises(ssl.SSLCertVerificationError):
            infer(dep.url, ssl.create_default_context(cafile=certs["other-ca"]), "double")
        # Plain HTTP on the TLS port: a 400 saying to use https, and the server goes on.
        conn = http.client.HTTPConnection("127.0.0.1", port_of(dep.url), timeout=30)
        conn.request("GET", "/v2/health/live")
        plain = conn.getresponse()
        assert plain.status == 400 and "https://" in json.loads(plain.read())["error"]
        conn.close()
        assert infer(dep.url, client_context(certs), "double")[0] == 200
        assert dep.settings["tls_cert"] == live["cert"]


def test_reload_tls_swaps_the_certificate_and_a_bad_file_keeps_the_old_one(model, certs, live):
    with mlship.deploy(model, name="double", port=0, tls_cert=live["cert"], tls_key=live["key"]) as dep:
        use(live, certs, "server-b")
        assert dep.reload() == ["TLS certificate"]
        assert peer_cn(dep.url, client_context(certs)) == "server-b"
        Path(live["cert"]).write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
        with pytest.raises(mlship.MlshipError, match="tls_cert"):
            dep.reload_tls()
        shutil.copy(certs["server-a"], live["cert"])  # server-a's certificate with server-b's key
        with pytest.raises(mlship.MlshipError, match="is not the key of the certificate"):
            dep.server.reload()
        assert peer_cn(dep.url, client_context(certs)) == "server-b"
        assert infer(dep.url, client_context(certs), "double")[0] == 200


def test_without_tls_reload_tls_raises_and_urls_stay_http(model):
    with mlship.deploy(model, name="double", port=0) as dep:
        assert dep.url.startswith("http://")
        with pytest.raises(mlship.MlshipError, match="does not serve TLS"):
            dep.reload_tls()
        assert dep.reload() == []


def test_bad_tls_options_stop_the_start(model, certs, live):
    with pytest.raises(mlship.MlshipError, match="both tls_cert and tls_key"):
        mlship.deploy(model, port=0, tls_cert=live["cert"])
    with pytest.raises(mlship.MlshipError, match="tls_client_ca .* needs TLS"):
        mlship.deploy(model, port=0, tls_client_ca=certs["ca"])
    with pytest.raises(mlship.MlshipError, match="cannot be read"):
        mlship.deploy(model, port=0, tls_cert=live["cert"] + ".missing", tls_key=live["key"])


def test_serve_with_a_repository_speaks_https(model, certs, live, tmp_path):
    repo = mlship.Repository(tmp_path / "repo")
    repo.add("double", model)
    with mlship.serve(tmp_path / "repo", port=0, tls_cert=live["cert"], tls_key=live["key"]) as server:
        assert server.url.startswith("https://")
        assert infer(server.url, client_context(certs), "double")[0] == 200


@pytest.fixture(params=["serve", "native"])
def mtls_server(request, saved, certs, live):
    """``mlship serve`` or ``mlship-server`` with TLS and client certificates from the test CA,
    on HTTP and gRPC: its process, HTTPS URL and gRPC port."""
    flags = [saved, "--name", "double", "--port", "0", "--grpc-port", "-1", "--tls-cert", live["cert"],
             "--tls-key", live["key"], "--tls-client-ca", certs["ca"]]
    if request.param == "serve":
        cmd = [sys.executable, "-m", "mlship", "serve", *flags]
    else:
        cmd = [str(server_executable()), *flags]
    seen: list[str] = []
    proc, address = start(cmd, seen=seen)
    yield proc, address, int(re.search(r"grpc://127\.0\.0\.1:(\d+)", seen[-1]).group(1))
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=60)


def handshake_refused(port: int, context: ssl.SSLContext, newest: ssl.TLSVersion) -> bool:
    """Whether the server refuses a handshake that offers TLS 1.0 up to `newest`. The client
    allows the old versions (security level 0, which Debian's OpenSSL otherwise forbids), so a
    server that accepted them would complete the handshake."""
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():  # the old versions are deprecated in Python too: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = newest
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1"):
                return False
    except (ssl.SSLError, ConnectionError):
        return True


def grpc_client_cn_and_answer(port: int, certs: dict[str, str]) -> tuple[str, list]:
    """Over gRPC with the good client certificate: the server certificate's CN and an answer."""
    from tritonclient import grpc as tgrpc

    cn = grpc_peer_cn(port, client_context(certs, "client"))
    client = tgrpc.InferenceServerClient(f"127.0.0.1:{port}", ssl=True, root_certificates=certs["ca"],
                                         private_key=certs["client.key"], certificate_chain=certs["client"])
    x = tgrpc.InferInput(INPUT, list(X.shape), "FP32")
    x.set_data_from_numpy(X)
    answer = client.infer("double", [x], client_timeout=30).as_numpy(client.get_model_metadata("double")
                                                                     .outputs[0].name).tolist()
    client.close()
    return cn, answer


def test_both_servers_serve_mtls_and_reload_on_sighup(mtls_server, certs, live):
    import time

    proc, url, grpc_port = mtls_server
    assert url.startswith("https://")
    good = client_context(certs, "client")
    status, body = infer(url, good, "double")
    assert status == 200 and body["outputs"][0]["data"] == (X * 2).ravel().tolist()
    assert refused(url, client_context(certs), "double"), "a client without a certificate was served"
    assert refused(url, client_context(certs, "other-client"), "double"), "another CA's certificate was accepted"
    assert grpc_client_cn_and_answer(grpc_port, certs) == ("server-a", (X * 2).tolist())
    for port in (port_of(url), grpc_port):
        assert handshake_refused(port, client_context(certs, "client"), ssl.TLSVersion.TLSv1_1), \
            f"TLS 1.0/1.1 was accepted on port {port}"
        assert not handshake_refused(port, client_context(certs, "client"), ssl.TLSVersion.TLSv1_2), \
            "the same client offering TLS 1.2 as well must be served (else the check above proves nothing)"

    use(live, certs, "server-b")
    proc.send_signal(signal.SIGHUP)
    seen: list[str] = []
    line = read_line_matching(proc, r"SIGHUP", seen, seconds=60)
    assert line is not None and "reloaded TLS certificate" in line, seen
    assert peer_cn(url, good) == "server-b"
    grpc_seen = []
    for _ in range(50):  # bounded: 50 x 0.1 s; gRPC re-reads its checked copies every second
        grpc_seen.append(grpc_peer_cn(grpc_port, client_context(certs, "client")))
        if grpc_seen[-1] == "server-b":
            break
        time.sleep(0.1)
    assert grpc_seen[-1] == "server-b", grpc_seen
    assert grpc_client_cn_and_answer(grpc_port, certs) == ("server-b", (X * 2).tolist())

    Path(live["key"]).write_text("not a key\n")
    proc.send_signal(signal.SIGHUP)
    line = read_line_matching(proc, r"SIGHUP", seen, seconds=60)
    assert line is not None and "reload failed" in line and "tls_key" in line, seen
    assert peer_cn(url, good) == "server-b"
    assert infer(url, good, "double")[0] == 200

    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out


def test_grpc_serves_tls_and_mtls_from_the_same_files(model, certs, live):
    """gRPC listens with the HTTP server's certificate; with a client CA it asks clients for theirs."""
    from tritonclient import grpc as tgrpc
    from tritonclient.utils import InferenceServerException

    with mlship.deploy(model, name="double", port=0, grpc_port=-1, tls_cert=live["cert"], tls_key=live["key"],
                       tls_client_ca=certs["ca"]) as dep:
        target = f"127.0.0.1:{dep.grpc_port}"
        good = tgrpc.InferenceServerClient(target, ssl=True, root_certificates=certs["ca"],
                                           private_key=certs["client.key"], certificate_chain=certs["client"])
        assert good.is_server_live()
        x = tgrpc.InferInput(INPUT, list(X.shape), "FP32")
        x.set_data_from_numpy(X)
        assert good.infer("double", [x]).as_numpy(model.signature.outputs[0].name).tolist() == (X * 2).tolist()
        for client in (tgrpc.InferenceServerClient(target, ssl=True, root_certificates=certs["ca"]),  # no client cert
                       tgrpc.InferenceServerClient(target, ssl=True, root_certificates=certs["ca"],
                                                   private_key=certs["other-client.key"],
                                                   certificate_chain=certs["other-client"]),
                       tgrpc.InferenceServerClient(target)):  # plain text
            with pytest.raises(InferenceServerException):
                client.is_server_live(client_timeout=10)
        assert good.is_server_live()


def test_grpc_refuses_to_start_with_a_bad_key(model, certs, live):
    Path(live["key"]).write_text("not a key\n")
    with pytest.raises(mlship.MlshipError, match="tls"):
        mlship.deploy(model, name="double", port=0, grpc_port=-1, tls_cert=live["cert"], tls_key=live["key"])


def grpc_peer_cn(port: int, context: ssl.SSLContext) -> str:
    """The subject CN of the certificate a new TLS connection to the gRPC port sees."""
    context.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return dict(item[0] for item in tls.getpeercert()["subject"])["commonName"]


def test_grpc_takes_a_reloaded_certificate_and_never_a_bad_one(model, certs, live):
    import time

    with mlship.deploy(model, name="double", port=0, grpc_port=-1, tls_cert=live["cert"], tls_key=live["key"]) as dep:
        assert grpc_peer_cn(dep.grpc_port, client_context(certs)) == "server-a"
        # A half-renewed pair (b's certificate, a's key): the reload fails and gRPC keeps a.
        shutil.copy(certs["server-b"], live["cert"])
        with pytest.raises(mlship.MlshipError):
            dep.reload_tls()
        time.sleep(2.5)  # gRPC re-reads its checked copies every second: give it two chances
        assert grpc_peer_cn(dep.grpc_port, client_context(certs)) == "server-a"
        use(live, certs, "server-b")
        dep.reload_tls()
        seen = []
        for _ in range(50):  # bounded: 50 x 0.1 s, the refresh is 1 s
            seen.append(grpc_peer_cn(dep.grpc_port, client_context(certs)))
            if seen[-1] == "server-b":
                break
            time.sleep(0.1)
        assert seen[-1] == "server-b", seen
        assert peer_cn(dep.url, client_context(certs)) == "server-b"
