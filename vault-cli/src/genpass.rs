//! Password and passphrase generation from the OS random source, with
//! uniform choices (rejection sampling, no modulo bias).

use crate::password::Password;
use anyhow::Context;
use diceware_wordlists::Wordlist;

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
/// Symbols that survive shells, URLs and web forms without quoting trouble.
const SYMBOLS: &str = "!#$%&*+-.:;=?@^_~";

/// A uniform index below `n` (n ≥ 1) from the OS random source.
fn uniform(n: usize) -> anyhow::Result<usize> {
    let n = u32::try_from(n).context("alphabet too large")?;
    let zone = u32::MAX - (u32::MAX % n);
    loop {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b).context("the OS random source failed")?;
        let v = u32::from_be_bytes(b);
        if v < zone {
            return Ok((v % n) as usize);
        }
    }
}

/// A password of `len` characters with at least one lower-case letter,
/// upper-case letter, digit and (unless `!symbols`) symbol. Drawing whole
/// passwords until one qualifies keeps every qualifying password equally
/// likely.
pub fn password(len: usize, symbols: bool) -> anyhow::Result<Password> {
    let mut classes = vec![LOWER, UPPER, DIGITS];
    if symbols {
        classes.push(SYMBOLS);
    }
    let alphabet: Vec<char> = classes.iter().flat_map(|c| c.chars()).collect();
    loop {
        let mut out = Password::new(String::with_capacity(len));
        for _ in 0..len {
            out.push(alphabet[uniform(alphabet.len())?]);
        }
        if len < classes.len() || classes.iter().all(|c| out.chars().any(|ch| c.contains(ch))) {
            return Ok(out);
        }
    }
}

/// `words` words of the EFF long list (7,776 words, 12.9 bits each),
/// joined by dashes.
pub fn passphrase(words: usize) -> anyhow::Result<Password> {
    let list = Wordlist::EffLong.get_list();
    let mut out = Password::default();
    for i in 0..words {
        if i > 0 {
            out.push('-');
        }
        out.push_str(list[uniform(list.len())?]);
    }
    Ok(out)
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
            assert_eq!(p.chars().count(), 8);
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
            assert!(p.chars().any(|c| SYMBOLS.contains(c)));
            let q = password(12, false).unwrap();
            assert!(q.chars().all(|c| c.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn draws_differ_and_cover_the_alphabet() {
        let set: HashSet<String> = (0..100)
            .map(|_| password(20, true).unwrap().to_string())
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
        let words: Vec<&str> = p.split('-').collect();
        assert_eq!(words.len(), 6);
        assert!(words.iter().all(|w| list.contains(w)));
        assert!((entropy_bits(0, true, Some(6)) - 77.5).abs() < 0.1);
    }
}
