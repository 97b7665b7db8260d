//! The gRPC API executor (docs/grpc-api.md): runs one `ApiCall` that the CA
//! forwarded unchanged. Authenticates the client (MAC, timestamp window,
//! nonce; the records and replay caches of `handler::clients`), checks its
//! ACL against the key name, decodes the teehsm.v1 request, runs it on the
//! client's token and MACs the response with the client's secret.
//!
//! API keys are token objects the TA never shows through PKCS#11
//! (`policy::visible`), so a CA holding the user PIN still cannot use them:
//! the only way to a key is an `ApiCall` that carries a valid authenticator.
//!
//! Layout: `error` (status codes), `algo` (per-algorithm key generation,
//! import and the cryptographic operations, SPKI/PEM), `keys` (key and
//! version records, names, states, scheduled destruction, idempotency),
//! `call` (authentication, ACL, dispatch, response MAC, audit).

mod algo;
mod call;
pub mod error;
mod keys;

pub use error::{code, ApiError, ApiResult};
