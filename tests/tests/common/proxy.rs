//! A TCP proxy between devices and a `vault-server`, for the fault and
//! race tests: it forwards HTTP/1.1 traffic and can be told to cut a
//! connection in the middle of a request's body, or after forwarding a
//! whole request but before its response (the server did the work; the
//! device never hears), or to hold one request back while other devices
//! go ahead. It can also be pointed at another server (a fork of the
//! circle shown to one device).
//!
//! The device-to-server direction is parsed request by request (head, then
//! `Content-Length` bytes of body); the other direction is copied as is.
//! A WebSocket upgrade turns the connection into a plain copy.
//!
//! It can also answer in the server's place ([`Answer`]): a redirect, an
//! endless body, a changes feed that never ends, 429 or 404, or a manifest
//! upload forwarded but reported divergent.
//! (Just over 500 lines: the parser, the plans and the canned answers share
//! one relay loop.)

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What to do to a request that matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Forward the head and this many bytes of the body, then close both
    /// sides.
    Body(usize),
    /// Forward the whole request, then close both sides as soon as the
    /// server starts to answer: the response is lost.
    Response,
    /// Hold the request back until [`Proxy::release`], then forward it:
    /// other devices' requests overtake it.
    Hold,
}

/// An answer the proxy gives itself, instead of forwarding, to every
/// request whose line contains the pattern of [`Proxy::answer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `307 Temporary Redirect` to the same path on `127.0.0.1:PORT`.
    Redirect(u16),
    /// `200` and this many bytes of body, its length not given (the body
    /// ends when the connection does).
    Endless(u64),
    /// A changes page one sequence past the `after` asked for, holding one
    /// junk record, that says more follows: a feed that never ends.
    MoreForever,
    /// `429 Too Many Requests` with `Retry-After` of this many seconds.
    TooMany(u64),
    /// `404 Not Found` (a server that withholds what it holds).
    NotFound,
    /// `200` to a signed manifest's upload, reporting it divergent (as a
    /// server does when another member signed another root at the same
    /// token); the server stores the manifest, only its answer is replaced.
    Divergent,
}

#[derive(Debug, Clone)]
struct Plan {
    /// A request matches if its request line contains this.
    pattern: String,
    /// Matching requests to let through before the one that is cut.
    skip: usize,
    cut: Cut,
    /// Matching requests cut in a row once the skipped ones went by.
    times: usize,
}

#[derive(Default)]
struct Shared {
    plan: Mutex<Option<Plan>>,
    /// Requests cut so far.
    cuts: AtomicUsize,
    /// Request lines seen, in order.
    log: Mutex<Vec<String>>,
    /// Each cut request: (its body's length, the body bytes forwarded).
    cut_log: Mutex<Vec<(usize, usize)>>,
    /// For [`Cut::Hold`]: (a request is held, it may go on).
    hold: Mutex<(bool, bool)>,
    held: std::sync::Condvar,
    /// A standing answer: (pattern, what to answer).
    answer: Mutex<Option<(String, Answer)>>,
    /// Requests answered by the proxy itself.
    answered: AtomicUsize,
}

/// A running proxy; its threads end with the process.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    shared: Arc<Shared>,
    upstream: Arc<Mutex<SocketAddr>>,
}

impl Proxy {
    /// A proxy on an OS-chosen port forwarding to `upstream`
    /// (`http://HOST:PORT`).
    pub fn start(upstream: &str) -> Self {
        let upstream = Arc::new(Mutex::new(addr_of(upstream)));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let up = upstream.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { continue };
                let s = s.clone();
                let to = *up.lock().unwrap();
                std::thread::spawn(move || {
                    if let Ok(server) = TcpStream::connect(to) {
                        relay(client, server, &s);
                    }
                });
            }
        });
        Self {
            url,
            shared,
            upstream,
        }
    }

    /// Sends new connections to another server (`http://HOST:PORT`) from
    /// now on.
    pub fn set_upstream(&self, upstream: &str) {
        *self.upstream.lock().unwrap() = addr_of(upstream);
    }

    /// Cuts the `skip + 1`-th request (from now) whose request line
    /// contains `pattern`; one cut per call.
    pub fn cut(&self, pattern: &str, skip: usize, cut: Cut) {
        self.cut_times(pattern, skip, cut, 1);
    }

    /// Cuts `times` matching requests in a row after `skip` (a request and
    /// the client's retry of it, say).
    pub fn cut_times(&self, pattern: &str, skip: usize, cut: Cut, times: usize) {
        *self.shared.plan.lock().unwrap() = Some(Plan {
            pattern: pattern.to_owned(),
            skip,
            cut,
            times,
        });
    }

    /// Requests cut so far.
    pub fn cuts(&self) -> usize {
        self.shared.cuts.load(Ordering::SeqCst)
    }

    /// Each cut request: (its body's length, the body bytes forwarded).
    pub fn cut_log(&self) -> Vec<(usize, usize)> {
        self.shared.cut_log.lock().unwrap().clone()
    }

    /// Whether a cut is still waiting for its request.
    pub fn armed(&self) -> bool {
        self.shared.plan.lock().unwrap().is_some()
    }

    /// Waits until a request planned with [`Cut::Hold`] is held.
    pub fn wait_held(&self, limit: std::time::Duration) {
        let guard = self.shared.hold.lock().unwrap();
        let (guard, _) = self
            .shared
            .held
            .wait_timeout_while(guard, limit, |h| !h.0)
            .unwrap();
        assert!(guard.0, "no request was held");
    }

    /// Lets the held request go.
    pub fn release(&self) {
        let mut h = self.shared.hold.lock().unwrap();
        h.1 = true;
        self.shared.held.notify_all();
    }

    /// The request lines seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }

    /// From now on, answers every request whose line contains `pattern`
    /// with `answer` (until [`Proxy::clear_answer`]).
    pub fn answer(&self, pattern: &str, answer: Answer) {
        *self.shared.answer.lock().unwrap() = Some((pattern.to_owned(), answer));
    }

    /// Forwards every request again.
    pub fn clear_answer(&self) {
        *self.shared.answer.lock().unwrap() = None;
    }

    /// How many requests the proxy answered itself.
    pub fn answered(&self) -> usize {
        self.shared.answered.load(Ordering::SeqCst)
    }
}

/// The standing answer for a request line, if any.
fn standing(shared: &Shared, line: &str) -> Option<Answer> {
    let a = shared.answer.lock().unwrap();
    a.as_ref()
        .filter(|(pattern, _)| line.contains(pattern.as_str()))
        .map(|(_, answer)| *answer)
}

/// The value of `name=` in a request line's query.
fn query_value<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let target = line.split(' ').nth(1)?;
    let query = target.split_once('?')?.1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// Writes the proxy's own answer to a request.
fn give(client: &mut TcpStream, line: &str, answer: Answer) {
    match answer {
        Answer::Redirect(port) => {
            let path = line.split(' ').nth(1).unwrap_or("/");
            let _ = write!(
                client,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{port}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
        Answer::TooMany(secs) => {
            let body = r#"{"error":{"code":"rate_limited","message":"slow down"}}"#;
            let _ = write!(
                client,
                "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {secs}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
        Answer::Divergent => {
            let body = r#"{"counter":1,"divergent":true}"#;
            let _ = write!(
                client,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        Answer::NotFound => {
            let body = r#"{"error":{"code":"not_found","message":"not found"}}"#;
            let _ = write!(
                client,
                "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
        Answer::Endless(total) => {
            let _ = write!(
                client,
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.vault.records\r\nConnection: close\r\n\r\n"
            );
            let chunk = vec![0u8; 1 << 16];
            let mut sent = 0u64;
            while sent < total {
                let n = chunk.len().min((total - sent) as usize);
                if client.write_all(&chunk[..n]).is_err() {
                    break;
                }
                sent += n as u64;
            }
        }
        Answer::MoreForever => {
            use vault_core::sync::{ChangesPage, RecordParts, SealedRecord, TaggedRecord, Token};
            let since = query_value(line, "since").and_then(Token::parse);
            let after: u64 = query_value(line, "after")
                .and_then(|a| a.parse().ok())
                .unwrap_or(0);
            let seq = after + 1;
            let junk = SealedRecord::from_parts(RecordParts {
                uuid: uuid::Uuid::new_v4(),
                gencount: 1,
                epoch: 1,
                tomb: false,
                circle_pos: 1,
                writer: vault_core::circle::PeerId::from_bytes([0x77; 32]),
                wrappedkey: vec![0x11; 61],
                encitem: vec![0x22; 200],
                signature: [0x33; 64],
            })
            .unwrap();
            let page = ChangesPage {
                token: Token {
                    epoch: since.map_or(1, |t| t.epoch),
                    seq,
                },
                more: true,
                records: vec![TaggedRecord {
                    tag: seq,
                    record: junk,
                }],
            }
            .encode();
            let _ = write!(
                client,
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.vault.records\r\nContent-Length: {}\r\n\r\n",
                page.len()
            );
            let _ = client.write_all(&page);
        }
    }
}

/// What the plan says about a request line (and consumes the plan if it
/// is this request's turn).
fn decide(shared: &Shared, line: &str) -> Option<Cut> {
    let mut plan = shared.plan.lock().unwrap();
    let p = plan.as_mut()?;
    if !line.contains(&p.pattern) {
        return None;
    }
    if p.skip > 0 {
        p.skip -= 1;
        return None;
    }
    let cut = p.cut;
    p.times = p.times.saturating_sub(1);
    if p.times == 0 {
        *plan = None;
    }
    Some(cut)
}

fn relay(mut client: TcpStream, server: TcpStream, shared: &Shared) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let drop_response = Arc::new(AtomicBool::new(false));
    // Server to device: a plain copy, unless the response is to be lost.
    {
        let mut from = server.try_clone().unwrap();
        let mut to = client.try_clone().unwrap();
        let drop_response = drop_response.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if drop_response.load(Ordering::SeqCst) {
                    break;
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
        });
    }
    // Device to server: request by request.
    let mut to = server;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 65536];
    'requests: loop {
        // The head.
        let head_end = loop {
            if let Some(i) = find(&pending, b"\r\n\r\n") {
                break i + 4;
            }
            match client.read(&mut buf) {
                Ok(0) | Err(_) => break 'requests,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        };
        let head = String::from_utf8_lossy(&pending[..head_end]).into_owned();
        let line = head.lines().next().unwrap_or("").to_owned();
        shared.log.lock().unwrap().push(line.clone());
        let lower = head.to_ascii_lowercase();
        if lower.contains("\r\nupgrade:") {
            // A WebSocket: copy everything from here on.
            if to.write_all(&pending).is_err() {
                break;
            }
            loop {
                match client.read(&mut buf) {
                    Ok(0) | Err(_) => break 'requests,
                    Ok(n) => {
                        if to.write_all(&buf[..n]).is_err() {
                            break 'requests;
                        }
                    }
                }
            }
        }
        let length = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if let Some(answer) = standing(shared, &line) {
            shared.answered.fetch_add(1, Ordering::SeqCst);
            if answer == Answer::Divergent {
                // The server stores the manifest (on a connection of its
                // own, closed after it); only its answer is replaced.
                while pending.len() < head_end + length {
                    match client.read(&mut buf) {
                        Ok(0) | Err(_) => break 'requests,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                }
                if let Ok(mut s) = to.peer_addr().and_then(TcpStream::connect) {
                    let mut request = pending[..head_end - 2].to_vec();
                    request.extend_from_slice(b"Connection: close\r\n\r\n");
                    request.extend_from_slice(&pending[head_end..head_end + length]);
                    let mut answer = Vec::new();
                    let _ = s
                        .write_all(&request)
                        .and_then(|()| s.read_to_end(&mut answer));
                }
            }
            give(&mut client, &line, answer);
            if matches!(
                answer,
                Answer::MoreForever | Answer::TooMany(_) | Answer::NotFound
            ) {
                // Keep the connection: the rest of this request (a GET has
                // no body) is dropped and the next one read.
                let rest = pending.split_off(head_end.min(pending.len()));
                pending = rest;
                continue;
            }
            break;
        }
        let mut cut = decide(shared, &line);
        if cut == Some(Cut::Hold) {
            let mut h = shared.hold.lock().unwrap();
            *h = (true, false);
            shared.held.notify_all();
            while !h.1 {
                h = shared.held.wait(h).unwrap();
            }
            *h = (false, false);
            cut = None;
        }
        // An answer to lose is dropped from before the request goes out: a
        // fast server must not get it through first.
        if cut == Some(Cut::Response) {
            drop_response.store(true, Ordering::SeqCst);
        }
        // The whole request (or as much of it as the cut lets through).
        let total = head_end + length;
        let limit = match cut {
            Some(Cut::Body(n)) => head_end + n.min(length),
            _ => total,
        };
        let mut sent = 0;
        loop {
            let upto = pending.len().min(limit);
            if upto > sent {
                if to.write_all(&pending[sent..upto]).is_err() {
                    break 'requests;
                }
                sent = upto;
            }
            if sent >= limit {
                break;
            }
            match client.read(&mut buf) {
                Ok(0) | Err(_) => break 'requests,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        }
        if cut.is_some() {
            shared
                .cut_log
                .lock()
                .unwrap()
                .push((length, limit - head_end));
        }
        match cut {
            Some(Cut::Body(_)) => {
                shared.cuts.fetch_add(1, Ordering::SeqCst);
                break;
            }
            Some(Cut::Response) => {
                shared.cuts.fetch_add(1, Ordering::SeqCst);
                // The server→device thread closes both sides when the
                // answer starts; stop reading requests meanwhile.
                let _ = client.shutdown(Shutdown::Read);
                return;
            }
            // A held request was forwarded whole once released.
            Some(Cut::Hold) | None => {}
        }
        // Whatever follows this request stays for the next one.
        let rest = pending.split_off(total.min(pending.len()));
        pending = rest;
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
