#!/usr/bin/env python3
"""Python as a PKCS#11 client of teehsm, unchanged: PyKCS11 loads
libteehsm_pkcs11.so; results are checked with Python's `cryptography`.

Starts its own teehsm-ca with the dev token (slot 0, label dev-token, user PIN
123456) on a temporary state directory and stops it (SIGTERM) when it ends,
whatever the exit path.

usage: tests/clients/python-pykcs11.py
Env:
  TEEHSM_PKCS11_MODULE  module under test               (default: <repo>/target/debug/libteehsm_pkcs11.so)
  TEEHSM_BIN_DIR        where teehsm-ca and teehsm-ta are (default: the module's directory)
Output: one "PASS name" / "FAIL name" line per check, then "N passed, N failed".
Exit status: 0 when every check passed, 1 otherwise.
Needs: pip install PyKCS11 cryptography (scripts/install-deps.sh).
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = os.environ.get("TEEHSM_PKCS11_MODULE") or os.path.join(REPO, "target/debug/libteehsm_pkcs11.so")
BIN_DIR = os.environ.get("TEEHSM_BIN_DIR") or os.path.dirname(MODULE)
CA_BIN = os.path.join(BIN_DIR, "teehsm-ca")
USER_PIN = "123456"
TOKEN_LABEL = "dev-token"
# DER of the OID prime256v1 (1.2.840.10045.3.1.7): CKA_EC_PARAMS of a P-256 key.
P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")

passed = 0
failed = 0
failed_names = []


def die(msg):
    print(f"python-pykcs11: {msg}", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(1)


try:
    import PyKCS11 as P
    from PyKCS11 import PyKCS11Error
except ImportError:
    die("PyKCS11 is missing (scripts/install-deps.sh installs it: pip install PyKCS11)")
try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError:
    die("Python cryptography is missing (scripts/install-deps.sh installs it)")


def check(name, fn):
    """Runs fn(); PASS when it returns without raising."""
    global passed, failed
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - any failure of the check is reported
        failed += 1
        failed_names.append(name)
        print(f"FAIL {name}")
        detail = f"{type(e).__name__}: {e}" if not isinstance(e, PyKCS11Error) else f"PyKCS11Error: {e}"
        for line in detail.splitlines() + traceback.format_exc().splitlines()[-4:-1]:
            print(f"    | {line}")
        return False
    passed += 1
    print(f"PASS {name}")
    return True


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def expect_sensitive(session, obj, attr):
    """C_GetAttributeValue of `attr` must return CKR_ATTRIBUTE_SENSITIVE
    (PyKCS11's getAttributeValue hides the code and returns None, so ask
    through its low-level binding)."""
    t = P.LowLevel.ckattrlist(1)
    t[0].SetType(attr)
    rv = session.lib.C_GetAttributeValue(session.session, obj, t)
    expect(rv == P.CKR_ATTRIBUTE_SENSITIVE, f"{P.CKA[attr]}: expected CKR_ATTRIBUTE_SENSITIVE, got {P.CKR.get(rv, hex(rv))}")
    # (The module sets ulValueLen to CK_UNAVAILABLE_INFORMATION, as pkcs11-spy
    # shows, but PyKCS11's binding does not hand that length back: GetLen() is 0.)
    expect(session.getAttributeValue(obj, [attr]) == [None], f"{P.CKA[attr]}: PyKCS11 got a value")


def expect_ckr(code, fn):
    """fn() must raise PyKCS11Error with CKR value `code`."""
    try:
        fn()
    except PyKCS11Error as e:
        expect(e.value == code, f"expected {P.CKR[code]}, got {P.CKR.get(e.value, hex(e.value))}")
        return
    raise AssertionError(f"expected {P.CKR[code]}, the call succeeded")


class Ca:
    """teehsm-ca with the dev token on a temporary state directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="teehsm-pykcs11.")
        self.proc = None

    def start(self):
        state = os.path.join(self.dir, "state")
        env = dict(os.environ)
        env.setdefault("TEEHSM_CA_LOG_LEVEL", "warn")
        self.log = open(os.path.join(self.dir, "ca.log"), "wb")
        self.proc = subprocess.Popen(
            [CA_BIN, "--state-dir", state, "--init-dev-token", "--http-listen", "127.0.0.1:0"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        os.environ["TEEHSM_PKCS11_SOCKET"] = os.path.join(state, "ca.sock")
        os.environ.pop("TEEHSM_PKCS11_CONF", None)
        # Ready once the dev token has its user PIN (asked in a separate process,
        # so this process's C_Initialize comes after the CA is up).
        for _ in range(600):
            if self.proc.poll() is not None:
                raise RuntimeError(f"teehsm-ca exited during start-up (status {self.proc.returncode}):\n"
                                   + self.tail())
            out = subprocess.run(["pkcs11-tool", "--module", MODULE, "-L"], capture_output=True, text=True)
            if "PIN initialized" in out.stdout:
                print(f"teehsm-ca (pid {self.proc.pid}) ready: {os.environ['TEEHSM_PKCS11_SOCKET']}")
                return
            time.sleep(0.1)
        raise RuntimeError("teehsm-ca did not become ready in 60 s:\n" + self.tail())

    def tail(self):
        try:
            with open(os.path.join(self.dir, "ca.log"), errors="replace") as f:
                return "".join(f.readlines()[-20:])
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def der_octet_string_content(b):
    """The content of a DER OCTET STRING (CKA_EC_POINT is one)."""
    expect(b[0] == 0x04, f"CKA_EC_POINT is not an OCTET STRING: {b[:4].hex()}")
    n = b[1]
    if n < 0x80:
        hdr = 2
    else:
        k = n & 0x7F
        n = int.from_bytes(b[2:2 + k], "big")
        hdr = 2 + k
    expect(len(b) == hdr + n, "CKA_EC_POINT: bad DER length")
    return b[hdr:]


def run(ca):
    for tool, hint in ((CA_BIN, "cargo build --bins, or set TEEHSM_BIN_DIR"),
                       (os.path.join(BIN_DIR, "teehsm-ta"), "cargo build --bins")):
        if not os.access(tool, os.X_OK):
            die(f"no {os.path.basename(tool)} at {tool} ({hint})")
    if not os.path.isfile(MODULE):
        die(f"no module at {MODULE} (cargo build -p teehsm-pkcs11, or set TEEHSM_PKCS11_MODULE)")
    if shutil.which("pkcs11-tool") is None:
        die("pkcs11-tool not found (scripts/install-deps.sh installs opensc)")
    ca.start()

    lib = P.PyKCS11Lib()
    st = {}

    def load():
        lib.load(MODULE)
        info = lib.getInfo()
        expect(info.manufacturerID.strip() == "teehsm", f"manufacturerID {info.manufacturerID!r}")
        expect(info.cryptokiVersion[0] >= 3, f"cryptokiVersion {info.cryptokiVersion}")
    if not check("load the module, C_GetInfo (manufacturer teehsm, Cryptoki 3.x)", load):
        return

    def slots():
        sl = lib.getSlotList(tokenPresent=True)
        expect(0 in sl, f"slot 0 not in {sl}")
        si = lib.getSlotInfo(0)
        expect("teehsm" in si.slotDescription, f"slotDescription {si.slotDescription!r}")
        expect(si.flags & P.CKF_TOKEN_PRESENT, "CKF_TOKEN_PRESENT not set")
        st["slot"] = 0
    check("C_GetSlotList / C_GetSlotInfo: slot 0 with a token", slots)

    def token():
        ti = lib.getTokenInfo(0)
        expect(ti.label.strip() == TOKEN_LABEL, f"label {ti.label!r}")
        want = P.CKF_TOKEN_INITIALIZED | P.CKF_USER_PIN_INITIALIZED | P.CKF_LOGIN_REQUIRED | P.CKF_RNG
        expect(ti.flags & want == want, f"flags {ti.flags2text()}")
        expect(ti.ulMinPinLen <= len(USER_PIN) <= ti.ulMaxPinLen, "PIN length limits")
    check("C_GetTokenInfo: dev-token, initialized, login required", token)

    def mechanisms():
        ml = lib.getMechanismList(0)
        # (PyKCS11 names 0x1040 by its old name CKM_ECDSA_KEY_PAIR_GEN.)
        for m in ("CKM_ECDSA_KEY_PAIR_GEN", "CKM_ECDSA_SHA256", "CKM_AES_KEY_GEN", "CKM_AES_GCM"):
            expect(m in ml, f"{m} not in the mechanism list")
        mi = lib.getMechanismInfo(0, "CKM_ECDSA_SHA256")
        expect(mi.flags & P.CKF_SIGN and mi.flags & P.CKF_VERIFY, f"ECDSA_SHA256 flags {mi.flags2text()}")
        mi = lib.getMechanismInfo(0, "CKM_AES_GCM")
        expect(mi.flags & P.CKF_ENCRYPT and mi.flags & P.CKF_DECRYPT, f"AES_GCM flags {mi.flags2text()}")
    check("C_GetMechanismList / C_GetMechanismInfo: ECDSA-SHA256, AES-GCM", mechanisms)

    s = lib.openSession(0, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION)

    def wrong_pin():
        expect_ckr(P.CKR_PIN_INCORRECT, lambda: s.login("999999"))
        expect(s.getSessionInfo().state == P.CKS_RW_PUBLIC_SESSION, "session state changed by a failed login")
        expect(lib.getTokenInfo(0).flags & P.CKF_USER_PIN_COUNT_LOW,
               "CKF_USER_PIN_COUNT_LOW not set after a wrong PIN")
    check("C_Login with a wrong PIN: CKR_PIN_INCORRECT", wrong_pin)

    def login():
        s.login(USER_PIN)
        expect(s.getSessionInfo().state == P.CKS_RW_USER_FUNCTIONS, "not CKS_RW_USER_FUNCTIONS")
        # PKCS#11: CKF_USER_PIN_COUNT_LOW means a wrong PIN "since the last successful authentication".
        expect(not lib.getTokenInfo(0).flags & P.CKF_USER_PIN_COUNT_LOW,
               "CKF_USER_PIN_COUNT_LOW still set after a successful login")
    if not check("C_Login with the user PIN: CKS_RW_USER_FUNCTIONS", login):
        return

    # --- EC P-256 key pair, ECDSA-SHA256 ----------------------------------
    def ec_keygen():
        pub_t = [(P.CKA_TOKEN, True), (P.CKA_LABEL, "py-ec"), (P.CKA_ID, b"\x31"),
                 (P.CKA_EC_PARAMS, P256_PARAMS), (P.CKA_VERIFY, True)]
        priv_t = [(P.CKA_TOKEN, True), (P.CKA_LABEL, "py-ec"), (P.CKA_ID, b"\x31"), (P.CKA_PRIVATE, True),
                  (P.CKA_SENSITIVE, True), (P.CKA_SIGN, True)]
        st["ec_pub"], st["ec_priv"] = s.generateKeyPair(pub_t, priv_t, mecha=P.MechanismECGENERATEKEYPAIR)
    check("C_GenerateKeyPair EC P-256 (token objects)", ec_keygen)

    def ec_attrs():
        point, params, label, kt = s.getAttributeValue(
            st["ec_pub"], [P.CKA_EC_POINT, P.CKA_EC_PARAMS, P.CKA_LABEL, P.CKA_KEY_TYPE])
        expect(bytes(params) == P256_PARAMS, f"CKA_EC_PARAMS {bytes(params).hex()}")
        expect(label == "py-ec", f"CKA_LABEL {label!r}")
        expect(kt == P.CKK_EC, f"CKA_KEY_TYPE {kt}")
        raw = der_octet_string_content(bytes(point))
        expect(len(raw) == 65 and raw[0] == 4, f"EC point {raw.hex()}")
        st["ec_crypto_pub"] = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        # The private key shares the public attributes but not CKA_VALUE.
        plabel, pparams = s.getAttributeValue(st["ec_priv"], [P.CKA_LABEL, P.CKA_EC_PARAMS])
        expect(plabel == "py-ec" and bytes(pparams) == P256_PARAMS, "private key label/params")
        expect_sensitive(s, st["ec_priv"], P.CKA_VALUE)
    check("C_GetAttributeValue: CKA_EC_POINT, CKA_EC_PARAMS, CKA_LABEL (private CKA_VALUE sensitive)", ec_attrs)

    msg = b"teehsm: PyKCS11 client check"

    def ecdsa():
        sig = bytes(s.sign(st["ec_priv"], msg, P.Mechanism(P.CKM_ECDSA_SHA256)))
        expect(len(sig) == 64, f"signature length {len(sig)}")
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        st["ec_crypto_pub"].verify(der, msg, ec.ECDSA(hashes.SHA256()))
        try:
            st["ec_crypto_pub"].verify(der, msg + b"!", ec.ECDSA(hashes.SHA256()))
            raise AssertionError("cryptography accepted the signature over another message")
        except InvalidSignature:
            pass
        st["ec_sig"] = sig
    check("C_Sign CKM_ECDSA_SHA256: cryptography verifies the signature", ecdsa)

    def ecdsa_verify_on_token():
        expect(s.verify(st["ec_pub"], msg, st["ec_sig"], P.Mechanism(P.CKM_ECDSA_SHA256)), "C_Verify")
        # PyKCS11's verify() returns False exactly when C_Verify says CKR_SIGNATURE_INVALID
        # (any other code raises).
        bad = bytearray(st["ec_sig"])
        bad[10] ^= 1
        expect(s.verify(st["ec_pub"], msg, bytes(bad), P.Mechanism(P.CKM_ECDSA_SHA256)) is False,
               "a tampered signature was not CKR_SIGNATURE_INVALID")
        expect(s.verify(st["ec_pub"], msg + b"!", st["ec_sig"], P.Mechanism(P.CKM_ECDSA_SHA256)) is False,
               "a signature over another message was not CKR_SIGNATURE_INVALID")
        # A valid signature by another (software) key is refused under the token's key.
        other = ec.generate_private_key(ec.SECP256R1())
        r, s_ = decode_dss_signature(other.sign(msg, ec.ECDSA(hashes.SHA256())))
        foreign = r.to_bytes(32, "big") + s_.to_bytes(32, "big")
        expect(s.verify(st["ec_pub"], msg, foreign, P.Mechanism(P.CKM_ECDSA_SHA256)) is False,
               "another key's signature was not CKR_SIGNATURE_INVALID")
    check("C_Verify CKM_ECDSA_SHA256 on the token (good: CKR_OK; tampered, other message, other key: CKR_SIGNATURE_INVALID)",
          ecdsa_verify_on_token)

    # --- AES-256 ----------------------------------------------------------
    def aes_keygen():
        t = [(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES), (P.CKA_VALUE_LEN, 32),
             (P.CKA_TOKEN, True), (P.CKA_PRIVATE, True), (P.CKA_SENSITIVE, True), (P.CKA_LABEL, "py-aes-gen"),
             (P.CKA_ENCRYPT, True), (P.CKA_DECRYPT, True)]
        st["aes_gen"] = s.generateKey(t, mecha=P.MechanismAESGENERATEKEY)
        (vlen,) = s.getAttributeValue(st["aes_gen"], [P.CKA_VALUE_LEN])
        expect(vlen == 32, f"CKA_VALUE_LEN {vlen}")
        expect_sensitive(s, st["aes_gen"], P.CKA_VALUE)
    check("C_GenerateKey AES-256 (CKA_VALUE_LEN 32, CKA_VALUE sensitive)", aes_keygen)

    def aes_gcm_roundtrip_generated():
        iv = bytes(s.generateRandom(12))
        m = P.AES_GCM_Mechanism(iv, b"aad", 128)
        ct = bytes(s.encrypt(st["aes_gen"], msg, m))
        expect(len(ct) == len(msg) + 16, f"ciphertext length {len(ct)}")
        pt = bytes(s.decrypt(st["aes_gen"], ct, P.AES_GCM_Mechanism(iv, b"aad", 128)))
        expect(pt == msg, "decrypted text differs")
        bad = bytearray(ct)
        bad[0] ^= 1
        expect_ckr(P.CKR_ENCRYPTED_DATA_INVALID,
                   lambda: s.decrypt(st["aes_gen"], bytes(bad), P.AES_GCM_Mechanism(iv, b"aad", 128)))
    check("AES-256-GCM with the generated key: C_Encrypt/C_Decrypt round trip, tampered tag refused",
          aes_gcm_roundtrip_generated)

    known_key = bytes(range(32))

    def aes_import():
        t = [(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES), (P.CKA_VALUE, known_key),
             (P.CKA_TOKEN, True), (P.CKA_PRIVATE, True), (P.CKA_SENSITIVE, True), (P.CKA_LABEL, "py-aes-known"),
             (P.CKA_ENCRYPT, True), (P.CKA_DECRYPT, True)]
        st["aes_known"] = s.createObject(t)
        (vlen,) = s.getAttributeValue(st["aes_known"], [P.CKA_VALUE_LEN])
        expect(vlen == 32, f"CKA_VALUE_LEN {vlen}")
    check("C_CreateObject: import a known AES-256 key (CKA_VALUE)", aes_import)

    def gcm_token_to_cryptography():
        iv = bytes.fromhex("cafebabefacedbaddecaf888")
        aad = b"header: teehsm"
        ct = bytes(s.encrypt(st["aes_known"], msg, P.AES_GCM_Mechanism(iv, aad, 128)))
        expect(ct == AESGCM(known_key).encrypt(iv, msg, aad), "ciphertext||tag differs from cryptography's")
        expect(AESGCM(known_key).decrypt(iv, ct, aad) == msg, "cryptography's AESGCM decryption")
    check("AES-256-GCM (CK_GCM_PARAMS, 96-bit IV, AAD): token encrypts, cryptography AESGCM decrypts",
          gcm_token_to_cryptography)

    def gcm_cryptography_to_token():
        iv = os.urandom(12)
        aad = b"other header"
        data = os.urandom(1000)
        ct = AESGCM(known_key).encrypt(iv, data, aad)
        pt = bytes(s.decrypt(st["aes_known"], ct, P.AES_GCM_Mechanism(iv, aad, 128)))
        expect(pt == data, "token's decryption differs")
    check("AES-256-GCM: cryptography AESGCM encrypts, token decrypts", gcm_cryptography_to_token)

    # --- finding, destroying ------------------------------------------------
    def find_by_label():
        ec_objs = s.findObjects([(P.CKA_LABEL, "py-ec")])
        expect(len(ec_objs) == 2, f"{len(ec_objs)} objects labelled py-ec")
        classes = sorted(s.getAttributeValue(o, [P.CKA_CLASS])[0] for o in ec_objs)
        expect(classes == [P.CKO_PUBLIC_KEY, P.CKO_PRIVATE_KEY], f"classes {classes}")
        priv = s.findObjects([(P.CKA_LABEL, "py-ec"), (P.CKA_CLASS, P.CKO_PRIVATE_KEY)])
        expect(len(priv) == 1 and priv[0].value() == st["ec_priv"].value(), "private key by label+class")
        aes = s.findObjects([(P.CKA_LABEL, "py-aes-known")])
        expect(len(aes) == 1 and aes[0].value() == st["aes_known"].value(), "py-aes-known by label")
        expect(s.findObjects([(P.CKA_LABEL, "no-such-label")]) == [], "a missing label found something")
    check("C_FindObjects by CKA_LABEL (and CKA_CLASS)", find_by_label)

    def private_objects_hidden_after_logout():
        s.logout()
        expect(s.getSessionInfo().state == P.CKS_RW_PUBLIC_SESSION, "not CKS_RW_PUBLIC_SESSION after logout")
        objs = s.findObjects([(P.CKA_LABEL, "py-ec")])
        classes = [s.getAttributeValue(o, [P.CKA_CLASS])[0] for o in objs]
        expect(classes == [P.CKO_PUBLIC_KEY], f"visible without login: {classes}")
        expect(s.findObjects([(P.CKA_LABEL, "py-aes-known")]) == [], "private secret key visible")
        s.login(USER_PIN)
    check("C_Logout: private objects no longer found, public key still found", private_objects_hidden_after_logout)

    def destroy():
        for k in ("ec_pub", "ec_priv", "aes_gen", "aes_known"):
            s.destroyObject(st[k])
        for label in ("py-ec", "py-aes-gen", "py-aes-known"):
            left = s.findObjects([(P.CKA_LABEL, label)])
            expect(left == [], f"{len(left)} objects labelled {label} left")
        expect_ckr(P.CKR_OBJECT_HANDLE_INVALID, lambda: s.getAttributeValue(st["aes_known"], [P.CKA_LABEL]))
    check("C_DestroyObject: every object gone (finds nothing, handle invalid)", destroy)

    def close():
        s.logout()
        s.closeSession()
        lib.unload()  # C_Finalize
    check("C_Logout, C_CloseSession, C_Finalize", close)


def main():
    ca = Ca()
    # SIGTERM/SIGHUP/SIGINT end the run through the finally below.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))
    global failed
    try:
        run(ca)
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001
        failed += 1
        print(f"FAIL run aborted: {type(e).__name__}: {e}")
        traceback.print_exc()
    finally:
        ca.cleanup()
    if failed_names:
        for n in failed_names:
            print(f"failed: {n}")
    print()
    print(f"{passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
