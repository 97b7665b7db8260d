// Java's SunPKCS11 provider against teehsm's PKCS#11 module (libteehsm_pkcs11.so).
//
// Run by tests/clients/java-sunpkcs11.sh, which starts a CA with the dev token
// and writes the SunPKCS11 configuration file. By hand:
//   javac -d /tmp/j tests/clients/java/SunPkcs11Check.java
//   TEEHSM_PKCS11_SOCKET=... java -cp /tmp/j SunPkcs11Check teehsm.cfg 123456
//
// Every check prints PASS or FAIL with what it saw; the program ends with
// "N passed, N failed" and exits 1 when a check failed. Signatures made on the
// token are verified by the JDK's own providers (SunEC, SunRsaSign); results
// with imported keys are compared with SunJCE's for the same key bytes. Uses
// only the JDK (the self-signed certificate is DER built by hand). Stores
// entries (aliases java-*, keytool-ec) on the token: run it on a fresh token.
// A wrong-PIN check runs first (one failed C_Login on the token's counter).
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.Key;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Security;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.Mac;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

public class SunPkcs11Check {
    interface Body {
        String run() throws Exception;
    }

    static int passed, failed;
    static final List<String> failures = new ArrayList<>();
    static final SecureRandom jdkRandom = new SecureRandom();
    static boolean sensitiveImports;

    static void check(String name, Body body) {
        try {
            String detail = body.run();
            passed++;
            System.out.println("PASS " + name + (detail == null || detail.isEmpty() ? "" : ": " + detail));
        } catch (Throwable e) {
            failed++;
            failures.add(name);
            System.out.println("FAIL " + name + ": " + describe(e));
        }
        System.out.flush();
    }

    static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder(e.toString());
        for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            sb.append(" <- ").append(c);
        }
        return sb.toString();
    }

    static void require(boolean cond, String what) {
        if (!cond) {
            throw new AssertionError(what);
        }
    }

    static boolean isTokenKey(Key k, Provider p) {
        return k.getClass().getName().startsWith("sun.security.pkcs11.P11Key");
    }

    /** The token's public key as a JDK (non-PKCS#11) key, through its X.509 encoding. */
    static PublicKey jdkPublic(PublicKey k, String alg) throws Exception {
        return KeyFactory.getInstance(alg).generatePublic(new X509EncodedKeySpec(k.getEncoded()));
    }

    static byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        jdkRandom.nextBytes(b);
        return b;
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: SunPkcs11Check SUNPKCS11-CONFIG USER-PIN");
            System.exit(2);
        }
        String cfg = args[0];
        // The script's configuration makes imported keys sensitive
        // (attributes(import, ...) lines); check that it holds.
        sensitiveImports = new String(java.nio.file.Files.readAllBytes(java.nio.file.Paths.get(cfg)),
                StandardCharsets.UTF_8).contains("attributes(import,");
        char[] pin = args[1].toCharArray();

        Provider base = Security.getProvider("SunPKCS11");
        if (base == null) {
            System.out.println("FAIL no SunPKCS11 provider in this JDK");
            System.out.println("0 passed, 1 failed");
            System.exit(1);
        }
        final Provider p = base.configure(cfg);
        System.out.println("provider: " + p.getName() + " (" + p.getInfo() + "), java " + System.getProperty("java.version"));

        // A wrong PIN first: once this process (one PKCS#11 application) is
        // logged in, SunPKCS11 does not call C_Login again and a later load
        // with any PIN would succeed.
        check("KeyStore.load with a wrong PIN fails", () -> {
            KeyStore ks = KeyStore.getInstance("PKCS11", p);
            try {
                ks.load(null, "000000".toCharArray());
            } catch (IOException e) {
                String d = describe(e);
                require(d.contains("CKR_PIN_INCORRECT"), "refused, but not with CKR_PIN_INCORRECT: " + d);
                return "refused: " + d;
            }
            throw new AssertionError("load(null, wrong PIN) succeeded");
        });

        final KeyStore ks = KeyStore.getInstance("PKCS11", p);
        check("KeyStore.getInstance(\"PKCS11\").load(null, PIN)", () -> {
            ks.load(null, pin);
            return ks.size() + " entries";
        });

        check("SecureRandom \"PKCS11\" returns bytes", () -> {
            SecureRandom r = SecureRandom.getInstance("PKCS11", p);
            byte[] a = new byte[32], b = new byte[32];
            r.nextBytes(a);
            r.nextBytes(b);
            require(!Arrays.equals(a, new byte[32]), "all zero");
            require(!Arrays.equals(a, b), "two calls gave the same bytes");
            return "2 x 32 bytes, " + r.getProvider().getName();
        });

        final KeyPair[] ec = new KeyPair[1];
        check("KeyPairGenerator EC secp256r1 on the token", () -> {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC", p);
            g.initialize(new ECGenParameterSpec("secp256r1"));
            KeyPair kp = g.generateKeyPair();
            require(isTokenKey(kp.getPrivate(), p), "private key is not a token key: " + kp.getPrivate().getClass());
            ec[0] = kp;
            return kp.getPrivate().toString().replace('\n', ' ');
        });

        check("SHA256withECDSA signed on the token, verified by SunEC", () -> {
            require(ec[0] != null, "no EC key pair");
            byte[] msg = "teehsm SunPKCS11 ECDSA".getBytes(StandardCharsets.UTF_8);
            Signature s = Signature.getInstance("SHA256withECDSA", p);
            s.initSign(ec[0].getPrivate());
            s.update(msg);
            byte[] sig = s.sign();
            Signature v = Signature.getInstance("SHA256withECDSA", "SunEC");
            v.initVerify(jdkPublic(ec[0].getPublic(), "EC"));
            v.update(msg);
            require(v.verify(sig), "SunEC rejects the token's signature");
            // and the token verifies it too
            Signature tv = Signature.getInstance("SHA256withECDSA", p);
            tv.initVerify(ec[0].getPublic());
            tv.update(msg);
            require(tv.verify(sig), "the token rejects its own signature");
            return sig.length + "-byte DER signature";
        });

        final KeyPair[] rsa = new KeyPair[1];
        check("KeyPairGenerator RSA 2048 on the token", () -> {
            KeyPairGenerator g = KeyPairGenerator.getInstance("RSA", p);
            g.initialize(2048);
            KeyPair kp = g.generateKeyPair();
            require(isTokenKey(kp.getPrivate(), p), "private key is not a token key: " + kp.getPrivate().getClass());
            rsa[0] = kp;
            return kp.getPrivate().toString().replace('\n', ' ');
        });

        check("SHA256withRSA signed on the token, verified by SunRsaSign", () -> {
            require(rsa[0] != null, "no RSA key pair");
            byte[] msg = "teehsm SunPKCS11 RSA".getBytes(StandardCharsets.UTF_8);
            Signature s = Signature.getInstance("SHA256withRSA", p);
            s.initSign(rsa[0].getPrivate());
            s.update(msg);
            byte[] sig = s.sign();
            Signature v = Signature.getInstance("SHA256withRSA", "SunRsaSign");
            v.initVerify(jdkPublic(rsa[0].getPublic(), "RSA"));
            v.update(msg);
            require(v.verify(sig), "SunRsaSign rejects the token's signature");
            return sig.length + "-byte signature";
        });

        check("RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32) on the token, verified by SunRsaSign", () -> {
            require(rsa[0] != null, "no RSA key pair");
            require(p.getService("Signature", "RSASSA-PSS") != null,
                    "SunPKCS11 offers no RSASSA-PSS for this token (needs CKM_RSA_PKCS_PSS)");
            PSSParameterSpec spec = new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1);
            byte[] msg = "teehsm SunPKCS11 RSA-PSS".getBytes(StandardCharsets.UTF_8);
            Signature s = Signature.getInstance("RSASSA-PSS", p);
            s.setParameter(spec);
            s.initSign(rsa[0].getPrivate());
            s.update(msg);
            byte[] sig = s.sign();
            Signature v = Signature.getInstance("RSASSA-PSS", "SunRsaSign");
            v.setParameter(spec);
            v.initVerify(jdkPublic(rsa[0].getPublic(), "RSA"));
            v.update(msg);
            require(v.verify(sig), "SunRsaSign rejects the token's PSS signature");
            return sig.length + "-byte signature";
        });

        check("RSA/ECB/PKCS1Padding: SunJCE encrypts to the token key, the token decrypts", () -> {
            require(rsa[0] != null, "no RSA key pair");
            byte[] pt = randomBytes(32);
            Cipher e = Cipher.getInstance("RSA/ECB/PKCS1Padding", "SunJCE");
            e.init(Cipher.ENCRYPT_MODE, jdkPublic(rsa[0].getPublic(), "RSA"));
            byte[] ct = e.doFinal(pt);
            Cipher d = Cipher.getInstance("RSA/ECB/PKCS1Padding", p);
            d.init(Cipher.DECRYPT_MODE, rsa[0].getPrivate());
            require(Arrays.equals(d.doFinal(ct), pt), "decrypted text differs");
            return "32 bytes";
        });

        check("SHA256withECDSA over 3 MiB (multi-part C_SignUpdate) verified by SunEC", () -> {
            require(ec[0] != null, "no EC key pair");
            byte[] msg = randomBytes(3 << 20);
            Signature s = Signature.getInstance("SHA256withECDSA", p);
            s.initSign(ec[0].getPrivate());
            for (int off = 0; off < msg.length; off += 100_000) {
                s.update(msg, off, Math.min(100_000, msg.length - off));
            }
            byte[] sig = s.sign();
            Signature v = Signature.getInstance("SHA256withECDSA", "SunEC");
            v.initVerify(jdkPublic(ec[0].getPublic(), "EC"));
            v.update(msg);
            require(v.verify(sig), "SunEC rejects the signature");
            return "ok";
        });

        check("MessageDigest SHA-256 on the token equals the JDK's", () -> {
            byte[] msg = randomBytes(1000);
            MessageDigest md = MessageDigest.getInstance("SHA-256", p);
            md.update(msg, 0, 10);
            md.update(msg, 10, 990);
            byte[] got = md.digest();
            require(Arrays.equals(got, MessageDigest.getInstance("SHA-256", "SUN").digest(msg)), "digests differ");
            return "ok";
        });

        check("HmacSHA256 with an imported key equals SunJCE", () -> {
            require(p.getService("Mac", "HmacSHA256") != null, "SunPKCS11 offers no HmacSHA256");
            byte[] raw = randomBytes(32), msg = randomBytes(200);
            Mac m = Mac.getInstance("HmacSHA256", p);
            m.init(new SecretKeySpec(raw, "HmacSHA256"));
            byte[] got = m.doFinal(msg);
            Mac j = Mac.getInstance("HmacSHA256", "SunJCE");
            j.init(new SecretKeySpec(raw, "HmacSHA256"));
            require(Arrays.equals(got, j.doFinal(msg)), "MACs differ");
            return "ok";
        });

        final SecretKey[] aes = new SecretKey[1];
        check("KeyGenerator AES 256 on the token", () -> {
            KeyGenerator g = KeyGenerator.getInstance("AES", p);
            g.init(256);
            SecretKey k = g.generateKey();
            require(isTokenKey(k, p), "not a token key: " + k.getClass());
            aes[0] = k;
            return k.toString().replace('\n', ' ');
        });

        check("AES/GCM/NoPadding encrypt and decrypt on the token", () -> {
            require(aes[0] != null, "no AES key");
            byte[] iv = randomBytes(12), aad = "header".getBytes(StandardCharsets.UTF_8);
            byte[] pt = randomBytes(100);
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding", p);
            c.init(Cipher.ENCRYPT_MODE, aes[0], new GCMParameterSpec(128, iv));
            c.updateAAD(aad);
            byte[] ct = c.doFinal(pt);
            require(ct.length == pt.length + 16, "ciphertext length " + ct.length);
            Cipher d = Cipher.getInstance("AES/GCM/NoPadding", p);
            d.init(Cipher.DECRYPT_MODE, aes[0], new GCMParameterSpec(128, iv));
            d.updateAAD(aad);
            require(Arrays.equals(d.doFinal(ct), pt), "decrypted text differs");
            // A changed tag must be refused.
            byte[] bad = ct.clone();
            bad[bad.length - 1] ^= 1;
            d.init(Cipher.DECRYPT_MODE, aes[0], new GCMParameterSpec(128, iv));
            d.updateAAD(aad);
            try {
                d.doFinal(bad);
                throw new AssertionError("a modified tag was accepted");
            } catch (javax.crypto.AEADBadTagException expected) {
                // as JCE requires
            }
            return "100 bytes -> " + ct.length + ", round trip ok, modified tag refused (AEADBadTagException)";
        });

        check("AES/CBC/PKCS5Padding round trip on the token", () -> {
            require(aes[0] != null, "no AES key");
            byte[] iv = randomBytes(16), pt = randomBytes(37);
            Cipher c = Cipher.getInstance("AES/CBC/PKCS5Padding", p);
            c.init(Cipher.ENCRYPT_MODE, aes[0], new IvParameterSpec(iv));
            byte[] ct = c.doFinal(pt);
            require(ct.length == 48, "ciphertext length " + ct.length + " (expected 48)");
            Cipher d = Cipher.getInstance("AES/CBC/PKCS5Padding", p);
            d.init(Cipher.DECRYPT_MODE, aes[0], new IvParameterSpec(iv));
            require(Arrays.equals(d.doFinal(ct), pt), "decrypted text differs");
            return "37 bytes -> 48 -> 37";
        });

        check("AES key imported from the JDK (SecretKeySpec) into the token keystore", () -> {
            byte[] raw = randomBytes(32);
            String alias = "java-imported-aes";
            ks.setKeyEntry(alias, new SecretKeySpec(raw, "AES"), null, null);
            require(Collections.list(ks.aliases()).contains(alias), "alias not listed after setKeyEntry");
            require(ks.isKeyEntry(alias), "not a key entry");
            Key k = ks.getKey(alias, null);
            require(k != null && isTokenKey(k, p), "getKey gave " + k);
            require(!sensitiveImports || (k.getEncoded() == null && k.toString().contains(", sensitive")),
                    "the imported key is readable: " + k);
            // Encrypt on the token with the imported key, decrypt in SunJCE with the raw bytes.
            byte[] iv = randomBytes(12), pt = randomBytes(64);
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding", p);
            c.init(Cipher.ENCRYPT_MODE, k, new GCMParameterSpec(128, iv));
            byte[] ct = c.doFinal(pt);
            Cipher j = Cipher.getInstance("AES/GCM/NoPadding", "SunJCE");
            j.init(Cipher.DECRYPT_MODE, new SecretKeySpec(raw, "AES"), new GCMParameterSpec(128, iv));
            require(Arrays.equals(j.doFinal(ct), pt), "SunJCE decrypts something else");
            return "stored as " + k.toString().replace('\n', ' ') + "; token AES-GCM = SunJCE AES-GCM";
        });

        final String certAlias = "java-ec-signer";
        check("key entry with a self-signed certificate stored and listed", () -> {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC", p);
            g.initialize(new ECGenParameterSpec("secp256r1"));
            KeyPair kp = g.generateKeyPair();
            X509Certificate cert = selfSigned(kp, p, "CN=teehsm SunPKCS11 check");
            ks.setKeyEntry(certAlias, kp.getPrivate(), null, new Certificate[] {cert});
            List<String> aliases = Collections.list(ks.aliases());
            require(aliases.contains(certAlias), "alias not listed: " + aliases);
            require(ks.isKeyEntry(certAlias), "not a key entry");
            Certificate back = ks.getCertificate(certAlias);
            require(back != null && Arrays.equals(back.getEncoded(), cert.getEncoded()), "certificate not returned");
            // The stored private key still signs on the token.
            PrivateKey stored = (PrivateKey) ks.getKey(certAlias, null);
            require(stored != null, "getKey returned null");
            Signature s = Signature.getInstance("SHA256withECDSA", p);
            s.initSign(stored);
            s.update(new byte[] {1, 2, 3});
            byte[] sig = s.sign();
            Signature v = Signature.getInstance("SHA256withECDSA", "SunEC");
            v.initVerify(cert.getPublicKey());
            v.update(new byte[] {1, 2, 3});
            require(v.verify(sig), "the stored key's signature does not verify with the certificate");
            return "aliases " + aliases + "; stored key signs, certificate verifies it";
        });

        check("EC private key made by SunEC imported with its certificate (setKeyEntry), signs on the token", () -> {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC", "SunEC");
            g.initialize(new ECGenParameterSpec("secp256r1"));
            KeyPair kp = g.generateKeyPair();
            X509Certificate cert = selfSigned(kp, Signature.getInstance("SHA256withECDSA", "SunEC"), ECDSA_SHA256,
                    "CN=imported EC");
            return importAndSign(ks, p, "java-imported-ec", kp, cert, "SHA256withECDSA", "SunEC");
        });

        check("RSA private key made by SunRsaSign imported with its certificate (setKeyEntry), signs on the token", () -> {
            KeyPairGenerator g = KeyPairGenerator.getInstance("RSA", "SunRsaSign");
            g.initialize(2048);
            KeyPair kp = g.generateKeyPair();
            X509Certificate cert = selfSigned(kp, Signature.getInstance("SHA256withRSA", "SunRsaSign"), RSA_SHA256,
                    "CN=imported RSA");
            return importAndSign(ks, p, "java-imported-rsa", kp, cert, "SHA256withRSA", "SunRsaSign");
        });

        check("keytool -list -storetype PKCS11 shows the stored entry", () -> {
            String out = keytool(cfg, new String(pin), "-list");
            require(out.contains(certAlias), "alias " + certAlias + " not in keytool output:\n" + out);
            return "keytool lists " + certAlias;
        });

        check("keytool -genkeypair on the token, then listed by keytool and by KeyStore", () -> {
            String alias = "keytool-ec";
            keytool(cfg, new String(pin), "-genkeypair", "-alias", alias, "-keyalg", "EC", "-groupname", "secp256r1",
                    "-sigalg", "SHA256withECDSA", "-dname", "CN=teehsm keytool", "-validity", "365");
            String out = keytool(cfg, new String(pin), "-list");
            require(out.contains(alias), "keytool -list does not show " + alias + ":\n" + out);
            KeyStore ks2 = KeyStore.getInstance("PKCS11", p);
            ks2.load(null, pin);
            require(Collections.list(ks2.aliases()).contains(alias), "KeyStore does not list " + alias);
            X509Certificate cert = (X509Certificate) ks2.getCertificate(alias);
            cert.verify(cert.getPublicKey(), "SunEC");
            return "certificate " + cert.getSubjectX500Principal() + " verifies with its own key (SunEC)";
        });

        check("KeyStore.deleteEntry removes a stored entry", () -> {
            String alias = "java-imported-aes";
            ks.deleteEntry(alias);
            require(!ks.containsAlias(alias), "still listed after deleteEntry");
            KeyStore ks3 = KeyStore.getInstance("PKCS11", p);
            ks3.load(null, pin);
            require(!ks3.containsAlias(alias), "a fresh KeyStore still lists it");
            return "ok";
        });

        System.out.println(passed + " passed, " + failed + " failed");
        if (failed > 0) {
            System.out.println("failed: " + failures);
        }
        System.exit(failed == 0 ? 0 : 1);
    }

    static String importAndSign(KeyStore ks, Provider p, String alias, KeyPair kp, X509Certificate cert, String sigAlg,
            String jdkProvider) throws Exception {
        ks.setKeyEntry(alias, kp.getPrivate(), null, new Certificate[] {cert});
        require(Collections.list(ks.aliases()).contains(alias), "alias not listed");
        PrivateKey stored = (PrivateKey) ks.getKey(alias, null);
        require(stored != null && isTokenKey(stored, p), "getKey gave " + stored);
        require(!sensitiveImports || (stored.getEncoded() == null && stored.toString().contains(", sensitive")),
                "the imported private key is readable: " + stored);
        byte[] msg = randomBytes(100);
        Signature s = Signature.getInstance(sigAlg, p);
        s.initSign(stored);
        s.update(msg);
        byte[] sig = s.sign();
        Signature v = Signature.getInstance(sigAlg, jdkProvider);
        v.initVerify(kp.getPublic());
        v.update(msg);
        require(v.verify(sig), jdkProvider + " rejects the signature of the imported key");
        return "stored as " + stored.toString().replace('\n', ' ') + "; signature verifies";
    }

    /** Runs the JDK's keytool on the token; returns its output, throws when it fails. */
    static String keytool(String cfg, String pin, String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(System.getProperty("java.home") + "/bin/keytool");
        cmd.addAll(Arrays.asList(args));
        cmd.addAll(Arrays.asList("-keystore", "NONE", "-storetype", "PKCS11", "-addprovider", "SunPKCS11",
                "-providerarg", cfg, "-storepass", pin));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        Process proc = pb.start();
        String out;
        try (InputStream in = proc.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        int rc = proc.waitFor();
        if (rc != 0) {
            throw new AssertionError("keytool " + String.join(" ", args) + " exited " + rc + ":\n" + out);
        }
        return out;
    }

    // ---- a minimal self-signed X.509 v3 certificate (ecdsa-with-SHA256), DER by hand ----

    static byte[] tlv(int tag, byte[]... parts) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            body.writeBytes(part);
        }
        int n = body.size();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(tag);
        if (n < 0x80) {
            out.write(n);
        } else if (n < 0x100) {
            out.write(0x81);
            out.write(n);
        } else {
            out.write(0x82);
            out.write(n >> 8);
            out.write(n);
        }
        out.writeBytes(body.toByteArray());
        return out.toByteArray();
    }

    static byte[] hex(String h) {
        byte[] b = new byte[h.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    static final String ECDSA_SHA256 = "06082a8648ce3d040302";
    static final String RSA_SHA256 = "06092a864886f70d01010b0500";

    /** A self-signed certificate for kp, signed by sigAlg from provider p (the token or a JDK provider). */
    static X509Certificate selfSigned(KeyPair kp, Provider p, String cn) throws Exception {
        return selfSigned(kp, Signature.getInstance("SHA256withECDSA", p), ECDSA_SHA256, cn);
    }

    static X509Certificate selfSigned(KeyPair kp, Signature s, String algId, String cn) throws Exception {
        byte[] sigAlg = tlv(0x30, hex(algId));
        byte[] name = tlv(0x30, tlv(0x31, tlv(0x30, hex("0603550403"),
                tlv(0x0c, cn.substring(3).getBytes(StandardCharsets.UTF_8)))));
        byte[] validity = tlv(0x30, tlv(0x17, "250101000000Z".getBytes(StandardCharsets.US_ASCII)),
                tlv(0x17, "491231235959Z".getBytes(StandardCharsets.US_ASCII)));
        byte[] serial = tlv(0x02, new BigInteger(63, jdkRandom).add(BigInteger.ONE).toByteArray());
        byte[] tbs = tlv(0x30, tlv(0xa0, tlv(0x02, new byte[] {2})), serial, sigAlg, name, validity, name,
                kp.getPublic().getEncoded());
        s.initSign(kp.getPrivate());
        s.update(tbs);
        byte[] sig = s.sign();
        byte[] bitString = new byte[sig.length + 1];
        System.arraycopy(sig, 0, bitString, 1, sig.length);
        byte[] der = tlv(0x30, tbs, sigAlg, tlv(0x03, bitString));
        X509Certificate cert = (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(der));
        String alg = kp.getPublic().getAlgorithm();
        cert.verify(jdkPublic(kp.getPublic(), alg), alg.equals("EC") ? "SunEC" : "SunRsaSign");
        return cert;
    }
}
