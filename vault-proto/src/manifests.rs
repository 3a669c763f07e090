//! A zone's manifests: the server's (`GET .../zones/{zone}/manifest`, with
//! every peer's latest signed one) and the peers' signed manifests (`PUT
//! .../manifests/{peer_id}`, `GET .../manifests`). Bodies and signatures
//! travel as base64url; `vault_core::sync::SignedManifest` decodes them.

use crate::codec::{
    DecodeError, Expected, PeerBytes, b64, parse_peer, parse_token, peer_hex, unb64, unb64_array,
};
use serde::{Deserialize, Serialize};
use vault_core::sync::{BUCKETS, Manifest, ServerManifest, SignedManifest};

/// `GET .../manifest` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestQuery {
    /// Whether to include every bucket hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buckets: Option<bool>,
}

/// `GET .../manifest` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestResponse {
    /// The zone's token.
    pub token: String,
    /// The root over the bucket hashes.
    pub root: String,
    /// Live records.
    pub count: u64,
    /// The 256 bucket hashes, concatenated (8192 bytes), when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<String>,
    /// Every peer's latest signed manifest of the zone, by peer id (the
    /// server always sends the list; an answer without one reads as none).
    #[serde(default)]
    pub manifests: Vec<PeerManifest>,
}

impl From<&ServerManifest> for ManifestResponse {
    fn from(m: &ServerManifest) -> Self {
        ManifestResponse {
            token: m.token.to_text(),
            root: b64(&m.root),
            count: m.count,
            buckets: m.buckets.as_ref().map(|b| b64(&b.to_blob())),
            manifests: m.manifests.iter().map(PeerManifest::from).collect(),
        }
    }
}

impl ManifestResponse {
    /// The manifest, with the bucket hashes only if `want_buckets` (they
    /// are ignored otherwise), each signed manifest decoded (not
    /// verified).
    pub fn decode(&self, want_buckets: bool) -> Result<ServerManifest, DecodeError> {
        let buckets = match &self.buckets {
            Some(text) if want_buckets => Some(
                Manifest::from_blob(&unb64("buckets", text)?)
                    .ok_or(DecodeError::new("buckets", Expected::Bytes(BUCKETS * 32)))?,
            ),
            _ => None,
        };
        Ok(ServerManifest {
            token: parse_token("token", &self.token)?,
            root: unb64_array("root", &self.root)?,
            count: self.count,
            buckets,
            manifests: self
                .manifests
                .iter()
                .map(PeerManifest::decode)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// One peer's signed manifest in `GET .../manifests` and `GET .../manifest`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerManifest {
    /// The signer.
    pub peer_id: String,
    /// The body, as signed.
    pub manifest: String,
    /// The signature.
    pub signature: String,
}

impl From<&SignedManifest> for PeerManifest {
    fn from(s: &SignedManifest) -> Self {
        PeerManifest::new(s.signer.as_bytes(), &s.body(), &s.signature)
    }
}

impl PeerManifest {
    /// `peer`'s manifest of this body and signature, as stored.
    pub fn new(peer: &PeerBytes, body: &[u8], signature: &[u8]) -> PeerManifest {
        PeerManifest {
            peer_id: peer_hex(peer),
            manifest: b64(body),
            signature: b64(signature),
        }
    }

    /// The signed manifest (decoded, its signature not verified).
    pub fn decode(&self) -> Result<SignedManifest, DecodeError> {
        parse_peer("peer_id", &self.peer_id)?;
        decode_signed(&self.manifest, &self.signature)
    }
}

/// A signed manifest from its two base64url fields.
fn decode_signed(manifest: &str, signature: &str) -> Result<SignedManifest, DecodeError> {
    let body = unb64("manifest", manifest)?;
    let signature = unb64("signature", signature)?;
    SignedManifest::decode(&body, &signature)
        .map_err(|e| DecodeError::new("manifest", Expected::Manifest(e)))
}

/// `PUT .../manifests/{peer_id}` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PutManifestRequest {
    /// The signed manifest's body (`SignedManifest::body`).
    pub manifest: String,
    /// The signer's Ed25519 signature over it.
    pub signature: String,
}

impl PutManifestRequest {
    /// The request publishing `m`.
    pub fn new(m: &SignedManifest) -> PutManifestRequest {
        PutManifestRequest {
            manifest: b64(&m.body()),
            signature: b64(&m.signature),
        }
    }

    /// The body's and the signature's bytes, not yet decoded as a
    /// manifest.
    pub fn bytes(&self) -> Result<(Vec<u8>, Vec<u8>), DecodeError> {
        Ok((
            unb64("manifest", &self.manifest)?,
            unb64("signature", &self.signature)?,
        ))
    }

    /// The signed manifest (decoded, its signature not verified).
    pub fn decode(&self) -> Result<SignedManifest, DecodeError> {
        decode_signed(&self.manifest, &self.signature)
    }
}

/// `PUT .../manifests/{peer_id}` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PutManifestResponse {
    /// The counter stored.
    pub counter: u64,
    /// Another current member signed a different root at the same change
    /// token: devices disagree about the zone (a server serving them
    /// different data, or a bug). The server counts and logs it.
    #[serde(default)]
    pub divergent: bool,
}

/// `GET .../manifests` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestsResponse {
    /// Every stored manifest of the zone, by peer id.
    pub manifests: Vec<PeerManifest>,
}

impl ManifestsResponse {
    /// Every signed manifest (decoded, not verified).
    pub fn decode(&self) -> Result<Vec<SignedManifest>, DecodeError> {
        self.manifests.iter().map(PeerManifest::decode).collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use uuid::Uuid;
    use vault_core::circle::PeerId;
    use vault_core::sync::{Token, WireError};

    fn signed() -> SignedManifest {
        SignedManifest {
            circle_id: Uuid::from_bytes([4; 16]),
            zone: "keychain".into(),
            signer: PeerId::from_bytes([7; 32]),
            counter: 3,
            token: Token { epoch: 1, seq: 4 },
            circle_pos: 2,
            root: [9; 32],
            count: 1,
            signature: [1; 64],
        }
    }

    fn server(buckets: bool) -> ServerManifest {
        ServerManifest {
            token: Token { epoch: 1, seq: 5 },
            root: Manifest::default().root(),
            count: 2,
            buckets: buckets.then(Manifest::default),
            manifests: vec![signed()],
        }
    }

    #[test]
    fn manifests_are_pinned() {
        let m = server(false);
        let text = serde_json::to_string(&ManifestResponse::from(&m)).unwrap();
        let s = signed();
        assert_eq!(
            text,
            format!(
                r#"{{"token":"1.5","root":"{}","count":2,"manifests":[{{"peer_id":"{}","manifest":"{}","signature":"{}"}}]}}"#,
                b64(&m.root),
                s.signer,
                b64(&s.body()),
                b64(&s.signature)
            )
        );
        let with = serde_json::to_value(ManifestResponse::from(&server(true))).unwrap();
        assert_eq!(
            with["buckets"].as_str().unwrap().len(),
            (BUCKETS * 32 * 4).div_ceil(3)
        );
    }

    #[test]
    fn manifests_round_trip() {
        for buckets in [false, true] {
            let m = server(buckets);
            let text = serde_json::to_string(&ManifestResponse::from(&m)).unwrap();
            let json: ManifestResponse = serde_json::from_str(&text).unwrap();
            assert_eq!(json.decode(buckets).unwrap(), m);
            assert_eq!(json.decode(false).unwrap().buckets, None);
        }
        let list = ManifestsResponse {
            manifests: vec![PeerManifest::from(&signed())],
        };
        let text = serde_json::to_string(&list).unwrap();
        let back: ManifestsResponse = serde_json::from_str(&text).unwrap();
        assert_eq!(back.decode().unwrap(), vec![signed()]);
        let put = PutManifestRequest::new(&signed());
        assert_eq!(put.decode().unwrap(), signed());
        assert_eq!(
            put.bytes().unwrap(),
            (signed().body(), signed().signature.to_vec())
        );
        // No `manifests`: none.
        let bare: ManifestResponse = serde_json::from_str(&format!(
            r#"{{"token":"1.5","root":"{}","count":2}}"#,
            b64(&[0; 32])
        ))
        .unwrap();
        assert!(bare.decode(false).unwrap().manifests.is_empty());
    }

    #[test]
    fn malformed_manifests_are_refused() {
        let good = ManifestResponse::from(&server(true));
        let err = |m: ManifestResponse, b: bool| m.decode(b).unwrap_err().to_string();
        let short_root = ManifestResponse {
            root: "AAAA".into(),
            ..good.clone()
        };
        assert_eq!(err(short_root, false), "root: expected 32 bytes");
        let no_token = ManifestResponse {
            token: "5".into(),
            ..good.clone()
        };
        assert_eq!(err(no_token, false), "token: expected EPOCH.SEQ");
        let short_buckets = ManifestResponse {
            buckets: Some("AAAA".into()),
            ..good.clone()
        };
        assert_eq!(err(short_buckets, true), "buckets: expected 8192 bytes");
        let cut = PeerManifest {
            manifest: "AAAA".into(),
            ..PeerManifest::from(&signed())
        };
        assert_eq!(
            cut.decode().unwrap_err(),
            DecodeError::new("manifest", Expected::Manifest(WireError::Version(0).into()))
        );
        let bad_peer = PeerManifest {
            peer_id: "x".into(),
            ..PeerManifest::from(&signed())
        };
        assert_eq!(
            bad_peer.decode().unwrap_err().to_string(),
            "peer_id: expected 64 lowercase hex digits"
        );
        let in_list = ManifestResponse {
            manifests: vec![cut],
            ..good
        };
        assert!(in_list.decode(false).is_err());
        assert!(serde_json::from_str::<ManifestResponse>(r#"{"root":"AAAA","count":1}"#).is_err());
    }
}
