//! `vault sync`: one sync round with the circle's server (authenticate,
//! refresh the circle log and key shares, then the engine's pull, merge,
//! push and verification) over a [`Session`], or, with `--watch`, the
//! watcher's loop over one.

use super::round::print_round;
use super::server_session::{Session, circle_of, no_circle};
use super::watch;
use crate::context::Ctx;

/// `vault sync`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// Stay connected and sync on every change, here or on another
    /// device, until interrupted (SIGINT/SIGTERM)
    #[arg(long)]
    watch: bool,
    /// How long one request may wait out a server that answers 429 (rate
    /// limited) or 503 (busy), as its Retry-After says, before the sync
    /// stops
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = humantime::parse_duration)]
    wait_limit: std::time::Duration,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let watch = args.watch;
    // No password asked for a vault that has nothing to sync with.
    if ctx.open()?.info()?.circle.is_none() {
        return Err(no_circle().into());
    }
    let mut vault = ctx.unlock()?;
    let circle_id = circle_of(&vault)?.circle_id;
    let rt = vault_client::background_runtime()?;
    if watch {
        let session = vault_client::Session::new(rt.handle().clone(), circle_id)
            .with_wait_limit(args.wait_limit);
        let result = watch::run(ctx.out, &rt, session, &mut vault);
        // The socket task is abandoned, not awaited.
        rt.shutdown_background();
        return result;
    }
    let mut session = Session::new(rt.handle().clone(), circle_id)
        .with_wait_limit(args.wait_limit)
        .with_progress_bar(!ctx.out.json && !ctx.out.quiet);
    let outcome = session.round(&mut vault)?;
    print_round(ctx.out, &mut vault, &outcome, None);
    Ok(())
}
