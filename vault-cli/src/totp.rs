//! TOTP codes (RFC 6238) from an `otpauth://` URI or a bare base32 seed.

use crate::error::CliError;
use totp_rs::{Builder, Secret, Totp};

/// A code and how long it stays valid.
#[derive(Debug)]
pub struct Code {
    /// The digits.
    pub code: String,
    /// Seconds until the next step.
    pub seconds_left: u64,
    /// The step length.
    pub period: u64,
}

/// Parses the item's TOTP value. Short seeds that real services issue
/// (80 bits) are accepted, as every authenticator app does.
pub fn parse(value: &str) -> Result<Totp, CliError> {
    let value = value.trim();
    if value.starts_with("otpauth://") {
        // totp-rs's error may quote the URI, seed included: not shown.
        return Totp::from_url_unchecked(value).map_err(|_| {
            CliError::Usage(
                "the TOTP URI is not valid (expected otpauth://totp/LABEL?secret=BASE32...)".into(),
            )
        });
    }
    let seed: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_uppercase();
    let secret = Secret::try_from_base32(seed.trim_end_matches('=')).map_err(|_| {
        CliError::Usage("the TOTP seed is not base32 (letters A-Z and digits 2-7)".into())
    })?;
    if secret.is_empty() {
        return Err(CliError::Usage("the TOTP seed is empty".into()));
    }
    Ok(Builder::new().with_secret(secret).build_noncompliant())
}

/// Checks a TOTP value before it is saved: empty (no TOTP) or one that
/// [`parse`] accepts.
pub fn check(value: &str) -> Result<(), CliError> {
    if value.trim().is_empty() {
        return Ok(());
    }
    parse(value).map(drop)
}

/// The code at `unix_secs`.
pub fn code_at(totp: &Totp, unix_secs: u64) -> Code {
    let period = totp.step();
    Code {
        code: totp.generate(unix_secs).to_string(),
        seconds_left: period - unix_secs % period,
        period,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1, 8 digits, seed "12345678901234567890".
    #[test]
    fn rfc_6238_vectors() {
        let uri = "otpauth://totp/RFC:test?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=8&period=30&algorithm=SHA1";
        let t = parse(uri).unwrap();
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(code_at(&t, time).code, code, "t = {time}");
        }
        assert_eq!(code_at(&t, 59).seconds_left, 1);
    }

    #[test]
    fn bare_seeds_with_spaces_and_lower_case() {
        let t = parse("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap();
        assert_eq!(code_at(&t, 59).code, "287082");
        assert!(parse("not base32 !").is_err());
        assert!(parse("otpauth://hotp/x?secret=AAAA").is_err());
    }
}
