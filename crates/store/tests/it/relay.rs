//! A TCP relay between a store and its PostgreSQL database that misbehaves on purpose, for
//! the failures a real network or another database engine causes.

/// What a test relay between a store and the database does to the conversation.
#[derive(Clone, Copy)]
pub enum Mischief {
    /// Once, lets a group's last round trip (`…; COMMIT`) reach the server and the server
    /// answer it, but cuts the connection before the answer reaches the client.
    LoseOneCommitAnswer,
    /// Turns every `LISTEN` into a statement the server refuses, as a database without
    /// notifications (CockroachDB) does.
    RefuseListen,
}

/// A TCP relay to the database on port `to`, up to `mischief`; returns its own port.
pub fn relay(to: u16, mischief: Mischief) -> u16 {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let used = Arc::new(AtomicBool::new(false));
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let server = TcpStream::connect(("127.0.0.1", to)).unwrap();
            let cut = Arc::new(AtomicBool::new(false));
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (used, cut_in) = (used.clone(), cut.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n) = c_in.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    match mischief {
                        Mischief::LoseOneCommitAnswer => {
                            let commits = buf[..n].windows(8).any(|w| w == b"; COMMIT");
                            if commits && !used.swap(true, Ordering::SeqCst) {
                                // From here on the server's answers go nowhere.
                                cut_in.store(true, Ordering::SeqCst);
                            }
                        }
                        Mischief::RefuseListen => {
                            // Same length, so the message's length field stays right.
                            for i in 0..n.saturating_sub(6) {
                                if &buf[i..i + 7] == b"LISTEN " {
                                    buf[i + 5] = b'X';
                                }
                            }
                        }
                    }
                    if s_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
            let (mut s_in, mut c_out) = (server, client);
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n) = s_in.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if cut.load(Ordering::SeqCst) {
                        // The answer ends with ReadyForQuery ('Z'): the commit is done.
                        if buf[..n].contains(&b'Z') {
                            let _ = c_out.shutdown(std::net::Shutdown::Both);
                            let _ = s_in.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                        continue;
                    }
                    if c_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}
