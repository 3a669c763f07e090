//! A device as the contract test drives it: its identity and token, and
//! the signed entries and wire bodies it sends.

use crate::contract::{Api, b64};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;
use vault_core::circle::{
    Entry, EntryBody, EntryHash, EpochCommit, PeerId, SEALED_NAME_LEN, SealedName, SignedEntry,
};
use vault_core::crypto::{BLOB_VERSION, DeviceIdentity, VaultRng};

/// A device in the test: its keys and, once it has one, its token.
pub struct Device {
    pub id: DeviceIdentity,
    pub token: Option<String>,
}

impl Device {
    pub fn new(rng: &mut VaultRng) -> Device {
        Device {
            id: DeviceIdentity::generate(rng),
            token: None,
        }
    }

    pub fn peer(&self) -> PeerId {
        self.id.peer_id()
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn sign(&self, circle_id: Uuid, seq: u64, prev: EntryHash, body: EntryBody) -> SignedEntry {
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        vault_core::circle::Entry::sign(
            Entry {
                circle_id,
                seq,
                prev,
                signer: self.peer(),
                time,
                body,
            },
            &self.id,
        )
        .unwrap()
    }

    /// A fresh challenge, answered: the body of a token request.
    pub async fn answer(&self, api: &Api<'_>, circle_id: Uuid) -> Value {
        let body = json!({"circle_id": circle_id.to_string(), "peer_id": self.peer().to_string()});
        let ch = api.post_ok("/v1/auth/challenge", None, body, 200).await;
        assert_eq!(ch["expires_in"], 60, "challenges live 60 s: {ch}");
        let sig = vault_core::circle::sign_auth(&self.id, circle_id, &decode32(&ch["challenge"]));
        json!({"circle_id": circle_id.to_string(), "peer_id": self.peer().to_string(),
               "challenge": ch["challenge"], "signature": b64(&sig)})
    }

    /// The whole token exchange; keeps the token.
    pub async fn login(&mut self, api: &Api<'_>, circle_id: Uuid) {
        let body = self.answer(api, circle_id).await;
        let t = api.post_ok("/v1/auth/token", None, body, 200).await;
        self.token = Some(t["token"].as_str().unwrap().to_owned());
    }
}

pub fn decode32(v: &Value) -> [u8; 32] {
    let bytes = URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap();
    bytes.try_into().unwrap()
}

/// A sealed name the server cannot tell from a real one: it never opens it.
pub fn name() -> SealedName {
    let mut blob = vec![0x5a; SEALED_NAME_LEN];
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

pub fn wire(e: &SignedEntry) -> Value {
    json!({"entry": b64(e.entry_bytes()), "signature": b64(e.signature())})
}

pub fn append_body(e: &SignedEntry) -> Value {
    json!({"prev_hash": b64(e.entry().prev.as_bytes()),
           "entry": b64(e.entry_bytes()), "signature": b64(e.signature())})
}

pub fn invite_id() -> String {
    Uuid::new_v4().simple().to_string()
}
