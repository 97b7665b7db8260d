//! Certificate jobs for one host's TA (docs/fleet-console.md, "Certificates"):
//! `POST /api/hosts/{id}/csr` queues a `generate_csr` job (the agent has the
//! TA make the key if asked and sign a PKCS#10 request; the job's result
//! message is the CSR PEM), `POST /api/hosts/{id}/certificate` queues an
//! `import_certificate` job storing the issued certificate on the token.
//! Payloads are checked here so a bad request never becomes a job.

use super::http::{error, json_resp, HttpRequest, HttpResponse};
use super::Shared;
use serde_json::{json, Value};

pub const KIND_GENERATE_CSR: &str = "generate_csr";
pub const KIND_IMPORT_CERTIFICATE: &str = "import_certificate";
const MAX_CERT_PEM: usize = 16 * 1024;

fn body(req: &HttpRequest, shape: &str) -> Result<Value, HttpResponse> {
    serde_json::from_slice(&req.body).map_err(|e| error(400, &format!("expected {shape}: {e}")))
}

fn label(v: &Value) -> Result<String, HttpResponse> {
    v["label"]
        .as_str()
        .filter(|l| !l.is_empty() && l.len() <= 128)
        .map(str::to_owned)
        .ok_or_else(|| error(400, "\"label\" must be 1 to 128 characters"))
}

fn slot(v: &Value) -> Result<u64, HttpResponse> {
    match &v["slot"] {
        Value::Null => Ok(0),
        s => s.as_u64().filter(|&s| s < 64).ok_or_else(|| error(400, "\"slot\" must be a slot number, 0 to 63")),
    }
}

fn queue(sh: &Shared, host: &str, kind: &str, payload: Value, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let Ok(mut store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    match store.host(host) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(error(404, &format!("no host {host:?}; GET /api/hosts lists the enrolled hosts"))),
        Err(_) => return Err(error(500, "internal error; see the console's log")),
    }
    let id = store.create_job(kind, host, &payload, now).map_err(|_| error(500, "internal error; see the console's log"))?;
    let mut details = payload.clone();
    if let Some(o) = details.as_object_mut() {
        o.remove("cert_pem");
        o.insert("job".into(), json!(id));
    }
    if let Err(e) = store.append_audit(now, actor, &format!("job.{kind}"), host, &details) {
        tracing::error!(error = %e, "cannot audit the job");
    }
    Ok(json_resp(201, json!({ "job_id": id, "host": host, "kind": kind })))
}

/// `POST /api/hosts/{id}/csr` `{"label", "subject", "slot"?, "generate"?}`.
pub fn csr(sh: &Shared, req: &HttpRequest, host: &str, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let v = body(req, r#"{"label": "web01", "subject": "CN=web01.example,O=Bank", "slot": 0, "generate": true}"#)?;
    let subject = v["subject"]
        .as_str()
        .filter(|s| s.contains('=') && s.len() <= 1024)
        .ok_or_else(|| error(400, "\"subject\" must be a DN such as \"CN=web01.example,O=Bank\""))?;
    let payload = json!({ "slot": slot(&v)?, "label": label(&v)?, "subject": subject, "generate": v["generate"].as_bool().unwrap_or(false) });
    queue(sh, host, KIND_GENERATE_CSR, payload, actor, now)
}

/// `POST /api/hosts/{id}/certificate` `{"label", "cert_pem", "slot"?}`.
pub fn certificate(sh: &Shared, req: &HttpRequest, host: &str, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let v = body(req, r#"{"label": "web01", "cert_pem": "-----BEGIN CERTIFICATE-----...", "slot": 0}"#)?;
    let pem = v["cert_pem"].as_str().ok_or_else(|| error(400, "\"cert_pem\" must be a PEM certificate"))?;
    if pem.len() > MAX_CERT_PEM {
        return Err(error(400, &format!("cert_pem is larger than {MAX_CERT_PEM} bytes")));
    }
    let der = crate::enroll::pem::decode(pem, "CERTIFICATE").map_err(|e| error(400, &format!("cert_pem: {e}")))?;
    if x509_parser::parse_x509_certificate(&der).map(|(rest, _)| !rest.is_empty()).unwrap_or(true) {
        return Err(error(400, "cert_pem is not one X.509 certificate"));
    }
    let payload = json!({ "slot": slot(&v)?, "label": label(&v)?, "cert_pem": pem });
    queue(sh, host, KIND_IMPORT_CERTIFICATE, payload, actor, now)
}
