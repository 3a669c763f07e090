//! The `vault-server` binary: `serve` (the default), `config`, `backup`,
//! `restore`, `admin`. Errors become one line on stderr and exit status 1.

mod admin_cmd;
mod cli;

use anyhow::Context;
use clap::Parser;
use cli::{Cli, Command};
use std::io::{IsTerminal, Write};
use vault_server::storage::{Replaced, RestoreReport, sqlite_backup, sqlite_restore};
use vault_server::{
    AppState, Config, Database, LogFormat, MetricsListen, serve, serve_metrics, serve_on,
};

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vault-server: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let names: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect();
    if let Some(name) = Config::unknown_env(names.iter().map(String::as_str)) {
        anyhow::bail!(
            "unknown environment variable {name}: the settings are the config file's keys \
             in upper case after VAULT_SERVER_ (see `vault-server config`)"
        );
    }
    // Files this process creates (database, backups) are its user's only.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let config = Config::load(
        cli.config.as_deref(),
        &|k| std::env::var(k).ok(),
        &cli.overrides()?,
    )?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => run_server(config),
        Command::Config => {
            let mut out = std::io::stdout().lock();
            out.write_all(config.to_toml().as_bytes())?;
            out.flush()?;
            Ok(())
        }
        Command::Backup { output } => {
            let db = backup_source(&config.db)?;
            sqlite_backup(db, &output).with_context(|| {
                format!("cannot back up {} to {}", db.display(), output.display())
            })?;
            eprintln!("backed up {} to {}", db.display(), output.display());
            Ok(())
        }
        Command::Admin(cmd) => admin_cmd::run(&config.db, &config.quotas, cmd),
        Command::Restore { from, json } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the system clock is before 1970")?
                .as_secs();
            let (report, text) = match (&config.db, from) {
                (Database::Sqlite(db), Some(from)) => {
                    let report = sqlite_restore(db, &from, now).with_context(|| {
                        format!("cannot restore {} from {}", db.display(), from.display())
                    })?;
                    let text = restore_text(&report, &from.display().to_string());
                    (report, text)
                }
                (Database::Sqlite(_), None) => {
                    anyhow::bail!("give the backup to restore: --from FILE")
                }
                (Database::Postgres(url), None) => {
                    let storage = vault_server::storage::postgres::PgStorage::open(url.expose())
                        .with_context(|| format!("cannot open {}", config.db))?;
                    let report = storage
                        .restart_epochs(now, &config.db.to_string())
                        .with_context(|| format!("cannot restore {}", config.db))?;
                    let text = restore_text(&report, "the dump pg_restore loaded");
                    (report, text)
                }
                (Database::Postgres(_), Some(_)) => anyhow::bail!(
                    "on PostgreSQL, load the dump with pg_restore (every instance stopped), \
                     then run `vault-server restore` without --from: it moves the zones to a \
                     new epoch"
                ),
            };
            if json {
                let mut out = std::io::stdout().lock();
                serde_json::to_writer_pretty(&mut out, &restore_json(&report))?;
                out.write_all(b"\n")?;
                out.flush()?;
            }
            eprint!("{text}");
            Ok(())
        }
    }
}

/// The SQLite file `backup` copies; on PostgreSQL, what the admin uses
/// instead.
fn backup_source(db: &Database) -> anyhow::Result<&std::path::Path> {
    match db {
        Database::Sqlite(path) => Ok(path),
        Database::Postgres(_) => anyhow::bail!(
            "a PostgreSQL database is backed up with pg_dump \
             (pg_dump --format=custom --file=FILE URL), not `vault-server backup`"
        ),
    }
}

/// What a restore did, for a person.
fn restore_text(r: &RestoreReport, from: &str) -> String {
    let mut t = format!("restored {} from {from}", r.db.display());
    if r.schema != r.backup_schema {
        t += &format!(" (schema {} migrated to {})", r.backup_schema, r.schema);
    }
    t += &format!("\nmoved {} zone(s) to epoch {}", r.zones.len(), r.epoch);
    t += if r.zones.is_empty() { "\n" } else { ":\n" };
    for z in &r.zones {
        let old = z.old_epoch.map_or("none".to_owned(), |e| e.to_string());
        t += &format!(
            "  circle {} zone {}: epoch {old} -> {}, seq {}, {} record(s)\n",
            z.circle_id, z.zone, r.epoch, z.seq, z.records
        );
    }
    match &r.replaced {
        Replaced::Absent => t += "there was no database to replace\n",
        Replaced::Read => {
            t += "the replaced database's epochs and sequences were taken into account\n"
        }
        Replaced::Unreadable(why) => {
            t += &format!(
                "warning: the replaced database could not be read ({why}); \
                 the new epoch rests on the backup and the clock\n"
            )
        }
    }
    t += &format!(
        "dropped {} session token(s) and {} pairing invite(s): devices sign in again\n\
         now start the server: devices read the zones again and re-upload what the \
         backup lacks on their next sync\n",
        r.tokens_dropped, r.invites_dropped
    );
    t
}

/// What a restore did, as `--json` prints it.
fn restore_json(r: &RestoreReport) -> serde_json::Value {
    let replaced = match &r.replaced {
        Replaced::Absent => serde_json::json!("absent"),
        Replaced::Read => serde_json::json!("read"),
        Replaced::Unreadable(why) => serde_json::json!({ "unreadable": why }),
    };
    let zones: Vec<serde_json::Value> = r
        .zones
        .iter()
        .map(|z| {
            serde_json::json!({
                "circle_id": z.circle_id.to_string(),
                "zone": z.zone,
                "old_epoch": z.old_epoch,
                "epoch": r.epoch,
                "seq": z.seq,
                "records": z.records,
            })
        })
        .collect();
    serde_json::json!({
        "db": r.db,
        "backup_schema": r.backup_schema,
        "schema": r.schema,
        "epoch": r.epoch,
        "replaced": replaced,
        "zones": zones,
        "tokens_dropped": r.tokens_dropped,
        "invites_dropped": r.invites_dropped,
    })
}

/// Raises the open-file soft limit to the hard limit: every socket is a
/// descriptor, and a low soft limit (often 1024, or 256) would make the
/// server refuse connections long before the machine runs short.
fn raise_nofile() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    // An unlimited hard limit still needs a number: the kernel's usual cap.
    let want = limit.maximum.unwrap_or(1 << 20);
    if limit.current.is_some_and(|c| c < want) {
        let raised = Rlimit {
            current: Some(want),
            maximum: limit.maximum,
        };
        setrlimit(Resource::Nofile, raised).ok()?;
    }
    getrlimit(Resource::Nofile).current
}

fn run_server(config: Config) -> anyhow::Result<()> {
    let nofile = raise_nofile();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&config.log_level)?)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        // One object per line, the request span's fields flattened in.
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // A bad or missing certificate is an error before anything else.
    let tls = config.tls.settings();
    if let Some(settings) = &tls {
        vault_server::tls::load(settings).context("cannot use the TLS certificate")?;
    } else if !config.listen.ip().is_loopback() {
        tracing::warn!(
            listen = %config.listen,
            "serving plain HTTP beyond loopback: session tokens cross the network in the clear; \
             give --tls-cert and --tls-key, or put a TLS proxy in front"
        );
    }
    runtime.block_on(async {
        // Both addresses are bound before the database is created or
        // migrated: a server that cannot listen changes nothing on disk.
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let metrics = match config.metrics_listen {
            MetricsListen::At(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot serve metrics on {addr}"))?,
            ),
            MetricsListen::Off => None,
        };
        let state = AppState::new(&config)?;
        let addr = listener.local_addr()?;
        if let Some(metrics) = metrics {
            let at = metrics.local_addr()?;
            // A fixed line too: tests read the metrics port from it.
            eprintln!("metrics on {at}");
            let (stop, metrics_state) = (state.stopping(), state.clone());
            tokio::spawn(async move {
                if let Err(e) = serve_metrics(metrics, metrics_state, stop).await {
                    tracing::warn!(error = %e, "the metrics listener failed");
                }
            });
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        // A fixed line on stderr whatever the log level: scripts and tests
        // read the real port from it (with --listen 127.0.0.1:0).
        eprintln!("listening on {addr}");
        tracing::info!(%addr, db = %config.db, scheme, ?nofile, "serving");
        match &tls {
            Some(settings) => {
                let listener = vault_server::tls::TlsListener::bind(listener, settings)
                    .context("cannot use the TLS certificate")?;
                serve_on(listener, state, shutdown_signal()).await?;
            }
            None => serve(listener, state, shutdown_signal()).await?,
        }
        tracing::info!("stopped");
        anyhow::Ok(())
    })
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
