//! Password and passphrase generation from the OS random source, with
//! uniform choices (rejection sampling, no modulo bias).

use crate::secret::SecretString;
use diceware_wordlists::Wordlist;
use zeroize::Zeroizing;

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
/// Symbols that survive shells, URLs and web forms without quoting trouble.
pub const SYMBOLS: &str = "!#$%&*+-.:;=?@^_~";

/// The longest password or passphrase drawn (characters or words).
pub const MAX_LENGTH: usize = 1024;

/// Why nothing was generated.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// A length of 0 or above [`MAX_LENGTH`].
    #[error("the length must be between 1 and {MAX_LENGTH}")]
    BadLength,
    /// The operating system's random source failed.
    #[error("the operating system's random source failed")]
    Random(#[source] getrandom::Error),
}

/// A uniform index below `n` (1 ≤ n < 2³²) from the OS random source.
fn uniform(n: usize) -> Result<usize, GenerateError> {
    let n = n as u32;
    let zone = u32::MAX - (u32::MAX % n);
    loop {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b).map_err(GenerateError::Random)?;
        let v = u32::from_be_bytes(b);
        if v < zone {
            return Ok((v % n) as usize);
        }
    }
}

fn check_length(n: usize) -> Result<(), GenerateError> {
    if (1..=MAX_LENGTH).contains(&n) {
        Ok(())
    } else {
        Err(GenerateError::BadLength)
    }
}

/// A password of `len` characters with at least one lower-case letter,
/// upper-case letter, digit and (unless `!symbols`) symbol. Drawing whole
/// passwords until one qualifies keeps every qualifying password equally
/// likely.
pub fn password(len: usize, symbols: bool) -> Result<SecretString, GenerateError> {
    check_length(len)?;
    let mut classes = vec![LOWER, UPPER, DIGITS];
    if symbols {
        classes.push(SYMBOLS);
    }
    let alphabet: Vec<char> = classes.iter().flat_map(|c| c.chars()).collect();
    loop {
        let mut out = Zeroizing::new(String::with_capacity(len));
        for _ in 0..len {
            out.push(alphabet[uniform(alphabet.len())?]);
        }
        if len < classes.len() || classes.iter().all(|c| out.chars().any(|ch| c.contains(ch))) {
            return Ok(SecretString::new(std::mem::take(&mut *out)));
        }
    }
}

/// `words` words of the EFF long list (7,776 words, 12.9 bits each),
/// joined by dashes.
pub fn passphrase(words: usize) -> Result<SecretString, GenerateError> {
    check_length(words)?;
    let list = Wordlist::EffLong.get_list();
    let mut out = Zeroizing::new(String::new());
    for i in 0..words {
        if i > 0 {
            out.push('-');
        }
        out.push_str(list[uniform(list.len())?]);
    }
    Ok(SecretString::new(std::mem::take(&mut *out)))
}

/// Entropy in bits of what [`password`] or [`passphrase`] drew (an upper
/// bound for passwords: the class rule removes a few).
pub fn entropy_bits(len: usize, symbols: bool, words: Option<usize>) -> f64 {
    match words {
        Some(w) => w as f64 * (Wordlist::EffLong.get_list().len() as f64).log2(),
        None => {
            let n =
                LOWER.len() + UPPER.len() + DIGITS.len() + if symbols { SYMBOLS.len() } else { 0 };
            len as f64 * (n as f64).log2()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn passwords_have_the_length_and_every_class() {
        for _ in 0..200 {
            let p = password(8, true).unwrap();
            let p = p.expose();
            assert_eq!(p.chars().count(), 8);
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
            assert!(p.chars().any(|c| SYMBOLS.contains(c)));
            let q = password(12, false).unwrap();
            assert!(q.expose().chars().all(|c| c.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn draws_differ_and_cover_the_alphabet() {
        let set: HashSet<String> = (0..100)
            .map(|_| password(20, true).unwrap().expose().to_owned())
            .collect();
        assert_eq!(set.len(), 100);
        let chars: HashSet<char> = set.iter().flat_map(|p| p.chars()).collect();
        // 2,000 draws over 79 characters: every one shows up.
        assert_eq!(chars.len(), 26 + 26 + 10 + SYMBOLS.len());
    }

    #[test]
    fn passphrases_use_the_eff_list() {
        let list: HashSet<&str> = Wordlist::EffLong.get_list().iter().copied().collect();
        assert_eq!(list.len(), 7776);
        let p = passphrase(6).unwrap();
        let words: Vec<&str> = p.expose().split('-').collect();
        assert_eq!(words.len(), 6);
        assert!(words.iter().all(|w| list.contains(w)));
        assert!((entropy_bits(0, true, Some(6)) - 77.5).abs() < 0.1);
    }

    #[test]
    fn lengths_out_of_range_are_refused() {
        assert!(matches!(password(0, true), Err(GenerateError::BadLength)));
        assert!(matches!(
            passphrase(MAX_LENGTH + 1),
            Err(GenerateError::BadLength)
        ));
    }
}
