//! Client SDK of the teehsm gRPC API (`teehsm.v1.KeyManagementService`,
//! docs/grpc-api.md, docs/grpc-client.md).
//!
//! [`ApiClient`] connects to `teehsm-ca` over TLS (optionally mTLS) and
//! offers one async method per RPC. Every call made with [`Credentials`]
//! carries the authenticator the TA checks (HMAC-SHA-256 over
//! [`teehsm_wire::api_auth_message`]), and every answer is checked against
//! the TA's response MAC, so the untrusted CA service in between can
//! neither act in the client's name nor change an answer unnoticed.

mod auth;
mod client;
mod config;
mod crc;
mod error;
mod wrap;

pub use auth::{verify_response_mac, AuthMetadata, Credentials, RESPONSE_MAC_HEADER};
pub use client::ApiClient;
pub use config::{ApiClientConfig, ClientIdentity};
pub use crc::FillCrc32c;
pub use error::SdkError;
pub use wrap::wrap_key_material;

/// The generated protobuf types of the API (`teehsm.v1`).
pub use teehsm_wire::proto::v1 as proto;
