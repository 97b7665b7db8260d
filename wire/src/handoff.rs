//! Connection hand-off: passing an accepted client connection from the CA
//! service to the TA over a local Unix socket (`SCM_RIGHTS`).
//!
//! When the TA channel is a local Unix socket, relaying every frame through
//! the CA costs a second round trip of scheduler wake-ups per request, more
//! than a P-256 signature. The CA instead accepts the client, decides whether
//! the TA can take it, and hands the connection itself to the TA, which then
//! serves it exactly like a connection on its own socket: every byte is
//! still hostile input, and every decision is still the TA's. A connection
//! is handed over with a one-byte message carrying one descriptor.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

const MARKER: u8 = 0x48; // 'H'

/// Space for one descriptor's control message, 8-byte aligned.
#[repr(C, align(8))]
struct CmsgBuf([u8; 64]);

fn cmsg_space() -> usize {
    // SAFETY: CMSG_SPACE is a pure size computation on a constant.
    unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize }
}

/// Sends `conn`'s descriptor over `via`. The caller may drop its copy afterwards.
pub fn send_connection(via: &UnixStream, conn: &UnixStream) -> io::Result<()> {
    let mut payload = [MARKER];
    let mut iov = libc::iovec { iov_base: payload.as_mut_ptr().cast(), iov_len: 1 };
    let mut cbuf = CmsgBuf([0; 64]);
    let space = cmsg_space();
    // SAFETY: msghdr is plain data; zeroed is a valid "empty" value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg_control points at `cbuf` (64 bytes, 8-aligned) and
    // msg_controllen = CMSG_SPACE(one fd) <= 64, so CMSG_FIRSTHDR returns a
    // header inside it and CMSG_DATA has room for one RawFd.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return Err(io::Error::other("no room for the control message"));
        }
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), conn.as_raw_fd());
    }
    // SAFETY: every pointer in `msg` refers to live locals of this frame;
    // `via` owns its descriptor for the duration of the call.
    let n = unsafe { libc::sendmsg(via.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if n == 1 {
        Ok(())
    } else if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Err(io::Error::other("short hand-off message"))
    }
}

/// Receives one handed-off connection from `via`. `Ok(None)` when the
/// sender closed. A message without exactly one Unix stream socket is
/// refused (and any descriptor it carried is closed).
pub fn recv_connection(via: &UnixStream) -> io::Result<Option<UnixStream>> {
    let mut payload = [0u8; 1];
    let mut iov = libc::iovec { iov_base: payload.as_mut_ptr().cast(), iov_len: 1 };
    let mut cbuf = CmsgBuf([0; 64]);
    // SAFETY: msghdr is plain data; zeroed is a valid "empty" value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.0.len() as _;
    // SAFETY: the buffers `msg` points to are live locals; MSG_CMSG_CLOEXEC
    // makes any received descriptor close-on-exec.
    let n = unsafe { libc::recvmsg(via.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n == 0 {
        return Ok(None);
    }
    // Take ownership of every descriptor received, so none leaks.
    let mut fds: Vec<OwnedFd> = Vec::new();
    // SAFETY: recvmsg filled `msg.msg_control` up to msg_controllen inside
    // `cbuf`; CMSG_FIRSTHDR/CMSG_NXTHDR walk only within that range, and
    // each SCM_RIGHTS payload holds (cmsg_len - CMSG_LEN(0)) / 4 descriptors
    // that the kernel just installed in this process (we own them).
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data_len = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let count = data_len / std::mem::size_of::<RawFd>();
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 || payload[0] != MARKER || fds.len() != 1 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "malformed hand-off message"));
    }
    let fd = fds.pop().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no descriptor"))?;
    if !is_unix_stream(&fd) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "handed-off descriptor is not a Unix stream socket"));
    }
    Ok(Some(UnixStream::from(fd)))
}

fn is_unix_stream(fd: &OwnedFd) -> bool {
    let mut ty: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `ty` and `len` are valid for writes of the sizes given.
    let r = unsafe { libc::getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TYPE, (&mut ty as *mut libc::c_int).cast(), &mut len) };
    if r != 0 || ty != libc::SOCK_STREAM {
        return false;
    }
    // SAFETY: sockaddr_storage is plain data; getsockname writes at most `alen` bytes into it.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut alen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: as above.
    let r = unsafe { libc::getsockname(fd.as_raw_fd(), (&mut addr as *mut libc::sockaddr_storage).cast(), &mut alen) };
    r == 0 && addr.ss_family as libc::c_int == libc::AF_UNIX
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn a_handed_off_connection_carries_the_clients_bytes() {
        let (ca_side, ta_side) = UnixStream::pair().unwrap();
        let (mut client, server_end) = UnixStream::pair().unwrap();
        send_connection(&ca_side, &server_end).unwrap();
        drop(server_end);
        let mut got = recv_connection(&ta_side).unwrap().expect("a connection");
        client.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        got.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        got.write_all(b"pong").unwrap();
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong");
        drop(ca_side);
        assert!(recv_connection(&ta_side).unwrap().is_none(), "sender closed");
    }

    #[test]
    fn messages_without_a_socket_are_refused() {
        let (mut ca_side, ta_side) = UnixStream::pair().unwrap();
        ca_side.write_all(b"H").unwrap();
        assert!(recv_connection(&ta_side).is_err(), "no descriptor");
        // A pipe is not a Unix stream socket.
        let (ca2, ta2) = UnixStream::pair().unwrap();
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe() writes.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: pipe() just created these descriptors; we own them.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let fake = UnixStream::from(r);
        send_connection(&ca2, &fake).unwrap();
        assert!(recv_connection(&ta2).is_err(), "a pipe is refused");
        drop(w);
    }
}
