//! `vault peer invite`: prints a code, and the device it added once the
//! pairing completed (vault-client's `pairing::invite`).

use super::{Terminal, flow_error};
use crate::cmd::server_session::connect;
use crate::context::Ctx;
use crate::output::write_stdout;
use serde_json::json;
use std::io::IsTerminal;
use std::time::Duration;
use vault_client::pairing::{self, PairingFlowError};

pub fn invite(ctx: &Ctx, ttl: Duration, yes: bool) -> anyhow::Result<()> {
    pairing::check_ttl(ttl).map_err(flow_error)?;
    let mut vault = ctx.unlock()?;
    let on_code = |code: &str, ttl: Duration| {
        if ctx.out.json {
            // The first line, at once, so a script can hand the code over.
            write_stdout(&json!({ "code": code }).to_string());
        } else {
            write_stdout(code);
            ctx.out.note(&format!(
                "On the new device run:  vault peer join {code}\n(valid for {}; waiting for it...)",
                humantime::format_duration(ttl)
            ));
        }
    };
    let ui = Terminal {
        ctx,
        no_prompt: yes || ctx.out.json || !std::io::stdin().is_terminal(),
        on_code: &on_code,
        failed: Default::default(),
    };
    let invited = vault_client::runtime()?.block_on(async {
        let server = connect(&mut vault).await?;
        pairing::invite(&mut vault, &server, ttl, &ui)
            .await
            .map_err(|e| match (e, ui.failed.take()) {
                // The prompt could not be read: that is the failure.
                (PairingFlowError::NotConfirmed, Some(prompt)) => prompt,
                (e, _) => flow_error(e),
            })
    })?;
    ctx.out.data(&format!(
        "added {} ({})",
        invited.name,
        invited.peer.short()
    ));
    ctx.out.json(&json!({
        "sas": invited.sas,
        "peer": invited.peer.to_string(),
        "name": invited.name,
        "session": {
            "send": invited.send_fingerprint,
            "recv": invited.recv_fingerprint,
        },
    }));
    Ok(())
}
