//! The agent's `Q` exchange: a query and its selector go in, the rule, the
//! count and the first matches' uuids come out. No attribute of any item
//! crosses the socket, only uuids.
//!
//! Request after the op byte: `u16` query length, query (UTF-8), `u16`
//! account length (0: none), account, class byte (0: any). Answer after
//! the status byte: rule byte (0: none, 1 uuid, 2 exact, 3 host,
//! 4 substring), `u32` count, `u8` n, n uuids of 16 bytes.

use std::io::{Read, Write};
use uuid::Uuid;
use vault_core::item::ItemClass;
use vault_core::{MAX_REPORTED, MatchRule, Resolution, Selector};

/// The longest query or account the exchange carries.
pub const MAX_TEXT: usize = 4096;

/// A query for the agent.
pub struct Request {
    /// What was typed.
    pub query: String,
    /// `--match-account`.
    pub account: Option<String>,
    /// `--match-class`.
    pub class: Option<ItemClass>,
}

fn write_text(out: &mut Vec<u8>, s: &str) -> std::io::Result<()> {
    let len = u16::try_from(s.len())
        .ok()
        .filter(|&n| usize::from(n) <= MAX_TEXT)
        .ok_or_else(|| std::io::Error::other("query too long for the agent"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn read_text(r: &mut impl Read) -> std::io::Result<String> {
    let mut len = [0u8; 2];
    r.read_exact(&mut len)?;
    let len = usize::from(u16::from_be_bytes(len));
    if len > MAX_TEXT {
        return Err(std::io::Error::other("text too long"));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    String::from_utf8(buf).map_err(std::io::Error::other)
}

fn class_byte(c: Option<ItemClass>) -> u8 {
    c.map_or(0, |c| c as u8)
}

fn class_of(b: u8) -> std::io::Result<Option<ItemClass>> {
    match b {
        0 => Ok(None),
        _ => ItemClass::ALL
            .into_iter()
            .find(|c| *c as u8 == b)
            .map(Some)
            .ok_or_else(|| std::io::Error::other("unknown class")),
    }
}

fn rule_byte(r: Option<MatchRule>) -> u8 {
    match r {
        None => 0,
        Some(MatchRule::Uuid) => 1,
        Some(MatchRule::Exact) => 2,
        Some(MatchRule::Host) => 3,
        Some(MatchRule::Substring) => 4,
    }
}

fn rule_of(b: u8) -> std::io::Result<Option<MatchRule>> {
    Ok(match b {
        0 => None,
        1 => Some(MatchRule::Uuid),
        2 => Some(MatchRule::Exact),
        3 => Some(MatchRule::Host),
        4 => Some(MatchRule::Substring),
        _ => return Err(std::io::Error::other("unknown rule")),
    })
}

impl Request {
    /// The request from a selector.
    pub fn new(query: &str, selector: Selector<'_>) -> Self {
        Request {
            query: query.to_owned(),
            account: selector.account.map(str::to_owned),
            class: selector.class,
        }
    }

    /// The selector this request carries.
    pub fn selector(&self) -> Selector<'_> {
        Selector {
            account: self.account.as_deref(),
            class: self.class,
        }
    }

    /// The bytes after the op byte.
    pub fn encode(&self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        write_text(&mut out, &self.query)?;
        write_text(&mut out, self.account.as_deref().unwrap_or(""))?;
        out.push(class_byte(self.class));
        Ok(out)
    }

    /// Reads the bytes after the op byte.
    pub fn decode(r: &mut impl Read) -> std::io::Result<Self> {
        let query = read_text(r)?;
        let account = Some(read_text(r)?).filter(|a| !a.is_empty());
        let mut class = [0u8; 1];
        r.read_exact(&mut class)?;
        Ok(Request {
            query,
            account,
            class: class_of(class[0])?,
        })
    }
}

/// The agent's answer: the rule, how many matched, the first uuids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The rule that matched.
    pub rule: Option<MatchRule>,
    /// How many matched.
    pub count: usize,
    /// The first matches, sorted as vault-core sorts them.
    pub uuids: Vec<Uuid>,
}

impl Resolved {
    /// The answer for a resolution.
    pub fn of(r: &Resolution) -> Self {
        Resolved {
            rule: r.rule,
            count: r.count,
            uuids: r.matches.iter().map(|s| s.uuid).collect(),
        }
    }

    /// The bytes after the status byte.
    pub fn write(&self, w: &mut impl Write) -> std::io::Result<()> {
        let n = self.uuids.len().min(MAX_REPORTED);
        let mut out = vec![rule_byte(self.rule)];
        out.extend_from_slice(&u32::try_from(self.count).unwrap_or(u32::MAX).to_be_bytes());
        out.push(u8::try_from(n).unwrap_or(u8::MAX));
        for u in &self.uuids[..n] {
            out.extend_from_slice(u.as_bytes());
        }
        w.write_all(&out)
    }

    /// Reads the bytes after the status byte.
    pub fn read(r: &mut impl Read) -> std::io::Result<Self> {
        let mut head = [0u8; 6];
        r.read_exact(&mut head)?;
        let rule = rule_of(head[0])?;
        let count = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let n = usize::from(head[5]);
        if n > MAX_REPORTED || n > count {
            return Err(std::io::Error::other("too many uuids"));
        }
        let mut uuids = Vec::with_capacity(n);
        for _ in 0..n {
            let mut b = [0u8; 16];
            r.read_exact(&mut b)?;
            uuids.push(Uuid::from_bytes(b));
        }
        Ok(Resolved { rule, count, uuids })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers_round_trip() {
        let req = Request {
            query: "gïthub.com".into(),
            account: Some("alice".into()),
            class: Some(ItemClass::Genp),
        };
        let bytes = req.encode().unwrap();
        let back = Request::decode(&mut bytes.as_slice()).unwrap();
        assert_eq!(
            (back.query.as_str(), back.account.as_deref(), back.class),
            ("gïthub.com", Some("alice"), Some(ItemClass::Genp))
        );
        let ans = Resolved {
            rule: Some(MatchRule::Host),
            count: 30,
            uuids: vec![Uuid::new_v4(), Uuid::new_v4()],
        };
        let mut out = Vec::new();
        ans.write(&mut out).unwrap();
        assert_eq!(Resolved::read(&mut out.as_slice()).unwrap(), ans);
        // Malformed input is refused, not trusted.
        assert!(Request::decode(&mut [0xff, 0xff].as_slice()).is_err());
        let mut lying = out.clone();
        lying[5] = 200;
        assert!(Resolved::read(&mut lying.as_slice()).is_err());
        assert!(
            Request::new(&"x".repeat(MAX_TEXT + 1), Selector::default())
                .encode()
                .is_err()
        );
    }
}
