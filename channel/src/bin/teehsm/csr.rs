//! `teehsm csr`: a PKCS#10 certificate signing request for a private key
//! the TA holds, signed inside the TA (docs/key-distribution.md). Import the
//! issued certificate with any PKCS#11 tool (C_CreateObject, CKO_CERTIFICATE).

use crate::keydist::{read_pin, Conn, Session};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use teehsm_wire::ck::*;
use teehsm_wire::keydist::pem_encode;
use teehsm_wire::{Attribute, Reply, Request};

/// DER of the P-384 curve OID.
const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

#[derive(Args)]
pub struct CsrArgs {
    /// CKA_LABEL of the private key (exactly one private key must have it).
    #[arg(long)]
    label: String,
    /// Subject DN, e.g. "CN=web01.example,O=Example,C=DE" (CN, O, OU, C, L,
    /// ST, SERIALNUMBER; `\,` for a comma inside a value).
    #[arg(long)]
    subject: String,
    /// Signature mechanism: ecdsa-sha256, ecdsa-sha384, sha256-rsa-pkcs or
    /// eddsa [default: from the key type; ecdsa-sha384 for P-384 keys].
    #[arg(long)]
    mechanism: Option<String>,
    /// File holding the token's user PIN (trailing newline ignored).
    #[arg(long, env = "TEEHSM_PIN_FILE")]
    pin_file: PathBuf,
    /// Where to write the request.
    #[arg(long)]
    out: PathBuf,
    /// Write DER instead of PEM.
    #[arg(long)]
    der: bool,
    #[command(flatten)]
    conn: Conn,
}

fn mechanism_named(name: &str) -> anyhow::Result<u64> {
    Ok(match name {
        "ecdsa-sha256" => CKM_ECDSA_SHA256,
        "ecdsa-sha384" => CKM_ECDSA_SHA384,
        "sha256-rsa-pkcs" => CKM_SHA256_RSA_PKCS,
        "eddsa" => CKM_EDDSA,
        other => anyhow::bail!("unknown --mechanism {other:?} (one of ecdsa-sha256, ecdsa-sha384, sha256-rsa-pkcs, eddsa)"),
    })
}

fn attribute(s: &mut Session, key: u64, ty: u64) -> anyhow::Result<Option<Vec<u8>>> {
    match s.calls.call(&Request::GetAttributeValue { session: s.session, object: key, types: vec![ty] }).context("GetAttributeValue")? {
        Reply::Attributes(v) => Ok(v.into_iter().next().filter(|a| a.status.is_ok()).map(|a| a.value.clone())),
        _ => anyhow::bail!("the TA answered GetAttributeValue with an unexpected reply"),
    }
}

pub fn run(a: CsrArgs) -> anyhow::Result<()> {
    let mut s = Session::open(&a.conn, CKU_USER, read_pin(&a.pin_file)?)?;
    let template = vec![Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY), Attribute::new(CKA_LABEL, a.label.as_bytes().to_vec())];
    let Reply::Handles(found) = s.calls.call(&Request::FindObjects { session: s.session, template, max: 2 }).context("FindObjects")? else {
        anyhow::bail!("the TA answered FindObjects with an unexpected reply")
    };
    let key = match found.as_slice() {
        [k] => *k,
        [] => anyhow::bail!("no private key labelled {:?} is visible to the user in slot {}", a.label, a.conn.slot()),
        _ => anyhow::bail!("several private keys are labelled {:?}; relabel them", a.label),
    };
    let mechanism = match &a.mechanism {
        Some(m) => mechanism_named(m)?,
        None => match attribute(&mut s, key, CKA_KEY_TYPE)?.and_then(|v| v.try_into().ok()).map(u64::from_be_bytes) {
            Some(CKK_EC) if attribute(&mut s, key, CKA_EC_PARAMS)?.as_deref() == Some(P384) => CKM_ECDSA_SHA384,
            Some(CKK_EC) => CKM_ECDSA_SHA256,
            Some(CKK_RSA) => CKM_SHA256_RSA_PKCS,
            Some(CKK_EC_EDWARDS) => CKM_EDDSA,
            _ => anyhow::bail!("cannot pick a mechanism for this key type; give --mechanism"),
        },
    };
    let Reply::Bytes(der) =
        s.calls.call(&Request::GenerateCsr { session: s.session, key, subject: a.subject.clone(), mechanism }).context("GenerateCsr")?
    else {
        anyhow::bail!("the TA answered GenerateCsr with an unexpected reply")
    };
    let out = if a.der { der } else { pem_encode("CERTIFICATE REQUEST", &der).into_bytes() };
    std::fs::write(&a.out, out).with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!("teehsm: CSR for {:?} written to {}", a.label, a.out.display());
    Ok(())
}
