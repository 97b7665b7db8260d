#!/usr/bin/env python3
"""The teehsm gRPC API from Python, with nothing teehsm-specific but the .proto.

Run by tests/grpc/run.sh, which starts the CA, generates the stubs
(PYTHONPATH) and registers the clients (environment below). Implements the
per-call authenticator (HMAC-SHA-256 over the auth message of kms.proto's
header comment, over SerializeToString(deterministic=True)) and checks the
TA's response MAC on every answer; calls every RPC, the error paths with
their exact grpc.StatusCode, and verifies signatures with `cryptography`
(P-256, RSA) and the `openssl` CLI (SM2). Prints "N passed, M failed".
"""

import hashlib
import hmac
import os
import subprocess
import sys
import time
import traceback

import grpc
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from teehsm.v1 import kms_pb2 as pb
from teehsm.v1 import kms_pb2_grpc as pb_grpc

ADDR = os.environ["TEEHSM_GRPC_ADDR"]
CA_PEM = open(os.environ["TEEHSM_GRPC_CA"], "rb").read()
TMP = os.environ.get("TEEHSM_TMP", "/tmp")
SERVICE = "/teehsm.v1.KeyManagementService/"
SC = grpc.StatusCode


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def auth_message(client_id: str, ts: int, nonce: bytes, method: str, body: bytes) -> bytes:
    cid, m = client_id.encode(), method.encode()
    return (b"teehsm-api-v1" + bytes([len(cid)]) + cid + ts.to_bytes(8, "big") + nonce
            + len(m).to_bytes(2, "big") + m + body)


def response_message(request_mac: bytes, code: int, message: str, body: bytes) -> bytes:
    msg = message.encode()
    return (b"teehsm-api-resp-v1" + request_mac + code.to_bytes(4, "big")
            + len(msg).to_bytes(4, "big") + msg + body)


class ApiError(Exception):
    def __init__(self, code, details, authenticated):
        super().__init__(f"{code.name}: {details}")
        self.code, self.details, self.authenticated = code, details, authenticated


class ResponseMacMismatch(Exception):
    pass


def find_md(pairs, name):
    for k, v in pairs or ():
        if k == name:
            return v
    return None


class Api:
    """One client: a TLS channel and optional credentials."""

    def __init__(self, client_id=None, secret_hex=None):
        creds = grpc.ssl_channel_credentials(root_certificates=CA_PEM)
        self.channel = grpc.secure_channel(ADDR, creds)
        self.stub = pb_grpc.KeyManagementServiceStub(self.channel)
        self.client_id = client_id
        self.secret = bytes.fromhex(secret_hex) if secret_hex else None

    def metadata(self, method, req, ts=None, nonce=None):
        """The four x-teehsm-* headers and the request MAC."""
        if not self.client_id:
            return [], None
        ts = int(time.time() * 1000) if ts is None else ts
        nonce = os.urandom(16) if nonce is None else nonce
        body = req.SerializeToString(deterministic=True)
        mac = hmac.new(self.secret, auth_message(self.client_id, ts, nonce, SERVICE + method, body), hashlib.sha256).digest()
        md = [("x-teehsm-client-id", self.client_id), ("x-teehsm-timestamp-ms", str(ts)),
              ("x-teehsm-nonce", nonce.hex()), ("x-teehsm-mac", mac.hex())]
        return md, mac

    def send(self, method, req, md, mac):
        """Sends with the given metadata and checks the response MAC."""
        try:
            resp, call = getattr(self.stub, method).with_call(req, metadata=md, timeout=60)
        except grpc.RpcError as e:
            if mac is None:
                raise ApiError(e.code(), e.details(), False) from None
            got = find_md(e.trailing_metadata(), "x-teehsm-response-mac") or find_md(e.initial_metadata(), "x-teehsm-response-mac")
            if got is None or set(got) == {"0"}:
                raise ApiError(e.code(), e.details(), False) from None
            want = hmac.new(self.secret, response_message(mac, e.code().value[0], e.details() or "", b""), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, got):
                raise ResponseMacMismatch(f"{method}: error status MAC does not verify") from None
            raise ApiError(e.code(), e.details(), True) from None
        if mac is not None:
            got = find_md(call.initial_metadata(), "x-teehsm-response-mac") or find_md(call.trailing_metadata(), "x-teehsm-response-mac")
            if got is None:
                raise ResponseMacMismatch(f"{method}: no response MAC")
            body = resp.SerializeToString(deterministic=True)
            want = hmac.new(self.secret, response_message(mac, 0, "", body), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, got):
                raise ResponseMacMismatch(f"{method}: response MAC does not verify")
        return resp

    def __call__(self, method, req):
        md, mac = self.metadata(method, req)
        return self.send(method, req, md, mac)


def expect(code, fn, *args, ta=True):
    """fn(*args) must fail with `code`; with ta=True the status must carry the TA's MAC."""
    try:
        r = fn(*args)
    except ApiError as e:
        assert e.code == code, f"wanted {code.name}, got {e.code.name}: {e.details}"
        assert not ta or e.authenticated, f"{code.name} ({e.details}) carries no valid TA response MAC"
        return e.details
    raise AssertionError(f"wanted {code.name}, got a response: {r}")


A = pb.Algorithm
api = Api(os.environ["TEEHSM_CLIENT_ID"], os.environ["TEEHSM_CLIENT_SECRET"])
ro = Api(os.environ["TEEHSM_RO_CLIENT_ID"], os.environ["TEEHSM_RO_CLIENT_SECRET"])
anon = Api()
MSG = b"pay 100 to alice"
state = {}


def create(name, alg, **kw):
    return api("CreateKey", pb.CreateKeyRequest(name=name, algorithm=alg, **kw))


def public_key(client, name, version=0):
    pk = client("GetPublicKey", pb.GetPublicKeyRequest(name=name, version=version))
    assert pk.pem_crc32c == crc32c(pk.pem.encode())
    return pk


def sign(client, name, data=MSG, **kw):
    return client("Sign", pb.SignRequest(name=name, data=data, data_crc32c=crc32c(data), **kw))


# ------------------------------------------------------------------ tests

def test_generate_random():
    r = api("GenerateRandom", pb.GenerateRandomRequest(length_bytes=32))
    assert len(r.data) == 32 and r.data_crc32c == crc32c(r.data)
    assert len(anon("GenerateRandom", pb.GenerateRandomRequest(length_bytes=1024)).data) == 1024
    expect(SC.INVALID_ARGUMENT, api, "GenerateRandom", pb.GenerateRandomRequest(length_bytes=0))
    expect(SC.INVALID_ARGUMENT, api, "GenerateRandom", pb.GenerateRandomRequest(length_bytes=1025))


def test_get_attestation():
    r = anon("GetAttestation", pb.GetAttestationRequest(nonce=bytes(range(32))))
    assert r.report and r.platform and len(r.measurement) == 32
    expect(SC.INVALID_ARGUMENT, anon, "GetAttestation", pb.GetAttestationRequest(nonce=b"short"), ta=False)


def test_anonymous_and_forged_calls_are_refused():
    d = expect(SC.UNAUTHENTICATED, anon, "Sign", pb.SignRequest(name="py/p256", data=b"x"), ta=False)
    assert "authenticator" in d, d
    forger = Api(os.environ["TEEHSM_CLIENT_ID"], "00" * 32)
    expect(SC.UNAUTHENTICATED, forger, "ListKeys", pb.ListKeysRequest(), ta=False)


def test_create_key_idempotent():
    req = dict(request_id="py-req-1")
    k = create("py/p256", A.EC_SIGN_P256_SHA256, **req)
    assert k.name == "py/p256" and k.algorithm == A.EC_SIGN_P256_SHA256 and k.primary_version == 1
    assert k.purpose == pb.ASYMMETRIC_SIGN and k.creator == os.environ["TEEHSM_CLIENT_ID"]
    assert create("py/p256", A.EC_SIGN_P256_SHA256, **req) == k
    expect(SC.ALREADY_EXISTS, create, "py/p256", A.EC_SIGN_P256_SHA256)
    expect(SC.INVALID_ARGUMENT, create, "py/none", A.ALGORITHM_UNSPECIFIED)
    assert api("GetKey", pb.GetKeyRequest(name="py/p256")) == k


def test_unknown_key_not_found():
    d = expect(SC.NOT_FOUND, api, "GetKey", pb.GetKeyRequest(name="py/missing"))
    assert "py/missing" in d, d
    expect(SC.NOT_FOUND, sign, api, "py/missing")


def test_p256_sign_verified_by_cryptography():
    pk = public_key(api, "py/p256")
    key = serialization.load_pem_public_key(pk.pem.encode())
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == pk.der
    s = sign(api, "py/p256")
    assert s.verified_data_crc32c and s.signature_crc32c == crc32c(s.signature)
    key.verify(s.signature, MSG, ec.ECDSA(hashes.SHA256()))
    digest = hashlib.sha256(MSG).digest()
    s2 = api("Sign", pb.SignRequest(name="py/p256", digest=digest, digest_crc32c=crc32c(digest)))
    assert s2.verified_digest_crc32c
    key.verify(s2.signature, MSG, ec.ECDSA(hashes.SHA256()))
    v = api("Verify", pb.VerifyRequest(name="py/p256", data=MSG, signature=s.signature))
    assert v.valid
    v = api("Verify", pb.VerifyRequest(name="py/p256", data=b"pay 999 to mallory", signature=s.signature))
    assert not v.valid
    state["p256_sig"] = s.signature


def test_bad_crc_invalid_argument():
    d = expect(SC.INVALID_ARGUMENT, api, "Sign", pb.SignRequest(name="py/p256", data=MSG, data_crc32c=crc32c(MSG) ^ 1))
    assert "crc32c" in d, d


def test_sm2_sign_verified_by_openssl():
    create("py/sm2", A.SM2_SIGN_SM3)
    pem = public_key(api, "py/sm2").pem
    for uid in (None, b"alice@bank.example"):
        s = sign(api, "py/sm2", sm2_user_id=uid or b"")
        paths = {}
        for name, content in (("pem", pem.encode()), ("data", MSG), ("sig", s.signature)):
            paths[name] = os.path.join(TMP, f"py-sm2.{name}")
            with open(paths[name], "wb") as f:
                f.write(content)
        distid = (uid or b"1234567812345678").decode()
        out = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", paths["pem"], "-rawin", "-digest", "sm3",
                              "-in", paths["data"], "-sigfile", paths["sig"], "-pkeyopt", f"distid:{distid}"],
                             capture_output=True, text=True)
        assert out.returncode == 0 and "Signature Verified Successfully" in out.stdout, out.stdout + out.stderr


def test_rsa_pss_sign_verified_by_cryptography():
    create("py/rsa-pss", A.RSA_SIGN_PSS_2048_SHA256)
    key = serialization.load_pem_public_key(public_key(api, "py/rsa-pss").pem.encode())
    s = sign(api, "py/rsa-pss")
    key.verify(s.signature, MSG, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())


def test_rsa_oaep_encrypt_with_cryptography_decrypt_in_ta():
    create("py/wrap", A.RSA_DECRYPT_OAEP_2048_SHA256)
    pk = public_key(api, "py/wrap")
    key = serialization.load_pem_public_key(pk.pem.encode())
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    ct = key.encrypt(b"the launch code is 0000", oaep)
    r = api("Decrypt", pb.DecryptRequest(name="py/wrap", ciphertext=ct, ciphertext_crc32c=crc32c(ct)))
    assert r.plaintext == b"the launch code is 0000" and r.verified_ciphertext_crc32c
    state["wrap_key"] = key


def wrap(material):
    aes = os.urandom(32)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return state["wrap_key"].encrypt(aes, oaep) + aes_key_wrap_with_padding(aes, material)


def test_import_key_hmac_and_mac_sign_verify():
    material = os.urandom(32)
    k = api("ImportKey", pb.ImportKeyRequest(name="py/hmac", algorithm=A.HMAC_SHA256, wrapping_key_name="py/wrap",
                                             wrapped_key=wrap(material)))
    assert k.versions[0].imported
    m = api("MacSign", pb.MacSignRequest(name="py/hmac", data=MSG, data_crc32c=crc32c(MSG)))
    assert m.verified_data_crc32c and m.mac == hmac.new(material, MSG, hashlib.sha256).digest()
    assert api("MacVerify", pb.MacVerifyRequest(name="py/hmac", data=MSG, mac=m.mac)).success
    assert not api("MacVerify", pb.MacVerifyRequest(name="py/hmac", data=MSG + b"!", mac=m.mac)).success


def test_import_key_aes_and_aead():
    material = os.urandom(32)
    api("ImportKey", pb.ImportKeyRequest(name="py/aes", algorithm=A.AES_256_GCM, wrapping_key_name="py/wrap",
                                         wrapped_key=wrap(material)))
    e = api("Encrypt", pb.EncryptRequest(name="py/aes", plaintext=b"card 4111", additional_authenticated_data=b"acct-7",
                                         plaintext_crc32c=crc32c(b"card 4111")))
    assert e.verified_plaintext_crc32c and e.ciphertext[:4] == (1).to_bytes(4, "big")
    assert AESGCM(material).decrypt(e.ciphertext[4:16], e.ciphertext[16:], b"acct-7") == b"card 4111"
    nonce = os.urandom(12)
    mine = (1).to_bytes(4, "big") + nonce + AESGCM(material).encrypt(nonce, b"made in python", b"")
    assert api("Decrypt", pb.DecryptRequest(name="py/aes", ciphertext=mine)).plaintext == b"made in python"
    expect(SC.INVALID_ARGUMENT, api, "Decrypt", pb.DecryptRequest(name="py/aes", ciphertext=e.ciphertext,
                                                                 additional_authenticated_data=b"acct-8"))


def test_wrong_purpose_failed_precondition():
    expect(SC.FAILED_PRECONDITION, api, "Encrypt", pb.EncryptRequest(name="py/p256", plaintext=b"x"))
    expect(SC.FAILED_PRECONDITION, sign, api, "py/aes")


def test_oversized_invalid_argument():
    d = expect(SC.INVALID_ARGUMENT, api, "Encrypt", pb.EncryptRequest(name="py/aes", plaintext=bytes(70000)))
    assert "65536" in d, d


def test_ml_kem():
    create("py/kem", A.ML_KEM_768)
    e = api("Encapsulate", pb.EncapsulateRequest(name="py/kem"))
    d = api("Decapsulate", pb.DecapsulateRequest(name="py/kem", ciphertext=e.ciphertext, ciphertext_crc32c=crc32c(e.ciphertext)))
    assert len(e.shared_secret) == 32 and d.shared_secret == e.shared_secret and d.verified_ciphertext_crc32c


def test_rotate_key():
    r = api("RotateKey", pb.RotateKeyRequest(name="py/p256", request_id="py-rot-1"))
    assert r.primary_version == 2 and len(r.versions) == 2
    assert api("RotateKey", pb.RotateKeyRequest(name="py/p256", request_id="py-rot-1")) == r
    assert sign(api, "py/p256").version == 2
    assert sign(api, "py/p256", version=1).version == 1


def test_automatic_rotation():
    first = int(time.time() * 1000) + 300
    k = create("py/rotating", A.AES_256_GCM, rotation_period_seconds=86400, next_rotation_time_ms=first)
    assert k.rotation_period_seconds == 86400 and k.next_rotation_time_ms == first, k
    time.sleep(0.4)
    e = api("Encrypt", pb.EncryptRequest(name="py/rotating", plaintext=b"after"))
    assert e.version == 2, e
    k = api("GetKey", pb.GetKeyRequest(name="py/rotating"))
    assert k.primary_version == 2 and k.next_rotation_time_ms == first + 86400 * 1000, k
    off = api("UpdateKeyRotation", pb.UpdateKeyRotationRequest(name="py/rotating", rotation_period_seconds=0))
    assert off.rotation_period_seconds == 0 and off.next_rotation_time_ms == 0, off
    d = expect(SC.INVALID_ARGUMENT, api, "UpdateKeyRotation", pb.UpdateKeyRotationRequest(name="py/rotating", rotation_period_seconds=60))
    assert "a day" in d, d


def test_disable_and_enable_a_version():
    create("py/dis", A.AES_128_GCM)
    ct = api("Encrypt", pb.EncryptRequest(name="py/dis", plaintext=b"x")).ciphertext
    k = api("UpdateKeyVersionState", pb.UpdateKeyVersionStateRequest(name="py/dis", version=1, state=pb.DISABLED))
    assert k.versions[0].state == pb.DISABLED, k
    d = expect(SC.FAILED_PRECONDITION, api, "Decrypt", pb.DecryptRequest(name="py/dis", ciphertext=ct))
    assert "disabled" in d, d
    api("UpdateKeyVersionState", pb.UpdateKeyVersionStateRequest(name="py/dis", version=1, state=pb.ENABLED))
    assert api("Decrypt", pb.DecryptRequest(name="py/dis", ciphertext=ct)).plaintext == b"x"


def test_acl_permission_denied():
    d = expect(SC.PERMISSION_DENIED, sign, ro, "py/p256")
    assert "svc-py-ro" in d and "sign" in d, d
    assert ro("Verify", pb.VerifyRequest(name="py/p256", version=1, data=MSG, signature=state["p256_sig"])).valid
    expect(SC.PERMISSION_DENIED, ro, "CreateKey", pb.CreateKeyRequest(name="py/p256x", algorithm=A.AES_128_GCM))
    expect(SC.PERMISSION_DENIED, ro, "GetPublicKey", pb.GetPublicKeyRequest(name="py/sm2"))
    listed = ro("ListKeys", pb.ListKeysRequest())
    assert [k.name for k in listed.keys] == ["py/p256"] and listed.total_size == 1, listed


def test_list_keys_paging():
    for i in range(5):
        create(f"py/list/k{i}", A.AES_128_GCM)
    names, token, pages = [], "", 0
    while True:
        p = api("ListKeys", pb.ListKeysRequest(page_size=2, page_token=token, name_prefix="py/list/"))
        assert p.total_size == 5 and len(p.keys) <= 2
        names += [k.name for k in p.keys]
        pages += 1
        if not p.next_page_token:
            break
        token = p.next_page_token
        assert pages < 10
    assert pages == 3 and names == [f"py/list/k{i}" for i in range(5)], names
    expect(SC.INVALID_ARGUMENT, api, "ListKeys", pb.ListKeysRequest(page_size=1001))
    expect(SC.INVALID_ARGUMENT, api, "ListKeys", pb.ListKeysRequest(page_token="not a token!"))


def test_destroy_restore():
    create("py/del", A.EC_SIGN_P256_SHA256)
    k = api("DestroyKey", pb.DestroyKeyRequest(name="py/del"))
    assert [v.state for v in k.versions] == [pb.DESTROY_SCHEDULED]
    expect(SC.FAILED_PRECONDITION, sign, api, "py/del")
    k = api("RestoreKey", pb.RestoreKeyRequest(name="py/del"))
    assert [v.state for v in k.versions] == [pb.ENABLED]
    sign(api, "py/del")
    expect(SC.FAILED_PRECONDITION, api, "RestoreKey", pb.RestoreKeyRequest(name="py/del"))


def test_destroy_window_expiry():
    create("py/short", A.AES_128_GCM, destroy_scheduled_duration_seconds=1)
    api("DestroyKey", pb.DestroyKeyRequest(name="py/short"))
    time.sleep(1.6)
    k = api("GetKey", pb.GetKeyRequest(name="py/short"))
    assert [v.state for v in k.versions] == [pb.DESTROYED], k
    expect(SC.FAILED_PRECONDITION, api, "Encrypt", pb.EncryptRequest(name="py/short", plaintext=b"x"))
    expect(SC.FAILED_PRECONDITION, api, "RestoreKey", pb.RestoreKeyRequest(name="py/short"))


def test_replay_refused():
    req = pb.SignRequest(name="py/p256", data=b"once")
    md, mac = api.metadata("Sign", req)
    api.send("Sign", req, md, mac)
    d = expect(SC.UNAUTHENTICATED, api.send, "Sign", req, md, mac, ta=False)
    assert "nonce" in d, d


def test_stale_timestamp_refused():
    req = pb.SignRequest(name="py/p256", data=b"late")
    md, mac = api.metadata("Sign", req, ts=int(time.time() * 1000) - 600_000)
    expect(SC.UNAUTHENTICATED, api.send, "Sign", req, md, mac, ta=False)


def test_response_mac_check_catches_changes():
    # The checker itself: a changed body, code or message does not verify.
    mac = os.urandom(32)
    secret = api.secret
    good = hmac.new(secret, response_message(mac, 0, "", b"\x0a\x01x"), hashlib.sha256).digest()
    for code, message, body in ((0, "", b"\x0a\x01y"), (5, "", b"\x0a\x01x"), (0, "x", b"\x0a\x01x")):
        assert not hmac.compare_digest(good, hmac.new(secret, response_message(mac, code, message, body), hashlib.sha256).digest())


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_") and callable(v)]


def main():
    passed = failed = 0
    for t in TESTS:
        try:
            t()
            passed += 1
            print(f"ok   {t.__name__}")
        except Exception:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f"FAIL {t.__name__}")
            traceback.print_exc(limit=3)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
