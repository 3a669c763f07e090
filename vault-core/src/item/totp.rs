//! TOTP codes (RFC 6238) from an item's `otpauth://` URI or bare base32
//! seed: the check made when a seed is saved, and the code at a time.
//! Errors never quote the seed.

use super::{CustomField, ItemData};
use crate::secret::SecretString;
use totp_rs::{Builder, Secret, Totp};

/// Why a TOTP value gives no code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    /// An `otpauth://` URI that does not parse (or is not `totp`).
    #[error("the TOTP URI is not valid (expected otpauth://totp/LABEL?secret=BASE32...)")]
    BadUri,
    /// A bare seed that is not base32.
    #[error("the TOTP seed is not base32 (letters A-Z and digits 2-7)")]
    NotBase32,
    /// A seed with no bits.
    #[error("the TOTP seed is empty")]
    Empty,
    /// The item has no TOTP field, nor a custom field named `totp`.
    #[error("this item has no TOTP seed")]
    NoSeed,
}

/// A code and how long it stays valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// The digits.
    pub code: String,
    /// Seconds until the next step.
    pub seconds_left: u64,
    /// The step length in seconds.
    pub period: u64,
}

/// Parses a TOTP value. Short seeds that real services issue (80 bits)
/// are accepted, as every authenticator app does; a URI's period must be
/// at least 1 s and its length 6 to 8 digits (RFC 4226).
fn parse(value: &str) -> Result<Totp, TotpError> {
    let value = value.trim();
    if value.starts_with("otpauth://") {
        // totp-rs's error may quote the URI, seed included: not kept.
        let totp = Totp::from_url_unchecked(value).map_err(|_| TotpError::BadUri)?;
        // Unchecked parsing takes any period and length; a period of 0
        // divides by zero and 10 digits or more panic when a code is made.
        if totp.step() == 0 || !(6..=8).contains(&totp.digits()) {
            return Err(TotpError::BadUri);
        }
        return Ok(totp);
    }
    let seed = SecretString::new(
        value
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_uppercase(),
    );
    let secret = Secret::try_from_base32(seed.expose().trim_end_matches('='))
        .map_err(|_| TotpError::NotBase32)?;
    if secret.is_empty() {
        return Err(TotpError::Empty);
    }
    Ok(Builder::new().with_secret(secret).build_noncompliant())
}

/// Checks a TOTP value before it is saved: empty (no TOTP) or one that
/// gives codes.
pub fn check(value: &str) -> Result<(), TotpError> {
    if value.trim().is_empty() {
        return Ok(());
    }
    parse(value).map(drop)
}

/// The code of `value` (URI or seed) at `unix_secs`.
pub fn code_at(value: &str, unix_secs: u64) -> Result<Code, TotpError> {
    let totp = parse(value)?;
    let period = totp.step();
    Ok(Code {
        code: totp.generate(unix_secs).to_string(),
        seconds_left: period - unix_secs % period,
        period,
    })
}

/// The item's TOTP value: its `totp` field, else a custom field named
/// `totp` (imports from tools that keep it there).
pub fn seed_of(data: &ItemData) -> Result<&SecretString, TotpError> {
    fn custom(fields: &[CustomField]) -> Option<&SecretString> {
        fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case("totp") && !f.value.is_empty())
            .map(|f| &f.value)
    }
    match data {
        ItemData::Inet(i) if !i.totp.is_empty() => Some(&i.totp),
        ItemData::Inet(i) => custom(&i.custom_fields),
        ItemData::Genp(g) => custom(&g.custom_fields),
        ItemData::Key(_) => None,
    }
    .ok_or(TotpError::NoSeed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{GenericPassword, InternetPassword};

    /// RFC 6238 appendix B, SHA-1, 8 digits, seed "12345678901234567890".
    #[test]
    fn rfc_6238_vectors() {
        let uri = "otpauth://totp/RFC:test?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=8&period=30&algorithm=SHA1";
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(code_at(uri, time).unwrap().code, code, "t = {time}");
        }
        assert_eq!(code_at(uri, 59).unwrap().seconds_left, 1);
    }

    #[test]
    fn bare_seeds_with_spaces_and_lower_case() {
        let seed = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq";
        assert_eq!(code_at(seed, 59).unwrap().code, "287082");
        assert_eq!(check("not base32 !"), Err(TotpError::NotBase32));
        assert_eq!(
            check("otpauth://hotp/x?secret=AAAA"),
            Err(TotpError::BadUri)
        );
        assert_eq!(check("  "), Ok(()));
    }

    /// Periods and lengths a code cannot be made with are refused when
    /// the seed is saved, not met as a panic when a code is asked for.
    #[test]
    fn impossible_periods_and_lengths_are_refused() {
        let base = "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        for bad in ["&period=0", "&digits=10", "&digits=12", "&digits=4"] {
            let uri = format!("{base}{bad}");
            assert_eq!(check(&uri), Err(TotpError::BadUri), "{uri}");
            assert_eq!(code_at(&uri, 59), Err(TotpError::BadUri), "{uri}");
        }
        for good in ["", "&digits=6", "&digits=8&period=60"] {
            assert_eq!(check(&format!("{base}{good}")), Ok(()), "{good}");
        }
    }

    #[test]
    fn the_seed_is_the_field_or_a_custom_field() {
        let mut inet = InternetPassword {
            totp: "AAAA".into(),
            ..Default::default()
        };
        assert_eq!(
            seed_of(&ItemData::Inet(inet.clone())).unwrap().expose(),
            "AAAA"
        );
        inet.totp = "".into();
        assert_eq!(seed_of(&ItemData::Inet(inet)), Err(TotpError::NoSeed));
        let genp = GenericPassword {
            custom_fields: vec![CustomField {
                name: "TOTP".into(),
                value: "BBBB".into(),
                hidden: true,
            }],
            ..Default::default()
        };
        assert_eq!(seed_of(&ItemData::Genp(genp)).unwrap().expose(), "BBBB");
    }
}
