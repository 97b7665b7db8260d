//! What an [`crate::ApiClient`] call can fail with.

/// A failed API call.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The server answered with a gRPC status other than OK.
    /// `authenticated` is true when the status carried a valid response
    /// MAC from the TA (so the CA cannot have made it up); refusals made
    /// before the TA knew the client (bad MAC, unknown client) and errors
    /// of the CA itself (TA down, malformed metadata) carry none.
    #[error("{code:?}: {message}")]
    Status { code: tonic::Code, message: String, authenticated: bool },
    /// The connection could not be made or broke.
    #[error("transport: {0}")]
    Transport(String),
    /// The answer's x-teehsm-response-mac is missing or does not verify:
    /// something between the TA and this client changed or made it up.
    #[error("the response to {method} does not carry a valid TA response MAC ({reason})")]
    ResponseMacMismatch { method: String, reason: &'static str },
    /// The client configuration is unusable (endpoint, certificates, credentials).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}

impl SdkError {
    /// The gRPC code of a [`SdkError::Status`], `None` for other errors.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            SdkError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<tonic::transport::Error> for SdkError {
    fn from(e: tonic::transport::Error) -> Self {
        // The Display of a transport error is terse; include its sources.
        let mut s = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(x) = src {
            s.push_str(": ");
            s.push_str(&x.to_string());
            src = x.source();
        }
        SdkError::Transport(s)
    }
}
