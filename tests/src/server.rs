//! A tiny HTTP/1.1 server on 127.0.0.1 for tests: static files, the
//! snapshot service's redirect to the newest capture at or before a
//! requested timestamp, ETags and `If-None-Match` (304), and injected
//! faults (status codes with Retry-After, truncated bodies). One request
//! per connection.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::Suite;
use crate::TestKey;

#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status (and `Retry-After: n` when given).
    Status(u16, Option<u64>),
    /// Promise the full length, send half, close.
    Truncate,
    /// Serve these bytes instead of the real ones.
    Replace(Vec<u8>),
    /// No length, and bytes without end (until the client hangs up).
    Endless,
    /// Promise the full length, send half, then nothing for 30 s.
    Stall,
    /// Promise the full length, then one byte every 100 ms.
    Trickle,
}

#[derive(Default)]
struct State {
    files: BTreeMap<String, Vec<u8>>,
    /// Archive name → capture timestamps (snapshot semantics).
    captures: BTreeMap<String, BTreeSet<String>>,
    /// Path → faults to apply to the next requests, in order.
    faults: BTreeMap<String, VecDeque<Fault>>,
    /// Path → every request's count (also the ones that failed).
    hits: BTreeMap<String, usize>,
    /// Path → body bytes an `Endless` fault got out before the client
    /// hung up.
    sent: BTreeMap<String, u64>,
    /// Path → requests answered 304 Not Modified.
    not_modified: BTreeMap<String, usize>,
}

pub struct Server {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        let state = state.clone();
                        std::thread::spawn(move || {
                            let _ = handle(conn, &state);
                        });
                    }
                }
            })
        };
        Server {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn put(&self, path: &str, bytes: Vec<u8>) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.to_owned(), bytes);
    }

    /// Publishes a suite's signed files under `<prefix>/dists/<suite>/`.
    pub fn put_suite(&self, prefix: &str, suite: &Suite, key: &TestKey) {
        for (path, bytes) in suite.files(key) {
            self.put(&format!("{prefix}/dists/{}/{path}", suite.name), bytes);
        }
    }

    /// Publishes a suite as snapshot capture `ts` of `archive`, at
    /// `/archive/<archive>/<ts>/`, and registers the capture so other
    /// timestamps redirect to it.
    pub fn put_capture(&self, archive: &str, ts: &str, suite: &Suite, key: &TestKey) {
        self.put_suite(&format!("/archive/{archive}/{ts}"), suite, key);
        self.state
            .lock()
            .unwrap()
            .captures
            .entry(archive.to_owned())
            .or_default()
            .insert(ts.to_owned());
    }

    /// Publishes what snapshot.debian.org says about its captures: the
    /// machine-readable `/mr/timestamp/` and, per archive and month, the
    /// HTML listing `/archive/<name>/?year=Y&month=M`.
    pub fn publish_timestamps(&self) {
        let captures = self.state.lock().unwrap().captures.clone();
        let result: serde_json::Map<String, serde_json::Value> = captures
            .iter()
            .map(|(a, ts)| (a.clone(), ts.iter().cloned().collect()))
            .collect();
        let json = serde_json::json!({"_api": "0.3", "_comment": "fake", "result": result});
        self.put("/mr/timestamp/", json.to_string().into_bytes());
        for (archive, ts) in &captures {
            let mut months: std::collections::BTreeMap<(u32, u32), String> = Default::default();
            for t in ts {
                let (y, m) = (t[..4].parse().unwrap(), t[4..6].parse().unwrap());
                months
                    .entry((y, m))
                    .or_insert_with(|| "<html><body><a href=\"../\">../</a>\n".into())
                    .push_str(&format!("<a href=\"{t}/\">{t}</a><br>\n"));
            }
            for ((y, m), html) in months {
                self.put(
                    &format!("/archive/{archive}/?year={y}&month={m}"),
                    (html + "</body></html>\n").into_bytes(),
                );
            }
        }
    }

    pub fn remove(&self, path: &str) {
        self.state.lock().unwrap().files.remove(path);
    }

    pub fn get(&self, path: &str) -> Option<Vec<u8>> {
        self.state.lock().unwrap().files.get(path).cloned()
    }

    pub fn fault(&self, path: &str, fault: Fault) {
        self.state
            .lock()
            .unwrap()
            .faults
            .entry(path.to_owned())
            .or_default()
            .push_back(fault);
    }

    /// How many bytes an `Endless` fault on `path` sent before the client
    /// hung up.
    pub fn sent(&self, path: &str) -> u64 {
        self.state
            .lock()
            .unwrap()
            .sent
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    pub fn hits(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// How many requests for `path` were answered 304 Not Modified.
    pub fn not_modified(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .not_modified
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Every path requested so far, with counts.
    pub fn all_hits(&self) -> BTreeMap<String, usize> {
        self.state.lock().unwrap().hits.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An address on which nothing listens (connection refused at once).
pub fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}")
}

fn handle(mut conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut if_none_match = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("if-none-match")
        {
            if_none_match = Some(value.trim().to_owned());
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let response = {
        let mut st = state.lock().unwrap();
        *st.hits.entry(path.clone()).or_default() += 1;
        let fault = st.faults.get_mut(&path).and_then(VecDeque::pop_front);
        let redirect = snapshot_redirect(&st, &path);
        match (fault, redirect) {
            (Some(f), _) => Reply::Fault(f, st.files.get(&path).cloned().unwrap_or_default()),
            (None, Some(location)) => Reply::Redirect(location),
            (None, None) => match st.files.get(&path) {
                Some(b) if if_none_match.as_deref() == Some(etag(b).as_str()) => {
                    *st.not_modified.entry(path.clone()).or_default() += 1;
                    Reply::Status(304, None)
                }
                Some(b) => Reply::Ok(b.clone()),
                None => Reply::Status(404, None),
            },
        }
    };
    match response {
        Reply::Ok(body) => {
            let headers = [("ETag", etag(&body))];
            write_response(&mut conn, 200, &headers, &body, body.len())
        }
        Reply::Redirect(loc) => write_response(&mut conn, 302, &[("Location", loc)], b"", 0),
        Reply::Status(code, retry) => {
            let headers: Vec<(&str, String)> = retry
                .map(|s| ("Retry-After", s.to_string()))
                .into_iter()
                .collect();
            write_response(&mut conn, code, &headers, b"", 0)
        }
        Reply::Fault(Fault::Status(code, retry), _) => {
            let headers: Vec<(&str, String)> = retry
                .map(|s| ("Retry-After", s.to_string()))
                .into_iter()
                .collect();
            write_response(&mut conn, code, &headers, b"", 0)
        }
        Reply::Fault(Fault::Truncate, body) => {
            write_response(&mut conn, 200, &[], &body[..body.len() / 2], body.len())
        }
        Reply::Fault(Fault::Replace(body), _) => {
            write_response(&mut conn, 200, &[], &body, body.len())
        }
        Reply::Fault(Fault::Endless, _) => {
            let sent = send_endless(&mut conn, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
            state.lock().unwrap().sent.insert(path, sent);
            Ok(())
        }
        Reply::Fault(Fault::Stall, body) => {
            write_response(&mut conn, 200, &[], &body[..body.len() / 2], body.len())?;
            std::thread::sleep(std::time::Duration::from_secs(30));
            Ok(())
        }
        Reply::Fault(Fault::Trickle, body) => {
            write_response(&mut conn, 200, &[], b"", body.len())?;
            for byte in &body {
                std::thread::sleep(std::time::Duration::from_millis(100));
                conn.write_all(std::slice::from_ref(byte))?;
                conn.flush()?;
            }
            Ok(())
        }
    }
}

/// Writes `head`, then a body without end until the client hangs up
/// (16 GiB at most); returns the body bytes that got out.
pub fn send_endless(conn: &mut TcpStream, head: &str) -> std::io::Result<u64> {
    conn.write_all(head.as_bytes())?;
    let chunk = vec![b' '; 64 << 10];
    let mut sent = 0u64;
    for _ in 0..(1 << 18) {
        if conn.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len() as u64;
    }
    Ok(sent)
}

/// A strong validator of the content (as a CDN would send).
fn etag(body: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    format!("\"{:x}-{:016x}\"", body.len(), h.finish())
}

enum Reply {
    Ok(Vec<u8>),
    Redirect(String),
    Status(u16, Option<u64>),
    Fault(Fault, Vec<u8>),
}

/// `/archive/<name>/<ts>/<rest>` for a timestamp that is not a capture:
/// where snapshot.debian.org would redirect (newest capture at or before).
fn snapshot_redirect(st: &State, path: &str) -> Option<String> {
    let mut parts = path.trim_start_matches('/').splitn(4, '/');
    let (Some("archive"), Some(name), Some(ts), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let captures = st.captures.get(name)?;
    if captures.contains(ts) {
        return None;
    }
    let capture = captures.range(..=ts.to_owned()).next_back()?;
    Some(format!("/archive/{name}/{capture}/{rest}"))
}

fn write_response(
    conn: &mut TcpStream,
    code: u16,
    headers: &[(&str, String)],
    body: &[u8],
    length: usize,
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        302 => "Found",
        304 => "Not Modified",
        404 => "Not Found",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head =
        format!("HTTP/1.1 {code} {reason}\r\nContent-Length: {length}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)?;
    conn.flush()
}
