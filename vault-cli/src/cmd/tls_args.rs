//! The flags that say how a device authenticates its circle's server
//! (`circle create`, `peer join`, `circle trust`), turned into the
//! `ServerTrust` the vault keeps.

use crate::error::CliError;
use std::path::PathBuf;
use vault_core::circle::ServerTrust;

/// How to trust the server: a private CA, or plain http beyond loopback.
#[derive(clap::Args, Debug, Default)]
pub struct TlsArgs {
    /// A private CA's certificate (PEM): the server is verified against it
    /// instead of the system trust store, now and in later commands (it
    /// is kept in the vault)
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Allow plain http:// to an address that is not loopback: bearer
    /// tokens and ciphertext then cross the network unencrypted. Kept in
    /// the vault; `vault status` warns about it
    #[arg(long)]
    pub allow_insecure_http: bool,
}

impl TlsArgs {
    /// The trust these flags describe, with an invite code's pin.
    pub fn trust(&self, cert_pin: Option<[u8; 32]>) -> anyhow::Result<ServerTrust> {
        Ok(ServerTrust {
            ca_pem: self.ca_file.as_deref().map(read_ca).transpose()?,
            cert_pin,
            allow_insecure_http: self.allow_insecure_http,
        })
    }
}

/// A CA file's text, checked to hold a certificate.
pub fn read_ca(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read the CA file {}: {e}", path.display())))?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(CliError::Usage(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ))
        .into());
    }
    Ok(text)
}
