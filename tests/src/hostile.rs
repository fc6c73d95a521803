//! A hostile registry on 127.0.0.1. It serves a small two-platform image
//! honestly (manifests by tag and digest, blobs by digest, GET and HEAD,
//! with Content-Type, Content-Length and Docker-Content-Digest) until a
//! test tells it to attack a path: other bytes, lying headers, forged
//! documents that agree with themselves, endless or stalled bodies,
//! redirect and auth loops, endless tokens, a huge `Retry-After`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::sha256_hex;

pub const REPO: &str = "evil/base";
pub const TAG: &str = "latest";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// What to do instead of answering honestly.
#[derive(Debug, Clone)]
pub enum Attack {
    /// These bytes in place of the real ones, under the real ones'
    /// headers (their Content-Type and Docker-Content-Digest: lies now).
    Body(Vec<u8>),
    /// The real bytes under this `Docker-Content-Digest`.
    DigestHeader(String),
    /// 200 with no length, and bytes without end.
    Endless,
    /// The full length promised, half of it sent, then silence (60 s).
    Stall,
    /// The full length promised, then one byte every 200 ms.
    Trickle,
    /// 302 to the same path, for ever.
    RedirectLoop,
    /// 401 with a Bearer challenge; the realm (`/token`) hands out a
    /// token, which this path refuses again.
    AuthLoop,
    /// As [`Attack::AuthLoop`], but the token response never ends.
    EndlessToken,
    /// 429 with this `Retry-After` (seconds, as text), once.
    RetryAfter(String),
}

/// A blob or document the registry holds.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl Blob {
    pub fn digest(&self) -> String {
        format!("sha256:{}", sha256_hex(&self.bytes))
    }

    /// An OCI descriptor of it.
    pub fn descriptor(&self) -> serde_json::Value {
        serde_json::json!({
            "mediaType": self.media_type,
            "digest": self.digest(),
            "size": self.bytes.len(),
        })
    }
}

#[derive(Default)]
struct State {
    /// `/v2/…` path → what it serves.
    paths: BTreeMap<String, Blob>,
    attacks: BTreeMap<String, Attack>,
    /// Path (without query) → requests.
    hits: BTreeMap<String, usize>,
    /// Path → body bytes an endless answer got out before the client
    /// hung up.
    sent: BTreeMap<String, u64>,
}

pub struct Hostile {
    /// `127.0.0.1:<port>`
    pub addr: String,
    state: Arc<Mutex<State>>,
}

/// The sample image: an index over linux/amd64 and linux/arm64, each a
/// manifest with its own config and one shared gzip layer (`/hello.txt`).
pub struct Sample {
    pub index: Blob,
    /// (architecture, manifest, config)
    pub platforms: Vec<(String, Blob, Blob)>,
    pub layer: Blob,
}

impl Sample {
    pub fn new() -> Sample {
        let layer = Blob {
            media_type: LAYER.into(),
            bytes: gzip(&tar_with("hello.txt", b"hello\n")),
        };
        let diff_id = format!("sha256:{}", sha256_hex(&tar_with("hello.txt", b"hello\n")));
        let mut platforms = Vec::new();
        for arch in ["amd64", "arm64"] {
            let config = Blob {
                media_type: CONFIG.into(),
                bytes: serde_json::to_vec(&serde_json::json!({
                    "architecture": arch,
                    "os": "linux",
                    "created": "2025-01-01T00:00:00Z",
                    "config": {"Env": ["PATH=/usr/bin:/bin"]},
                    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                    "history": [{"created": "2025-01-01T00:00:00Z", "created_by": "sample"}],
                }))
                .unwrap(),
            };
            let manifest = manifest_of(&config, &[layer.descriptor()]);
            platforms.push((arch.to_owned(), manifest, config));
        }
        let index = index_of(&platforms);
        Sample {
            index,
            platforms,
            layer,
        }
    }
}

impl Default for Sample {
    fn default() -> Self {
        Sample::new()
    }
}

/// An image manifest over `config` and `layers` (descriptors).
pub fn manifest_of(config: &Blob, layers: &[serde_json::Value]) -> Blob {
    Blob {
        media_type: MANIFEST.into(),
        bytes: serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": config.descriptor(),
            "layers": layers,
        }))
        .unwrap(),
    }
}

/// An index over (architecture, manifest, _) entries.
pub fn index_of(platforms: &[(String, Blob, Blob)]) -> Blob {
    let manifests: Vec<serde_json::Value> = platforms
        .iter()
        .map(|(arch, m, _)| {
            let mut d = m.descriptor();
            d["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
            d
        })
        .collect();
    Blob {
        media_type: INDEX.into(),
        bytes: serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": manifests,
        }))
        .unwrap(),
    }
}

pub fn tar_with(name: &str, body: &[u8]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    tar.append_data(&mut h, name, body).unwrap();
    tar.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

impl Hostile {
    /// A registry serving [`Sample`] as `evil/base:latest`.
    pub fn start() -> (Hostile, Sample) {
        let hostile = Hostile::empty();
        let sample = Sample::new();
        hostile.put_tag(REPO, TAG, &sample.index);
        for (_, m, c) in &sample.platforms {
            hostile.put_manifest(REPO, m);
            hostile.put_blob(REPO, c);
        }
        hostile.put_blob(REPO, &sample.layer);
        (hostile, sample)
    }

    /// A registry serving the OCI layout `dir`'s tag `tag` as `repo:tag`
    /// (every blob of the layout, by digest, as manifest and as blob).
    pub fn serve_layout(&self, repo: &str, dir: &std::path::Path, tag: &str) {
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        for e in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["mediaType"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "application/octet-stream".into());
            let blob = Blob { media_type, bytes };
            self.put_manifest(repo, &blob);
            self.put_blob(repo, &blob);
        }
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .unwrap_or_else(|| panic!("{} has no tag {tag}", dir.display()));
        let digest = entry["digest"].as_str().unwrap();
        let path = format!("/v2/{repo}/manifests/{digest}");
        let doc = self.state.lock().unwrap().paths[&path].clone();
        self.put_tag(repo, tag, &doc);
    }

    /// What `path` serves.
    pub fn get(&self, path: &str) -> Blob {
        self.state.lock().unwrap().paths[path].clone()
    }

    /// A registry serving nothing yet.
    pub fn empty() -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let st = st.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &st);
                });
            }
        });
        Hostile { addr, state }
    }

    /// `127.0.0.1:<port>/evil/base:latest`
    pub fn reference(&self) -> String {
        format!("{}/{REPO}:{TAG}", self.addr)
    }

    pub fn put_tag(&self, repo: &str, tag: &str, doc: &Blob) {
        self.put(&format!("/v2/{repo}/manifests/{tag}"), doc);
        self.put_manifest(repo, doc);
    }

    pub fn put_manifest(&self, repo: &str, doc: &Blob) {
        self.put(&format!("/v2/{repo}/manifests/{}", doc.digest()), doc);
    }

    pub fn put_blob(&self, repo: &str, blob: &Blob) {
        self.put(&format!("/v2/{repo}/blobs/{}", blob.digest()), blob);
    }

    fn put(&self, path: &str, blob: &Blob) {
        self.state
            .lock()
            .unwrap()
            .paths
            .insert(path.to_owned(), blob.clone());
    }

    /// Attacks every request for `path` (`/v2/…` or `/token`) from now on.
    pub fn attack(&self, path: &str, attack: Attack) {
        self.state
            .lock()
            .unwrap()
            .attacks
            .insert(path.to_owned(), attack);
    }

    /// Answers `path` honestly again.
    pub fn cease(&self, path: &str) {
        self.state.lock().unwrap().attacks.remove(path);
    }

    pub fn tag_path(&self) -> String {
        format!("/v2/{REPO}/manifests/{TAG}")
    }

    pub fn manifest_path(digest: &str) -> String {
        format!("/v2/{REPO}/manifests/{digest}")
    }

    pub fn blob_path(digest: &str) -> String {
        format!("/v2/{REPO}/blobs/{digest}")
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

    /// Bytes an endless answer on `path` sent before the client hung up
    /// (once the answer has ended).
    pub fn sent(&self, path: &str) -> u64 {
        // The writer notices the hang-up a moment after the client.
        for _ in 0..50 {
            if let Some(n) = self.state.lock().unwrap().sent.get(path) {
                return *n;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no endless answer on {path} has ended");
    }
}

fn serve(mut conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("/").to_owned();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let path = target.split('?').next().unwrap_or("").to_owned();
    let (blob, attack) = {
        let mut st = state.lock().unwrap();
        *st.hits.entry(path.clone()).or_default() += 1;
        let attack = st.attacks.get(&path).cloned();
        if matches!(attack, Some(Attack::RetryAfter(_))) {
            st.attacks.remove(&path);
        }
        // The token realm is attacked through the path it serves for.
        let token_attack = st.attacks.values().find_map(|a| match a {
            Attack::EndlessToken => Some(Attack::Endless),
            Attack::AuthLoop => Some(Attack::Body(br#"{"token":"t"}"#.to_vec())),
            _ => None,
        });
        let attack = if path == "/token" {
            token_attack
        } else {
            attack
        };
        (st.paths.get(&path).cloned(), attack)
    };
    let head = method == "HEAD";
    let honest = |blob: &Blob| {
        vec![
            ("Content-Type", blob.media_type.clone()),
            ("Docker-Content-Digest", blob.digest()),
        ]
    };
    match (attack, blob) {
        (Some(Attack::Body(bytes)), blob) => {
            let headers = blob.as_ref().map(honest).unwrap_or_default();
            respond(&mut conn, head, 200, &headers, &bytes, bytes.len())
        }
        (Some(Attack::DigestHeader(d)), Some(blob)) => {
            let headers = [
                ("Content-Type", blob.media_type.clone()),
                ("Docker-Content-Digest", d),
            ];
            respond(
                &mut conn,
                head,
                200,
                &headers,
                &blob.bytes,
                blob.bytes.len(),
            )
        }
        (Some(Attack::Endless), blob) => {
            let mut head = "HTTP/1.1 200 OK\r\nConnection: close\r\n".to_owned();
            for (k, v) in blob.as_ref().map(honest).unwrap_or_default() {
                head += &format!("{k}: {v}\r\n");
            }
            let sent = crate::server::send_endless(&mut conn, &format!("{head}\r\n"))?;
            state.lock().unwrap().sent.insert(path, sent);
            Ok(())
        }
        (Some(Attack::Stall), Some(blob)) => {
            let half = &blob.bytes[..blob.bytes.len() / 2];
            respond(&mut conn, head, 200, &honest(&blob), half, blob.bytes.len())?;
            std::thread::sleep(Duration::from_secs(60));
            Ok(())
        }
        (Some(Attack::Trickle), Some(blob)) => {
            respond(&mut conn, head, 200, &honest(&blob), b"", blob.bytes.len())?;
            for byte in &blob.bytes {
                std::thread::sleep(Duration::from_millis(200));
                conn.write_all(std::slice::from_ref(byte))?;
                conn.flush()?;
            }
            Ok(())
        }
        (Some(Attack::RedirectLoop), _) => respond(
            &mut conn,
            head,
            302,
            &[("Location", target.clone())],
            b"",
            0,
        ),
        (Some(Attack::AuthLoop | Attack::EndlessToken), _) => {
            let port = conn.local_addr()?.port();
            let challenge = format!(
                "Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"hostile\",scope=\"repository:{REPO}:pull\""
            );
            let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}"#;
            let headers = [("WWW-Authenticate", challenge)];
            respond(&mut conn, head, 401, &headers, body, body.len())
        }
        (Some(Attack::RetryAfter(s)), _) => {
            respond(&mut conn, head, 429, &[("Retry-After", s)], b"", 0)
        }
        (Some(_), None) | (None, None) => respond(&mut conn, head, 404, &[], b"", 0),
        (None, Some(blob)) => respond(
            &mut conn,
            head,
            200,
            &honest(&blob),
            &blob.bytes,
            blob.bytes.len(),
        ),
    }
}

/// A response with `Connection: close`; to HEAD, without its body.
fn respond(
    conn: &mut TcpStream,
    head_only: bool,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
    length: usize,
) -> std::io::Result<()> {
    let mut head =
        format!("HTTP/1.1 {status} X\r\nContent-Length: {length}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    conn.write_all(head.as_bytes())?;
    if !head_only {
        conn.write_all(body)?;
    }
    conn.flush()
}
