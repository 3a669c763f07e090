//! The contract harness: loads `schema/openapi.json` and `schema/ws/*.json`,
//! and a client whose every answer (HTTP or WebSocket) is checked against
//! them. Breaches are collected, not panicked on, so one run lists them all.
//! (Over 500 lines: the document's loader and validator and the client that
//! feeds every answer to it belong together; the scenarios live beside it.)

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{SinkExt as _, StreamExt as _};
use jsonschema::{Draft, Registry, Validator};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Where the schema files claim to live: a name that never resolves, so
/// every reference is served from the files in the registry below.
pub const BASE: &str = "https://vault.invalid/schema/";
const FRAMES: [&str; 6] = ["hello", "circle", "shares", "zone", "pong", "ping"];
/// The key under which calls that match no operation are recorded.
pub const UNMATCHED: &str = "<unmatched>";

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schema")
}

fn read_json(rel: &str) -> Value {
    let path = schema_dir().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The start of a body, for a failure message.
fn snippet(text: &str) -> String {
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_owned(),
    }
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Rewrites the document-local `$ref`s (`#/components/...`) of a schema
/// taken out of the OpenAPI document into absolute ones, so it compiles on
/// its own against the registry.
fn absolutize(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| match (k.as_str(), v) {
                    ("$ref", Value::String(r)) if r.starts_with('#') => {
                        (k.clone(), Value::String(format!("{BASE}openapi.json{r}")))
                    }
                    _ => (k.clone(), absolutize(v)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(absolutize).collect()),
        other => other.clone(),
    }
}

/// The contract: the documents, a registry to resolve their references, and
/// what the test saw.
pub struct Contract {
    doc: Value,
    registry: Registry<'static>,
    frame: Validator,
    /// (path template or [`UNMATCHED`], method, status) of every answer.
    seen: Mutex<BTreeSet<(String, String, u16)>>,
    /// Every way the server (or a request the test sent) broke the contract.
    pub failures: Mutex<Vec<String>>,
}

impl Contract {
    pub fn load() -> Contract {
        let doc = read_json("openapi.json");
        let mut resources = vec![(format!("{BASE}openapi.json"), doc.clone())];
        for f in FRAMES.iter().chain(&["frame"]) {
            resources.push((
                format!("{BASE}ws/{f}.json"),
                read_json(&format!("ws/{f}.json")),
            ));
        }
        for (uri, schema) in &resources {
            if uri.ends_with("openapi.json") {
                for (name, s) in schema["components"]["schemas"].as_object().unwrap() {
                    assert!(
                        jsonschema::meta::is_valid(&absolutize(s)),
                        "components/schemas/{name} is not a valid JSON Schema"
                    );
                }
            } else {
                assert!(
                    jsonschema::meta::is_valid(schema),
                    "{uri} is not a valid JSON Schema"
                );
                assert_eq!(schema["$id"], json!(uri), "$id of {uri}");
            }
        }
        let registry = Registry::new()
            .draft(Draft::Draft202012)
            .extend(resources)
            .unwrap()
            .prepare()
            .unwrap();
        let frame = Self::compile(&registry, &read_json("ws/frame.json"));
        Contract {
            doc,
            registry,
            frame,
            seen: Mutex::new(BTreeSet::new()),
            failures: Mutex::new(Vec::new()),
        }
    }

    fn compile(registry: &Registry<'static>, schema: &Value) -> Validator {
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(registry)
            .should_validate_formats(true)
            .build(schema)
            .unwrap_or_else(|e| panic!("schema does not compile: {e}\n{schema:#}"))
    }

    fn fail(&self, what: String) {
        eprintln!("CONTRACT: {what}");
        self.failures.lock().unwrap().push(what);
    }

    /// Follows an OpenAPI `$ref` (to a response) within the document.
    fn deref<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => self
                .doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling $ref {r}")),
            None => v,
        }
    }

    /// The path template in the document that `path` matches.
    fn template(&self, path: &str) -> Option<String> {
        let segs: Vec<&str> = path.split('/').collect();
        self.doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .find(|t| {
                let ts: Vec<&str> = t.split('/').collect();
                ts.len() == segs.len()
                    && ts.iter().zip(&segs).all(|(t, s)| {
                        (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s
                    })
            })
            .cloned()
    }

    /// The documented response of `method path` with `status`, or `None`
    /// (and a failure) if there is none. Returns the key the call is
    /// recorded under.
    fn response(&self, method: &str, path: &str, status: u16) -> Option<(&Value, String)> {
        let m = method.to_ascii_lowercase();
        // A known path with another method may only answer 405; an unknown
        // path only 404.
        let (key, documented) = match self.template(path) {
            Some(t) if self.doc["paths"][&t].get(&m).is_some() => {
                let r = self.doc["paths"][&t][&m]["responses"].get(status.to_string());
                (t, r)
            }
            Some(_) if status == 405 => (
                UNMATCHED.to_owned(),
                self.doc["x-unmatched-responses"].get("405"),
            ),
            None if status == 404 => (
                UNMATCHED.to_owned(),
                self.doc["x-unmatched-responses"].get("404"),
            ),
            _ => (UNMATCHED.to_owned(), None),
        };
        self.seen
            .lock()
            .unwrap()
            .insert((key.clone(), m.clone(), status));
        match documented {
            Some(r) => Some((self.deref(r), key)),
            None => {
                self.fail(format!(
                    "{method} {path} ({key}) answered {status}, which is not documented"
                ));
                None
            }
        }
    }

    /// Checks one HTTP answer against the document.
    fn check(&self, method: &str, path: &str, status: u16, headers: &HeaderMap, body: &[u8]) {
        let Some((resp, _)) = self.response(method, path, status) else {
            return;
        };
        let what = format!("{method} {path} -> {status}");
        if let Some(hs) = resp.get("headers").and_then(Value::as_object) {
            for (name, h) in hs {
                let h = self.deref(h);
                match headers.get(name.as_str()) {
                    None if h["required"] == true => {
                        self.fail(format!("{what}: required header {name} is missing"));
                    }
                    None => {}
                    Some(v) => {
                        let v = v.to_str().unwrap_or("");
                        let value = v.parse::<i64>().map(Value::from).unwrap_or(json!(v));
                        let validator = Self::compile(&self.registry, &absolutize(&h["schema"]));
                        if let Err(e) = validator.validate(&value) {
                            self.fail(format!("{what}: header {name}: {v:?}: {e}"));
                        }
                    }
                }
            }
        }
        let Some(content) = resp.get("content").and_then(Value::as_object) else {
            if !body.is_empty() {
                self.fail(format!(
                    "{what}: documented without a body, got {} bytes",
                    body.len()
                ));
            }
            return;
        };
        let ctype = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some((media, schema)) = content
            .iter()
            .find(|(media, _)| ctype.split(';').next().unwrap().trim() == media.as_str())
        else {
            let text = snippet(&String::from_utf8_lossy(body));
            self.fail(format!(
                "{what}: content type {ctype:?} is not one of {:?}; body: {text}",
                content.keys().collect::<Vec<_>>()
            ));
            return;
        };
        let value = if media == "application/json" {
            match serde_json::from_slice::<Value>(body) {
                Ok(v) => v,
                Err(e) => {
                    let text = snippet(&String::from_utf8_lossy(body));
                    self.fail(format!("{what}: body is not JSON ({e}): {text}"));
                    return;
                }
            }
        } else {
            Value::String(String::from_utf8_lossy(body).into_owned())
        };
        let validator = Self::compile(&self.registry, &absolutize(&schema["schema"]));
        for e in validator.iter_errors(&value) {
            self.fail(format!(
                "{what}: body {}: at {}: {e}",
                snippet(&value.to_string()),
                e.instance_path()
            ));
        }
    }

    /// Checks a JSON body the test sends as a valid request against the
    /// operation's request schema: the test speaks the documented protocol.
    fn check_request(&self, method: &str, path: &str, body: &Value) {
        let m = method.to_ascii_lowercase();
        let t = self.template(path).unwrap();
        let schema =
            &self.doc["paths"][&t][&m]["requestBody"]["content"]["application/json"]["schema"];
        assert!(
            !schema.is_null(),
            "{method} {t} documents no JSON request body"
        );
        let validator = Self::compile(&self.registry, &absolutize(schema));
        if let Err(e) = validator.validate(body) {
            self.fail(format!("request {method} {path} {body}: {e}"));
        }
    }

    fn check_frame(&self, frame: &Value, from: &str) {
        for e in self.frame.iter_errors(frame) {
            self.fail(format!(
                "frame {frame} ({from}): at {}: {e}",
                e.instance_path()
            ));
        }
    }

    /// What is wrong with `value` as the JSON body of `method template`
    /// answering `status` ([`UNMATCHED`] for the fallbacks); nothing is recorded.
    pub fn body_errors(
        &self,
        method: &str,
        template: &str,
        status: u16,
        value: &Value,
    ) -> Vec<String> {
        let status = status.to_string();
        let r = if template == UNMATCHED {
            &self.doc["x-unmatched-responses"][&status]
        } else {
            &self.doc["paths"][template][method]["responses"][&status]
        };
        let schema = &self.deref(r)["content"]["application/json"]["schema"];
        assert!(
            !schema.is_null(),
            "no JSON body for {method} {template} {status}"
        );
        let validator = Self::compile(&self.registry, &absolutize(schema));
        validator
            .iter_errors(value)
            .map(|e| e.to_string())
            .collect()
    }

    /// Whether `frame` is a valid WebSocket frame; nothing is recorded.
    pub fn frame_is_valid(&self, frame: &Value) -> bool {
        self.frame.is_valid(frame)
    }

    /// The (route, method, statuses) the test saw, one line each.
    pub fn coverage(&self) -> String {
        let seen = self.seen.lock().unwrap();
        let mut lines: Vec<String> = Vec::new();
        let mut last: Option<(&str, &str)> = None;
        for (path, method, status) in seen.iter() {
            if last == Some((path.as_str(), method.as_str())) {
                lines.last_mut().unwrap().push_str(&format!(" {status}"));
            } else {
                lines.push(format!("{:>6} {path}: {status}", method.to_uppercase()));
                last = Some((path, method));
            }
        }
        lines.join("\n")
    }

    /// Operations in the document that the test never called.
    pub fn unexercised(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        let mut out = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if method == "parameters" {
                    continue;
                }
                if !seen.iter().any(|(p, m, _)| p == path && m == method) {
                    out.push(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        out
    }
}

/// What a request carries.
pub enum Body {
    None,
    /// A JSON body the test means to be valid: checked against the request
    /// schema before it is sent.
    Json(Value),
    /// Anything else, sent as is (malformed, oversized, wrong media type).
    Raw(&'static str, Vec<u8>),
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body as JSON, or as a (lossy) string if it is not JSON.
    pub body: Value,
    /// The body's bytes (binary bodies: sync record lists and pages).
    pub bytes: Vec<u8>,
}

/// One server under test, and a client that checks every answer.
pub struct Api<'c> {
    pub c: &'c Contract,
    pub base: String,
    pub http: reqwest::Client,
}

impl Api<'_> {
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Body) -> Resp {
        let route = path.split('?').next().unwrap();
        let mut req = self.http.request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", self.base),
        );
        if let Some(t) = token {
            req = req.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => {
                self.c.check_request(method, route, &v);
                req.header(CONTENT_TYPE, "application/json")
                    .body(serde_json::to_vec(&v).unwrap())
            }
            Body::Raw(ctype, bytes) => req.header(CONTENT_TYPE, ctype).body(bytes),
        };
        // A server may answer a body it refuses (413) and close before the
        // client has sent all of it; the client then sees a broken
        // connection instead of the answer. Such a request is sent again
        // (its answer is the same), at most twice.
        let retry = req.try_clone();
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(first) => {
                let mut got = Err(first);
                let mut again = retry;
                for _ in 0..2 {
                    let Some(r) = again else { break };
                    again = r.try_clone();
                    got = r.send().await;
                    if got.is_ok() {
                        break;
                    }
                }
                got.unwrap_or_else(|e| panic!("{method} {path}: {e}"))
            }
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        self.checked(method, route, status, headers, bytes.to_vec())
    }

    /// An answer, checked against the document.
    fn checked(
        &self,
        method: &str,
        route: &str,
        status: u16,
        headers: HeaderMap,
        bytes: Vec<u8>,
    ) -> Resp {
        self.c.check(method, route, status, &headers, &bytes);
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Resp {
            status,
            headers,
            body,
            bytes,
        }
    }

    /// A request written by hand on a connection of its own (what a
    /// client library will not send: an oversized head, a body that
    /// stalls), its answer checked like any other. `head` is the request
    /// line and headers, without the blank line; the server must close the
    /// connection within 10 s.
    pub async fn raw(&self, method: &str, route: &str, head: &str, body: &[u8]) -> Resp {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let addr = self.base.trim_start_matches("http://");
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let mut request =
            format!("{head}\r\nHost: {addr}\r\nConnection: close\r\n\r\n").into_bytes();
        request.extend_from_slice(body);
        tcp.write_all(&request).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer))
            .await
            .unwrap_or_else(|_| panic!("{method} {route}: the server kept the connection open"))
            .unwrap();
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("{method} {route}: no response head"));
        let head_text = String::from_utf8_lossy(&answer[..split]).into_owned();
        let bytes = answer[split + 4..].to_vec();
        let mut lines = head_text.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap();
        let mut headers = HeaderMap::new();
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                headers.append(
                    HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                    HeaderValue::from_str(value.trim()).unwrap(),
                );
            }
        }
        self.checked(method, route, status, headers, bytes)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.call("GET", path, token, Body::None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call("POST", path, token, Body::Json(body)).await
    }

    /// `POST` expecting `status`, with the answer in the panic message.
    pub async fn post_ok(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
        status: u16,
    ) -> Value {
        let r = self.post(path, token, body).await;
        assert_eq!(r.status, status, "POST {path}: {}", r.body);
        r.body
    }

    pub async fn get_ok(&self, path: &str, token: Option<&str>) -> Value {
        let r = self.get(path, token).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.body
    }

    /// Opens `/v1/ws`; a refused upgrade is checked like any answer.
    pub async fn ws(&self, token: Option<&str>) -> Result<Ws<'_>, Resp> {
        let url = format!("{}/v1/ws", self.base.replacen("http", "ws", 1));
        let mut req = url.into_client_request().unwrap();
        if let Some(t) = token {
            req.headers_mut()
                .insert(AUTHORIZATION, format!("Bearer {t}").parse().unwrap());
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((stream, resp)) => {
                self.c.check(
                    "GET",
                    "/v1/ws",
                    resp.status().as_u16(),
                    &HeaderMap::new(),
                    &[],
                );
                Ok(Ws { c: self.c, stream })
            }
            Err(tungstenite::Error::Http(resp)) => {
                let status = resp.status().as_u16();
                let mut headers = HeaderMap::new();
                for (k, v) in resp.headers() {
                    let k = HeaderName::from_bytes(k.as_str().as_bytes()).unwrap();
                    headers.insert(k, HeaderValue::from_bytes(v.as_bytes()).unwrap());
                }
                let bytes = resp.body().clone().unwrap_or_default();
                self.c.check("GET", "/v1/ws", status, &headers, &bytes);
                Err(Resp {
                    status,
                    headers,
                    body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                    bytes,
                })
            }
            Err(e) => panic!("GET /v1/ws: {e}"),
        }
    }
}

pub struct Ws<'c> {
    c: &'c Contract,
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws<'_> {
    /// The next text frame, checked; `None` once the server closed.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("no WebSocket frame within 10 s");
            match msg {
                None | Some(Ok(Message::Close(_))) | Some(Err(_)) => return None,
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t)
                        .unwrap_or_else(|e| panic!("frame {t:?} is not JSON: {e}"));
                    self.c.check_frame(&v, "server");
                    return Some(v);
                }
                Some(Ok(Message::Binary(b))) => panic!("binary frame {b:?}: frames are text"),
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next frame, which must be of `kind`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let v = self
            .next()
            .await
            .unwrap_or_else(|| panic!("socket closed before {kind}"));
        assert_eq!(v["type"], kind, "expected a {kind} frame, got {v}");
        v
    }

    pub async fn send(&mut self, frame: Value) {
        self.c.check_frame(&frame, "device");
        self.stream
            .send(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
    }
}

pub fn code(r: &Resp) -> &str {
    r.body["error"]["code"].as_str().unwrap_or("<none>")
}

/// Asserts status and error code, with the answer in the message.
#[track_caller]
pub fn assert_error(r: &Resp, status: u16, code_: &str, what: &str) {
    assert_eq!(
        (r.status, code(r)),
        (status, code_),
        "{what}: got {} {}",
        r.status,
        r.body
    );
}
