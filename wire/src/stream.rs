//! Where a TA listens, and a connection to it: a Unix socket (the default)
//! or TCP (a TA that cannot share a Unix socket with its host, e.g. under
//! Gramine-SGX; see docs/tee-backends.md). Frames are the same either way.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// The scheme prefix of a TCP endpoint.
pub const TCP_SCHEME: &str = "tcp://";
/// The (optional) scheme prefix of a Unix-socket endpoint.
pub const UNIX_SCHEME: &str = "unix:";

/// A TA address: `tcp://HOST:PORT`, `unix:PATH` or a plain socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// `HOST:PORT`, as written (resolved at connect time).
    Tcp(String),
}

impl Endpoint {
    /// Parses `tcp://HOST:PORT`, `unix:PATH` or a plain path.
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        if let Some(hp) = s.strip_prefix(TCP_SCHEME) {
            return match hp.to_socket_addrs().map(|mut a| a.next()) {
                Ok(Some(_)) => Ok(Endpoint::Tcp(hp.to_string())),
                Ok(None) => Err(format!("{s:?} resolves to no address")),
                Err(e) => Err(format!("{s:?} is not tcp://HOST:PORT ({e})")),
            };
        }
        if s.contains("://") {
            return Err(format!("{s:?}: unknown scheme (expected tcp://HOST:PORT, unix:PATH or a socket path)"));
        }
        let path = s.strip_prefix(UNIX_SCHEME).unwrap_or(s);
        if path.is_empty() {
            return Err("empty socket path".into());
        }
        Ok(Endpoint::Unix(PathBuf::from(path)))
    }

    pub fn is_tcp(&self) -> bool {
        matches!(self, Endpoint::Tcp(_))
    }

    /// Connects; a TCP connection gets TCP_NODELAY (one small frame per request).
    pub fn connect(&self) -> io::Result<Stream> {
        match self {
            Endpoint::Unix(p) => UnixStream::connect(p).map(Stream::Unix),
            Endpoint::Tcp(hp) => Stream::tcp(TcpStream::connect(hp.as_str())?),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "{}", p.display()),
            Endpoint::Tcp(hp) => write!(f, "{TCP_SCHEME}{hp}"),
        }
    }
}

/// A connection to (or accepted by) a TA.
#[derive(Debug)]
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    /// Wraps a TCP connection, setting TCP_NODELAY.
    pub fn tcp(s: TcpStream) -> io::Result<Stream> {
        s.set_nodelay(true)?;
        Ok(Stream::Tcp(s))
    }

    pub fn try_clone(&self) -> io::Result<Stream> {
        match self {
            Stream::Unix(s) => s.try_clone().map(Stream::Unix),
            Stream::Tcp(s) => s.try_clone().map(Stream::Tcp),
        }
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.shutdown(how),
            Stream::Tcp(s) => s.shutdown(how),
        }
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tcp(s) => s.set_read_timeout(t),
        }
    }

    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_write_timeout(t),
            Stream::Tcp(s) => s.set_write_timeout(t),
        }
    }
}

impl From<UnixStream> for Stream {
    fn from(s: UnixStream) -> Self {
        Stream::Unix(s)
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tcp(s) => s.as_raw_fd(),
        }
    }
}

impl Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => (&mut &*s).read(buf),
            Stream::Tcp(s) => (&mut &*s).read(buf),
        }
    }
}

impl Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => (&mut &*s).write(buf),
            Stream::Tcp(s) => (&mut &*s).write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&mut &*self).read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&mut &*self).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        assert_eq!(Endpoint::parse("tcp://127.0.0.1:5000").unwrap(), Endpoint::Tcp("127.0.0.1:5000".into()));
        assert_eq!(Endpoint::parse("unix:/run/ta.sock").unwrap(), Endpoint::Unix("/run/ta.sock".into()));
        assert_eq!(Endpoint::parse("/run/ta.sock").unwrap(), Endpoint::Unix("/run/ta.sock".into()));
        assert!(Endpoint::parse("tcp://nonsense").is_err());
        assert!(Endpoint::parse("vsock://3:5000").is_err());
        assert!(Endpoint::parse("unix:").is_err());
        assert_eq!(Endpoint::parse("tcp://127.0.0.1:5000").unwrap().to_string(), "tcp://127.0.0.1:5000");
    }

    #[test]
    fn tcp_round_trip() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ep = Endpoint::Tcp(l.local_addr().unwrap().to_string());
        let c = ep.connect().unwrap();
        let (mut s, _) = l.accept().unwrap();
        (&c).write_all(b"ping").unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"ping");
        c.shutdown(Shutdown::Both).unwrap();
    }
}
