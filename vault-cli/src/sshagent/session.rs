//! The SSH agent protocol's answers: identities and signatures from the
//! vault's keys (read afresh for each request), an optional confirmation
//! on the terminal before each signature, and the failure reply for
//! everything else (adding, removing or locking keys, extensions).

use super::VaultSource;
use crate::output::Out;
use ssh_agent_lib::agent::{Agent, Session};
use ssh_agent_lib::error::AgentError;
use ssh_agent_lib::proto::{Identity, PublicCredential, SignRequest};
use ssh_key::{HashAlg, PrivateKey, Signature};
use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use tokio::net::{UnixListener, UnixStream};

/// The agent: shared by every connection.
#[derive(Clone)]
pub struct VaultAgent {
    shared: Arc<Shared>,
}

struct Shared {
    source: VaultSource,
    confirm: bool,
    out: Out,
    /// This process's uid: only the same user's clients are answered.
    uid: u32,
    /// One confirmation on the terminal at a time.
    tty: Mutex<()>,
}

impl VaultAgent {
    /// An agent serving `source`'s keys; with `confirm`, each signature
    /// is asked for on the controlling terminal first.
    pub fn new(source: VaultSource, confirm: bool, out: Out) -> Self {
        Self {
            shared: Arc::new(Shared {
                source,
                confirm,
                out,
                uid: rustix::process::getuid().as_raw(),
                tty: Mutex::new(()),
            }),
        }
    }
}

/// Who is on the other end of one connection.
#[derive(Clone, Copy)]
struct Peer {
    uid: Option<u32>,
    pid: Option<i32>,
}

/// One client connection.
struct Connection {
    shared: Arc<Shared>,
    peer: Peer,
}

impl Agent<UnixListener> for VaultAgent {
    fn new_session(&mut self, socket: &UnixStream) -> impl Session {
        let cred = socket.peer_cred().ok();
        Connection {
            shared: Arc::clone(&self.shared),
            peer: Peer {
                uid: cred.map(|c| c.uid()),
                pid: cred.and_then(|c| c.pid()),
            },
        }
    }
}

impl Connection {
    /// The vault's keys, read in the blocking pool (SQLite, the agent's
    /// socket and the terminal all block).
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Shared, Peer) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, AgentError> {
        if self.peer.uid != Some(self.shared.uid) {
            self.shared
                .note("refused a client of another user (or of unknown uid)");
            return Err(AgentError::Failure);
        }
        let shared = Arc::clone(&self.shared);
        let peer = self.peer;
        let result = tokio::task::spawn_blocking(move || {
            let out = work(&shared, peer);
            if let Err(e) = &out {
                shared.note(&format!("{e:#}"));
            }
            out
        })
        .await;
        match result {
            Ok(Ok(v)) => Ok(v),
            _ => Err(AgentError::Failure),
        }
    }
}

#[ssh_agent_lib::async_trait]
impl Session for Connection {
    async fn request_identities(&mut self) -> Result<Vec<Identity>, AgentError> {
        self.blocking(|shared, _| {
            Ok(shared
                .source
                .keys()?
                .iter()
                .map(|k| Identity {
                    credential: PublicCredential::Key(k.public_key().key_data().clone()),
                    comment: k.comment().to_owned(),
                })
                .collect())
        })
        .await
    }

    async fn sign(&mut self, request: SignRequest) -> Result<Signature, AgentError> {
        self.blocking(move |shared, peer| {
            let PublicCredential::Key(wanted) = &request.credential else {
                anyhow::bail!("refused to sign: certificates are not served");
            };
            let keys = shared.source.keys()?;
            let Some(key) = keys.iter().find(|k| k.public_key().key_data() == wanted) else {
                anyhow::bail!("refused to sign: the key asked for is not in the vault");
            };
            if shared.confirm {
                shared.confirm(key, peer)?;
            }
            sign_with(key, &request.data)
                .ok_or_else(|| anyhow::anyhow!("signing with {} failed", fingerprint(key)))
        })
        .await
    }
}

impl Shared {
    fn note(&self, line: &str) {
        self.out.note(&format!("vault ssh-agent: {line}"));
    }

    /// Asks on the controlling terminal whether `key` may sign for `peer`;
    /// anything but yes, or no terminal, refuses.
    fn confirm(&self, key: &PrivateKey, peer: Peer) -> anyhow::Result<()> {
        let _one_at_a_time = self.tty.lock().unwrap_or_else(|p| p.into_inner());
        let fp = fingerprint(key);
        let Ok(mut tty) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
        else {
            anyhow::bail!("refused to sign with {fp}: no terminal to confirm on (--confirm)");
        };
        write!(
            tty,
            "Allow signing with {fp} ({}) for {}? [y/N] ",
            printable(key.comment()),
            printable(&client_name(peer))
        )?;
        tty.flush()?;
        let mut answer = String::new();
        BufReader::new(&tty).read_line(&mut answer)?;
        match answer.trim().to_lowercase().as_str() {
            "y" | "yes" => Ok(()),
            _ => anyhow::bail!("signing with {fp} refused at the terminal"),
        }
    }
}

/// `s` with control characters (a label's escape sequences) shown as `?`.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// `SHA256:...`, as `ssh-add -l` shows it.
fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

/// The client's process name and pid, as far as Linux tells.
fn client_name(peer: Peer) -> String {
    let Some(pid) = peer.pid else {
        return "an unknown process".to_owned();
    };
    match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(name) => format!("{} (pid {pid})", name.trim()),
        Err(_) => format!("pid {pid}"),
    }
}

/// Ed25519 and ECDSA signatures ignore the request's flags (they choose
/// among RSA hashes only).
fn sign_with<K: ssh_key::SigningKey + ?Sized>(key: &K, data: &[u8]) -> Option<Signature> {
    key.try_sign(data).ok()
}
