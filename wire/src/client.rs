//! A blocking client for the TA protocol over a Unix socket (directly to the
//! TA, or through the CA service's relay socket, which speaks the same frames),
//! or over TCP to a TA that listens there (`Client::connect_endpoint`).

use crate::codec::DecodeError;
use crate::frame::{read_reply_frame, write_frame};
use crate::msg::*;
use crate::rv::Rv;
use crate::spin::{default_budget, SpinReader, SpinState};
use crate::stream::{Endpoint, Stream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use thiserror::Error;
use zeroize::Zeroizing;

/// Why a call did not produce a reply.
#[derive(Debug, Error)]
pub enum CallError {
    #[error("connection to {0} failed: {1}")]
    Connect(String, std::io::Error),
    #[error("I/O error talking to the TA: {0}")]
    Io(#[from] std::io::Error),
    #[error("the TA closed the connection")]
    Closed,
    #[error("undecodable response: {0}")]
    Decode(#[from] DecodeError),
    #[error("response for request {got} while waiting for {want}")]
    Mismatch { want: u32, got: u32 },
    #[error("{rv}: {message}")]
    Status { rv: Rv, message: String },
    #[error("unexpected reply shape for {0}")]
    UnexpectedReply(&'static str),
}

impl CallError {
    /// The status code a PKCS#11 caller should see.
    pub fn rv(&self) -> Rv {
        match self {
            CallError::Status { rv, .. } => *rv,
            CallError::Connect(..) | CallError::Io(_) | CallError::Closed => Rv::TEEHSM_TA_UNAVAILABLE,
            _ => Rv::DEVICE_ERROR,
        }
    }
}

/// One connection; requests are answered in order.
pub struct Client {
    stream: Stream,
    next_id: u32,
    buf: Vec<u8>,
    spin: SpinState,
    app_ticket: Zeroizing<Vec<u8>>,
}

impl Client {
    /// Connects and performs the Hello exchange: a new application.
    pub fn connect(path: impl AsRef<Path>, client_name: &str) -> Result<Self, CallError> {
        let p = path.as_ref();
        let stream = UnixStream::connect(p).map_err(|e| CallError::Connect(p.display().to_string(), e))?;
        Client::hello(Stream::Unix(stream), client_name)
    }

    /// Connects to a Unix or TCP endpoint and performs the Hello exchange.
    pub fn connect_endpoint(endpoint: &Endpoint, client_name: &str) -> Result<Self, CallError> {
        let stream = endpoint.connect().map_err(|e| CallError::Connect(endpoint.to_string(), e))?;
        Client::hello(stream, client_name)
    }

    fn hello(stream: Stream, client_name: &str) -> Result<Self, CallError> {
        let mut c = Client { stream, next_id: 1, buf: Vec::new(), spin: SpinState::default(), app_ticket: Zeroizing::new(Vec::new()) };
        match c.call(&Request::Hello { client: client_name.to_string(), channel: ChannelMode::Plain })? {
            Reply::Hello { app_ticket, .. } => {
                c.app_ticket = Zeroizing::new(app_ticket);
                Ok(c)
            }
            _ => Err(CallError::UnexpectedReply("Hello")),
        }
    }

    /// Connects and joins the application that `ticket` names (another
    /// connection's [`Client::app_ticket`]): sessions, logins and session
    /// objects are then shared with that connection.
    pub fn connect_joining(path: impl AsRef<Path>, client_name: &str, ticket: &[u8]) -> Result<Self, CallError> {
        let mut c = Client::connect(path, client_name)?;
        c.call_done(&Request::JoinApp { ticket: Secret(ticket.to_vec()) })?;
        c.app_ticket = Zeroizing::new(ticket.to_vec());
        Ok(c)
    }

    /// The ticket that lets other connections join this one's application.
    /// A bearer secret: keep it in the process.
    pub fn app_ticket(&self) -> &[u8] {
        &self.app_ticket
    }

    /// The connected stream (after Hello), for a caller that speaks the
    /// frames itself (e.g. pipelined, asynchronously). Its next request id
    /// is free to choose: the TA echoes ids and does not check them.
    pub fn into_stream(self) -> Stream {
        self.stream
    }

    /// Sends a raw, already-encoded payload and returns the raw response (for tests).
    pub fn call_raw(&mut self, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        write_frame(&mut self.stream, payload)?;
        if !read_reply_frame(&mut SpinReader::new(&self.stream, default_budget(), &mut self.spin), &mut self.buf)? {
            return Err(CallError::Closed);
        }
        Ok(std::mem::take(&mut self.buf))
    }

    /// Sends a request and waits for its reply; error statuses become `CallError::Status`.
    pub fn call(&mut self, req: &Request) -> Result<Reply, CallError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let payload = encode_request(id, req);
        write_frame(&mut self.stream, &payload)?;
        if !read_reply_frame(&mut SpinReader::new(&self.stream, default_budget(), &mut self.spin), &mut self.buf)? {
            return Err(CallError::Closed);
        }
        let (got, resp) = decode_response(&self.buf)?;
        if got != id {
            return Err(CallError::Mismatch { want: id, got });
        }
        match resp {
            Response::Ok(r) => Ok(r),
            Response::Err { rv, message } => Err(CallError::Status { rv, message }),
        }
    }
}

impl Calls for Client {
    fn call(&mut self, req: &Request) -> Result<Reply, CallError> {
        Client::call(self, req)
    }
}

/// A connection that answers requests (a plain [`Client`], or an attested
/// channel's client), with the conveniences every caller wants on top of
/// `call`. In the prelude (`use teehsm_wire::*`).
pub trait Calls {
    /// Sends a request and waits for its reply; error statuses become `CallError::Status`.
    fn call(&mut self, req: &Request) -> Result<Reply, CallError>;

    fn call_handle(&mut self, req: &Request) -> Result<u64, CallError> {
        match self.call(req)? {
            Reply::Handle(h) => Ok(h),
            _ => Err(CallError::UnexpectedReply(req.name())),
        }
    }

    fn call_bytes(&mut self, req: &Request) -> Result<Vec<u8>, CallError> {
        match self.call(req)? {
            Reply::Bytes(b) => Ok(b),
            _ => Err(CallError::UnexpectedReply(req.name())),
        }
    }

    fn call_done(&mut self, req: &Request) -> Result<(), CallError> {
        match self.call(req)? {
            Reply::Done => Ok(()),
            _ => Err(CallError::UnexpectedReply(req.name())),
        }
    }

    /// Opens a session on `slot`, read-write if `rw`.
    fn open_session(&mut self, slot: u64, rw: bool) -> Result<u64, CallError> {
        let flags = crate::ck::CKF_SERIAL_SESSION | if rw { crate::ck::CKF_RW_SESSION } else { 0 };
        self.call_handle(&Request::OpenSession { slot, flags })
    }

    fn login(&mut self, session: u64, user_type: u64, pin: &[u8]) -> Result<(), CallError> {
        self.call_done(&Request::Login { session, user_type, pin: Secret(pin.to_vec()) })
    }

    fn find(&mut self, session: u64, template: Vec<Attribute>) -> Result<Vec<u64>, CallError> {
        match self.call(&Request::FindObjects { session, template, max: u32::MAX })? {
            Reply::Handles(h) => Ok(h),
            _ => Err(CallError::UnexpectedReply("FindObjects")),
        }
    }
}
