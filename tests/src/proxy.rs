//! A request-level HTTP/1.1 proxy on 127.0.0.1 in front of a test
//! registry. It forwards each request on its own upstream connection and
//! can, per request:
//!
//! - inject faults: a status (503, or 429 with `Retry-After`) or a reset
//!   connection, for the next requests whose method and path match;
//! - act as a token-auth registry front: without `Authorization: Bearer
//!   <token>` it answers 401 with a `WWW-Authenticate: Bearer realm=…`
//!   challenge; its `/token` endpoint hands out the token for the right
//!   Basic credentials (and 401 otherwise).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// What to do to a matching request instead of forwarding it.
#[derive(Debug, Clone)]
pub enum ProxyFault {
    /// Answer with this status (and `Retry-After: n` when given).
    Status(u16, Option<u64>),
    /// Close the connection without answering.
    Reset,
    /// 200 with no length, and bytes without end (until the client
    /// hangs up).
    Endless,
}

#[derive(Default)]
struct State {
    /// (method, path part, fault), applied in order to matching requests.
    faults: VecDeque<(String, String, ProxyFault)>,
    /// `user:password` and the token it buys, for the Bearer gate.
    bearer: Option<(String, String)>,
    /// Requests seen: (method, path).
    log: Vec<(String, String)>,
}

pub struct Proxy {
    pub addr: String,
    state: Arc<Mutex<State>>,
}

impl Proxy {
    /// A proxy forwarding to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let (st, up, me) = (state.clone(), upstream.to_owned(), addr.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (st, up, me) = (st.clone(), up.clone(), me.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &up, &me, &st);
                });
            }
        });
        Proxy { addr, state }
    }

    /// Applies `fault` to the next request with `method` whose path
    /// contains `path_part`.
    pub fn fault(&self, method: &str, path_part: &str, fault: ProxyFault) {
        self.state
            .lock()
            .unwrap()
            .faults
            .push_back((method.into(), path_part.into(), fault));
    }

    /// Requires a Bearer token, bought at `/token` with `user:password`.
    pub fn require_bearer(&self, user: &str, password: &str) {
        self.state.lock().unwrap().bearer =
            Some((format!("{user}:{password}"), "test-token-42".into()));
    }

    /// How many requests with `method` had a path containing `part`.
    pub fn count(&self, method: &str, part: &str) -> usize {
        let st = self.state.lock().unwrap();
        st.log
            .iter()
            .filter(|(m, p)| m == method && p.contains(part))
            .count()
    }

    /// Faults still waiting for their request.
    pub fn pending_faults(&self) -> usize {
        self.state.lock().unwrap().faults.len()
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("").to_owned(),
    );
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

/// A response; to a HEAD request without its body (the client would
/// take the body for the next response on the connection).
fn respond(
    conn: &mut TcpStream,
    method: &str,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    conn.write_all(head.as_bytes())?;
    if method != "HEAD" {
        conn.write_all(body)?;
    }
    Ok(())
}

fn serve(conn: TcpStream, upstream: &str, me: &str, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut conn = conn;
    while let Some(req) = read_request(&mut reader)? {
        let (fault, bearer) = {
            let mut st = state.lock().unwrap();
            st.log.push((req.method.clone(), req.path.clone()));
            let at = st
                .faults
                .iter()
                .position(|(m, p, _)| *m == req.method && req.path.contains(p.as_str()));
            (
                at.and_then(|i| st.faults.remove(i)).map(|f| f.2),
                st.bearer.clone(),
            )
        };
        match fault {
            Some(ProxyFault::Reset) => return Ok(()),
            Some(ProxyFault::Endless) => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.index.v1+json\r\nConnection: close\r\n\r\n";
                crate::server::send_endless(&mut conn, head)?;
                return Ok(());
            }
            Some(ProxyFault::Status(code, retry)) => {
                let h: Vec<(&str, String)> = retry
                    .map(|s| ("Retry-After", s.to_string()))
                    .into_iter()
                    .collect();
                respond(&mut conn, &req.method, code, &h, b"")?;
                continue;
            }
            None => {}
        }
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        if let Some((userpass, token)) = &bearer {
            use base64::Engine;
            if req.path.starts_with("/token") {
                let want = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(userpass)
                );
                if header("authorization").as_deref() == Some(want.as_str()) {
                    let body = format!(r#"{{"token":"{token}"}}"#);
                    respond(
                        &mut conn,
                        &req.method,
                        200,
                        &[("Content-Type", "application/json".into())],
                        body.as_bytes(),
                    )?;
                } else {
                    respond(
                        &mut conn,
                        &req.method,
                        401,
                        &[],
                        br#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#,
                    )?;
                }
                continue;
            }
            if header("authorization") != Some(format!("Bearer {token}")) {
                let challenge = format!(
                    "Bearer realm=\"http://{me}/token\",service=\"distill-tests\",scope=\"repository:x:pull,push\""
                );
                respond(
                    &mut conn,
                    &req.method,
                    401,
                    &[
                        ("WWW-Authenticate", challenge),
                        ("Content-Type", "application/json".into()),
                    ],
                    br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                )?;
                continue;
            }
        }
        // Forward on a fresh connection, one request, read to EOF.
        let mut up = TcpStream::connect(upstream)?;
        let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.path);
        for (k, v) in &req.headers {
            if k == "connection" || k == "authorization" || k == "host" {
                continue;
            }
            head += &format!("{k}: {v}\r\n");
        }
        head += &format!("host: {me}\r\nconnection: close\r\n\r\n");
        up.write_all(head.as_bytes())?;
        up.write_all(&req.body)?;
        let mut response = Vec::new();
        up.read_to_end(&mut response)?;
        // The upstream said `Connection: close`; the client may keep its
        // connection, so the body must be delimited by Content-Length,
        // which distribution always sends.
        conn.write_all(&response)?;
    }
    Ok(())
}
