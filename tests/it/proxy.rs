//! A TCP relay in front of a real server that cuts connections: the n-th connection is
//! closed once the server has sent it `cuts[n]` bytes; later connections pass untouched.
//! The way a dropped connection looks to the client, at a chosen point.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub struct CuttingProxy {
    pub port: u16,
}

impl CuttingProxy {
    pub fn start(upstream: u16, cuts: Vec<u64>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cuts = Arc::new(Mutex::new(cuts.into_iter()));
        // The thread ends with the test process; it only ever serves this test.
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let limit = cuts.lock().unwrap().next().unwrap_or(u64::MAX);
                relay(client, server, limit);
            }
        });
        CuttingProxy { port }
    }
}

fn relay(client: TcpStream, server: TcpStream, limit: u64) {
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = c_read.read(&mut buf) {
            if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = s_write.shutdown(Shutdown::Both);
    });
    let (mut s_read, mut c_write) = (server, client);
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        let mut sent = 0u64;
        while let Ok(n) = s_read.read(&mut buf) {
            if n == 0 {
                break;
            }
            let allowed = (limit - sent).min(n as u64) as usize;
            if c_write.write_all(&buf[..allowed]).is_err() {
                break;
            }
            sent += allowed as u64;
            if sent >= limit {
                break;
            }
        }
        let _ = c_write.shutdown(Shutdown::Both);
        let _ = s_read.shutdown(Shutdown::Both);
    });
}
