//! `vault peer join`: decides what becomes of the vault's own items,
//! joins (vault-client's `pairing::join`), and prints the circle joined.

use super::{LocalItems, Terminal, flow_error, local_items};
use crate::cmd::server_session::device_name;
use crate::cmd::tls_args::TlsArgs;
use crate::context::Ctx;
use serde_json::json;
use std::io::IsTerminal;
use vault_client::pairing::{self, JoinOptions};

pub fn join(
    ctx: &Ctx,
    code: &str,
    name: Option<String>,
    server: Option<String>,
    tls: &TlsArgs,
    local: Option<LocalItems>,
) -> anyhow::Result<()> {
    let code = pairing::parse_code(code).map_err(flow_error)?;
    let trust = tls.trust(code.cert_pin)?;
    // Decided before anything reaches the server, so that a refusal
    // leaves the invite unused.
    let count: u64 = ctx.open()?.info()?.counts.iter().sum();
    let local = local_items(ctx, count, local, std::io::stdin().is_terminal())?;
    let name = device_name(name)?;
    let mut vault = ctx.unlock()?;
    let ui = Terminal {
        ctx,
        no_prompt: true,
        on_code: &|_, _| {},
        failed: Default::default(),
    };
    let options = JoinOptions {
        name,
        server,
        trust,
        local,
    };
    let joined = vault_client::runtime()?
        .block_on(pairing::join(&mut vault, code, options, &ui))
        .map_err(flow_error)?;
    if joined.discarded_local > 0 {
        ctx.out.note(&format!(
            "dropped the {} items this vault held",
            joined.discarded_local
        ));
    }
    ctx.out.done(&format!(
        "joined circle {} on {} as {} ({})",
        joined.circle_id,
        joined.server,
        joined.name,
        joined.peer.short()
    ));
    ctx.out.json(&json!({
        "circle_id": joined.circle_id.to_string(),
        "server": joined.server,
        "peer_id": joined.peer.to_string(),
        "name": joined.name,
        "sas": joined.sas,
        "inviter": joined.inviter.to_string(),
        "key_epoch": joined.key_epoch,
        "discarded_local": joined.discarded_local,
        "session": {
            "send": joined.send_fingerprint,
            "recv": joined.recv_fingerprint,
        },
    }));
    Ok(())
}
