//! Shared by the server benches (`auth_bench`, `ws_bench`): founds a circle
//! of n devices on a running server and logs devices in over HTTP.

pub mod bench;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use uuid::Uuid;
use vault_core::circle::{Entry, EntryBody, EntryHash, EpochCommit, SEALED_NAME_LEN, SealedName};
use vault_core::crypto::{BLOB_VERSION, DeviceIdentity, VaultRng};

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(bytes)
}

fn name() -> anyhow::Result<SealedName> {
    let mut blob = vec![0u8; SEALED_NAME_LEN];
    blob[0] = BLOB_VERSION;
    Ok(SealedName::from_parts(1, blob)?)
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> anyhow::Result<Value> {
    let mut req = http.post(url).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await?;
    let status = r.status();
    let v: Value = r.json().await?;
    if !status.is_success() {
        bail!("{url}: {status} {v}");
    }
    Ok(v)
}

/// Founds a circle with `n` devices (the first is the founder, who adds
/// the others); returns its id, the devices and the founder's session token.
pub async fn circle(
    http: &reqwest::Client,
    base: &str,
    n: usize,
) -> anyhow::Result<(Uuid, Vec<DeviceIdentity>, String)> {
    let mut rng = VaultRng::new()?;
    let devices: Vec<DeviceIdentity> = (0..n).map(|_| DeviceIdentity::generate(&mut rng)).collect();
    let circle = Uuid::new_v4();
    let founder = &devices[0];
    let mut head = vault_core::circle::Entry::sign(
        Entry {
            circle_id: circle,
            seq: 0,
            prev: EntryHash::ZERO,
            signer: founder.peer_id(),
            time: 0,
            body: EntryBody::Genesis {
                founder: founder.public(),
                name: name()?,
                epochs: vec![EpochCommit {
                    epoch: 1,
                    key_uuid: Uuid::new_v4(),
                    commit: [1; 32],
                }],
            },
        },
        founder,
    )?;
    post(
        http,
        &format!("{base}/v1/circles"),
        None,
        &json!({"entry": b64(head.entry_bytes()), "signature": b64(head.signature())}),
    )
    .await?;
    let token = login(http, base, circle, founder).await?;
    for d in &devices[1..] {
        let e = vault_core::circle::Entry::sign(
            Entry {
                circle_id: circle,
                seq: head.entry().seq + 1,
                prev: head.hash(),
                signer: founder.peer_id(),
                time: 0,
                body: EntryBody::AddPeer {
                    peer: d.public(),
                    name: name()?,
                },
            },
            founder,
        )?;
        post(
            http,
            &format!("{base}/v1/circles/{circle}/log"),
            Some(&token),
            &json!({
                "prev_hash": b64(&head.hash().0),
                "entry": b64(e.entry_bytes()),
                "signature": b64(e.signature()),
            }),
        )
        .await?;
        head = e;
    }
    Ok((circle, devices, token))
}

/// One challenge + token round trip; returns the session token.
pub async fn login(
    http: &reqwest::Client,
    base: &str,
    circle: Uuid,
    device: &DeviceIdentity,
) -> anyhow::Result<String> {
    let peer = device.peer_id().to_string();
    let c = post(
        http,
        &format!("{base}/v1/auth/challenge"),
        None,
        &json!({"circle_id": circle.to_string(), "peer_id": peer}),
    )
    .await?;
    let challenge: [u8; 32] = data_encoding::BASE64URL_NOPAD
        .decode(c["challenge"].as_str().context("challenge")?.as_bytes())?
        .try_into()
        .map_err(|_| anyhow::anyhow!("challenge length"))?;
    let t = post(
        http,
        &format!("{base}/v1/auth/token"),
        None,
        &json!({
            "circle_id": circle.to_string(),
            "peer_id": peer,
            "challenge": b64(&challenge),
            "signature": b64(&vault_core::circle::sign_auth(device, circle, &challenge)),
        }),
    )
    .await?;
    Ok(t["token"].as_str().context("token")?.to_owned())
}
