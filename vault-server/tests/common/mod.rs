//! Shared helpers of the integration tests: an in-process server on
//! 127.0.0.1:0, devices with vault-core identities, entries encoded and
//! signed by vault-core, and a small JSON client; [`sync`] for zones.
#![allow(clippy::unwrap_used, dead_code)]

pub mod pg;
pub mod sync;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::net::SocketAddr;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;
use vault_core::circle::{
    CutList, Entry, EntryBody, EntryHash, EpochCommit, PeerId, PeerKeys, SEALED_NAME_LEN,
    SealedName, SignedEntry,
};
use vault_core::crypto::{BLOB_VERSION, DeviceIdentity, VaultRng};
use vault_server::{AppState, Config, ServeError, serve};

/// A server running in this process.
pub struct Server {
    pub url: String,
    pub addr: SocketAddr,
    pub state: AppState,
    pub config: Config,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
    pub dir: TempDir,
}

impl Server {
    /// A server with generous per-IP limits (tests share 127.0.0.1).
    pub async fn start() -> Server {
        Server::with(|_| {}).await
    }

    /// A server whose config `tweak` adjusts.
    pub async fn with(tweak: impl FnOnce(&mut Config)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            db: dir.path().join("server.db").into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        };
        config.registration = vault_server::Registration::Open;
        config.metrics_public = true;
        config.limits.per_ip_per_sec = 100_000;
        config.limits.per_ip_burst = 100_000;
        config.limits.per_device_per_sec = 100_000;
        config.limits.per_device_burst = 100_000;
        tweak(&mut config);
        let state = AppState::new(&config).unwrap();
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        Server {
            url: format!("http://{addr}"),
            addr,
            state,
            config,
            http: http(),
            stop: Some(stop),
            task: Some(task),
            dir,
        }
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn stop(&mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap(),
            None => Ok(()),
        }
    }

    /// A request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Reply::from(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub async fn from(r: reqwest::Response) -> Reply {
        Reply {
            status: r.status(),
            headers: r.headers().clone(),
            text: r.text().await.unwrap(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// Asserts the documented error shape, status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        let v = self.json();
        assert_eq!(v["error"]["code"], code, "body: {}", self.text);
        assert!(v["error"]["message"].is_string(), "body: {}", self.text);
        assert_eq!(v.as_object().unwrap().len(), 1, "body: {}", self.text);
        assert_eq!(
            v["error"].as_object().unwrap().len(),
            2,
            "body: {}",
            self.text
        );
        assert_eq!(
            self.headers["content-type"], "application/json",
            "body: {}",
            self.text
        );
    }
}

pub fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    data_encoding::BASE64URL_NOPAD
        .decode(text.as_bytes())
        .unwrap()
}

/// A device: a vault-core identity.
pub struct Device {
    pub identity: DeviceIdentity,
}

impl Device {
    pub fn new() -> Device {
        let mut rng = VaultRng::new().unwrap();
        Device {
            identity: DeviceIdentity::generate(&mut rng),
        }
    }

    pub fn peer(&self) -> PeerId {
        self.identity.peer_id()
    }

    pub fn peer_hex(&self) -> String {
        self.peer().to_string()
    }

    pub fn keys(&self) -> PeerKeys {
        self.identity.public()
    }

    /// Signs an entry of `circle` at `seq` after `prev`.
    pub fn sign(&self, circle: Uuid, seq: u64, prev: EntryHash, body: EntryBody) -> SignedEntry {
        vault_core::circle::Entry::sign(
            Entry {
                circle_id: circle,
                seq,
                prev,
                signer: self.peer(),
                time: 1_700_000_000,
                body,
            },
            &self.identity,
        )
        .unwrap()
    }

    /// This device's genesis entry for a new circle.
    pub fn genesis(&self, circle: Uuid) -> SignedEntry {
        self.sign(
            circle,
            0,
            EntryHash::ZERO,
            EntryBody::Genesis {
                founder: self.keys(),
                name: sealed_name(),
                epochs: vec![commit(1)],
            },
        )
    }
}

pub fn sealed_name() -> SealedName {
    let mut blob = vec![0u8; SEALED_NAME_LEN];
    blob[0] = BLOB_VERSION;
    SealedName::from_parts(1, blob).unwrap()
}

pub fn commit(epoch: u32) -> EpochCommit {
    EpochCommit {
        epoch,
        key_uuid: Uuid::new_v4(),
        commit: [epoch as u8; 32],
    }
}

/// The zone the server tests use.
pub const CUT_ZONE: &str = "keychain";

/// A removal of `peer` at the zone token `(epoch, seq)`, moving the key to
/// `epoch_number`, with an empty cut list: the body, and the list to post.
pub fn removal(peer: PeerId, epoch_number: u32, token: (u32, u64)) -> (EntryBody, Vec<u8>) {
    let list = CutList::new(CUT_ZONE, Vec::new()).unwrap();
    let body = EntryBody::Removal {
        peer,
        epoch: commit(epoch_number),
        cuts: vec![list.cut(token.0, token.1, [0; 32])],
    };
    (body, list.to_bytes())
}

/// Appends a removal entry with its cut list.
pub async fn append_removal(
    server: &Server,
    token: &str,
    circle: Uuid,
    entry: &SignedEntry,
    list: &[u8],
) -> Reply {
    let mut body = append_json(entry);
    body["cuts"] = json!([{ "zone": CUT_ZONE, "list": b64(list) }]);
    server
        .post(&format!("/v1/circles/{circle}/log"), Some(token), body)
        .await
}

pub fn entry_json(e: &SignedEntry) -> Value {
    json!({ "entry": b64(e.entry_bytes()), "signature": b64(e.signature()) })
}

pub fn append_json(e: &SignedEntry) -> Value {
    json!({
        "prev_hash": b64(&e.entry().prev.0),
        "entry": b64(e.entry_bytes()),
        "signature": b64(e.signature()),
    })
}

/// A circle founded by `founder`: its id and genesis.
pub async fn create_circle(server: &Server, founder: &Device) -> (Uuid, SignedEntry) {
    let circle = Uuid::new_v4();
    let genesis = founder.genesis(circle);
    let r = server.post("/v1/circles", None, entry_json(&genesis)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    (circle, genesis)
}

/// Challenge + token for a member.
pub async fn login(server: &Server, device: &Device, circle: Uuid) -> String {
    let r = token_request(server, device, circle).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()["token"].as_str().unwrap().to_owned()
}

/// A challenge, then the token request it signs: the token answer.
pub async fn token_request(server: &Server, device: &Device, circle: Uuid) -> Reply {
    let r = server
        .post(
            "/v1/auth/challenge",
            None,
            json!({ "circle_id": circle.to_string(), "peer_id": device.peer_hex() }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let challenge: [u8; 32] = unb64(r.json()["challenge"].as_str().unwrap())
        .try_into()
        .unwrap();
    let signature = vault_core::circle::sign_auth(&device.identity, circle, &challenge);
    server
        .post(
            "/v1/auth/token",
            None,
            json!({
                "circle_id": circle.to_string(),
                "peer_id": device.peer_hex(),
                "challenge": b64(&challenge),
                "signature": b64(&signature),
            }),
        )
        .await
}

/// Appends `entry` to `circle`'s log; returns the reply.
pub async fn append(server: &Server, token: &str, circle: Uuid, entry: &SignedEntry) -> Reply {
    server
        .post(
            &format!("/v1/circles/{circle}/log"),
            Some(token),
            append_json(entry),
        )
        .await
}

/// `founder` adds `peer` to the circle whose head is `head`; returns the entry.
pub async fn add_peer(
    server: &Server,
    token: &str,
    circle: Uuid,
    founder: &Device,
    head: &SignedEntry,
    peer: &Device,
) -> SignedEntry {
    let e = founder.sign(
        circle,
        head.entry().seq + 1,
        head.hash(),
        EntryBody::AddPeer {
            peer: peer.keys(),
            name: sealed_name(),
        },
    );
    let r = append(server, token, circle, &e).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    e
}

/// Starts the `vault-server` binary (`binary`: `env!("CARGO_BIN_EXE_vault-server")`)
/// with `args`; returns it and the address it printed on its "listening
/// on" line. Its stderr is drained afterwards.
pub fn spawn_binary(binary: &str, args: &[&str]) -> (std::process::Child, String) {
    let mut cmd = std::process::Command::new(binary);
    // Binaries run side by side: no fixed metrics port.
    cmd.args(args).env("VAULT_SERVER_METRICS_LISTEN", "off");
    let (child, addr, _) = spawn_command(cmd);
    (child, addr)
}

/// Starts a server command; returns it, the address of its "listening on"
/// line and the stderr lines before that one. Its stderr is drained
/// afterwards.
pub fn spawn_command(mut cmd: std::process::Command) -> (std::process::Child, String, Vec<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut before = Vec::new();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_owned();
        }
        before.push(line);
    };
    std::thread::spawn(move || for _ in lines {});
    assert!(!addr.ends_with(":0"), "the real port: {addr}");
    (child, addr, before)
}

/// An HTTP client for the tests. reqwest is built with TLS in this
/// workspace (vault-client's `rustls-no-provider`), and without a
/// provider of its own it needs the process default: *ring*, as the
/// server's.
pub fn http() -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::new()
}

/// Installs *ring* as the process's rustls provider (once; later calls
/// find it installed).
pub fn install_tls_provider() {
    #[allow(deprecated, reason = "ring, as the server")]
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
}
