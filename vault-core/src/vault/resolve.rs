//! Finding the item a person means by what they typed (a QUERY): the rules
//! every front end shares, run over the search cache.
//!
//! The rules, in order; the first that matches anything decides:
//! 1. a uuid, or a uuid prefix of 4 or more hex digits;
//! 2. an exact name (server, service, relying party) or label, ignoring
//!    case and Unicode normalization;
//! 3. when the query is a URL or a host name: an internet password whose
//!    server, or the host of any of its URLs, is that host (`www.` aside);
//! 4. a substring of the name, label or account.
//!
//! A [`Selector`] narrows every rule's matches (to one account, one class),
//! so a person can pick one of several without a longer query.

use super::UnlockedVault;
use crate::error::ItemError;
use crate::item::{ItemClass, ItemSummary};
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;
use zeroize::Zeroizing;

/// The shortest uuid prefix the first rule accepts.
pub const MIN_UUID_PREFIX: usize = 4;

/// How many matches a resolution reports at most (the count is exact).
pub const MAX_REPORTED: usize = 20;

/// Which rule found the matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchRule {
    /// The query is a uuid or a uuid prefix.
    Uuid,
    /// The query is an item's name or label.
    Exact,
    /// The query is a URL or host, and the item has that host.
    Host,
    /// The query is part of an item's name, label or account.
    Substring,
}

/// What narrows the matches of every rule.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selector<'a> {
    /// Only items with this account (passkeys: user name), ignoring case.
    pub account: Option<&'a str>,
    /// Only items of this class.
    pub class: Option<ItemClass>,
}

/// The items a query matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The rule that matched, or `None` when nothing did.
    pub rule: Option<MatchRule>,
    /// How many items matched.
    pub count: usize,
    /// The matches (at most [`MAX_REPORTED`]), sorted by name, account,
    /// label and uuid.
    pub matches: Vec<ItemSummary>,
}

impl Resolution {
    /// The one item matched, if exactly one was.
    pub fn one(&self) -> Option<&ItemSummary> {
        (self.count == 1).then(|| &self.matches[0])
    }
}

/// Why a query does not name exactly one item.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Nothing matches.
    #[error("no item matches {query:?}")]
    NotFound {
        /// What was asked.
        query: String,
    },
    /// Several items match under the first rule that matched.
    #[error("{query:?} matches {} items", .resolution.count)]
    Ambiguous {
        /// What was asked.
        query: String,
        /// The matches.
        resolution: Resolution,
    },
    /// The vault could not be read.
    #[error(transparent)]
    Item(#[from] ItemError),
}

/// The case- and normalization-free forms of an item's names, and the hosts
/// it is for: built once per item when the search cache is.
pub(crate) struct MatchKeys {
    /// Name, label and account, folded, each ended by a line break: the
    /// substring rule's haystack (a folded query has no line break, so it
    /// cannot match across two of them).
    joined: Zeroizing<String>,
    /// Where the label and the account start in `joined`.
    label_at: usize,
    account_at: usize,
    hosts: Zeroizing<Vec<String>>,
}

impl MatchKeys {
    pub fn new(name: &str, label: &str, account: &str, locations: &[String]) -> Self {
        let mut hosts: Vec<String> = locations.iter().filter_map(|l| host_of(l)).collect();
        hosts.sort();
        hosts.dedup();
        let mut joined = Zeroizing::new(String::new());
        let mut push = |s: &str| {
            let at = joined.len();
            joined.push_str(&fold(s).replace('\n', " "));
            joined.push('\n');
            at
        };
        push(name);
        let label_at = push(label);
        let account_at = push(account);
        MatchKeys {
            joined,
            label_at,
            account_at,
            hosts: Zeroizing::new(hosts),
        }
    }

    /// Name, label and account, folded, each ended by a line break.
    pub fn joined(&self) -> &str {
        self.joined.as_str()
    }

    pub(crate) fn name(&self) -> &str {
        &self.joined[..self.label_at - 1]
    }

    pub(crate) fn label(&self) -> &str {
        &self.joined[self.label_at..self.account_at - 1]
    }

    fn account(&self) -> &str {
        &self.joined[self.account_at..self.joined.len() - 1]
    }
}

/// NFC, then lower case: "Café" typed as NFD on one keyboard and as NFC
/// on another, in any case, compare equal.
fn fold(s: &str) -> String {
    s.trim().nfc().flat_map(char::to_lowercase).collect()
}

/// The host of a URL (`https://user@Host.example:8443/path`) or of a bare
/// host with an optional port and path (`host.example/login`), lower case,
/// without a leading `www.` or a trailing dot. `None` when the text has no
/// host (it contains spaces, or nothing before the path).
pub(crate) fn host_of(text: &str) -> Option<String> {
    let text = text.trim();
    let rest = match text.find("://") {
        Some(i) => &text[i + 3..],
        None => text,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.trim_end_matches('.').to_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let valid = !host.is_empty()
        && !host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"<>\\^`{|}".contains(c));
    valid.then(|| host.to_owned())
}

/// Whether a query reads as a URL or a host name (rule 3): it has a
/// scheme, or a dot in what would be its host and no spaces.
fn query_host(query: &str) -> Option<String> {
    let q = query.trim();
    if q.contains("://") {
        return host_of(q);
    }
    if q.contains(char::is_whitespace) {
        return None;
    }
    let host = host_of(q)?;
    (host.contains('.') || host == "localhost").then_some(host)
}

/// A query that looks like a uuid prefix: 4+ hex digits, dashes allowed.
fn uuid_like(query: &str) -> bool {
    query.chars().filter(char::is_ascii_hexdigit).count() >= MIN_UUID_PREFIX
        && query.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

impl UnlockedVault {
    /// The items `query` names, by the rules of this module, narrowed by
    /// `selector`. Never fails for a query that matches nothing: that is
    /// a resolution with no rule.
    pub fn resolve(
        &mut self,
        query: &str,
        selector: Selector<'_>,
    ) -> Result<Resolution, ItemError> {
        let account = selector.account.map(fold);
        let keep = |e: &super::search::Entry| {
            selector.class.is_none_or(|c| e.summary.class == c)
                && account.as_deref().is_none_or(|a| e.keys.account() == a)
        };
        let query = query.trim();
        // Rule 1: the uuid index, not the cache.
        let mut uuids: Vec<Uuid> = Vec::new();
        if let Ok(uuid) = Uuid::parse_str(query) {
            uuids.push(uuid);
        } else if uuid_like(query) {
            uuids = self.find_uuid_prefix(query, usize::MAX)?;
        }
        let cache = self.cache()?;
        if !uuids.is_empty() {
            let hits: Vec<&super::search::Entry> = uuids
                .iter()
                .filter_map(|u| cache.entry(*u))
                .filter(|e| keep(e))
                .collect();
            if !hits.is_empty() {
                return Ok(resolution(MatchRule::Uuid, hits));
            }
        }
        let folded = fold(query);
        if folded.is_empty() {
            return Ok(no_match());
        }
        let candidates = cache.exact_candidates(&folded).to_vec();
        let entries = cache.entries();
        let exact: Vec<_> = candidates
            .into_iter()
            .map(|i| &entries[i])
            .filter(|e| (e.keys.name() == folded || e.keys.label() == folded) && keep(e))
            .collect();
        if !exact.is_empty() {
            return Ok(resolution(MatchRule::Exact, exact));
        }
        if let Some(host) = query_host(query) {
            let by_host: Vec<_> = entries
                .iter()
                .filter(|e| e.keys.hosts.contains(&host) && keep(e))
                .collect();
            if !by_host.is_empty() {
                return Ok(resolution(MatchRule::Host, by_host));
            }
        }
        let part: Vec<_> = cache
            .names_containing(&folded)
            .into_iter()
            .map(|i| &cache.entries()[i])
            .filter(|e| keep(e))
            .collect();
        if !part.is_empty() {
            return Ok(resolution(MatchRule::Substring, part));
        }
        Ok(no_match())
    }

    /// The one item `query` names, or why there is not exactly one.
    pub fn resolve_one(
        &mut self,
        query: &str,
        selector: Selector<'_>,
    ) -> Result<ItemSummary, ResolveError> {
        let resolution = self.resolve(query, selector)?;
        match resolution.count {
            0 => Err(ResolveError::NotFound {
                query: query.to_owned(),
            }),
            1 => Ok(resolution.matches.into_iter().next().expect("one match")),
            _ => Err(ResolveError::Ambiguous {
                query: query.to_owned(),
                resolution,
            }),
        }
    }
}

fn no_match() -> Resolution {
    Resolution {
        rule: None,
        count: 0,
        matches: Vec::new(),
    }
}

fn resolution(rule: MatchRule, hits: Vec<&super::search::Entry>) -> Resolution {
    let count = hits.len();
    let mut matches: Vec<ItemSummary> = hits.into_iter().map(|e| e.summary.clone()).collect();
    matches.sort_by(|a, b| {
        (&a.name, &a.account, &a.label, a.uuid).cmp(&(&b.name, &b.account, &b.label, b.uuid))
    });
    matches.truncate(MAX_REPORTED);
    Resolution {
        rule: Some(rule),
        count,
        matches,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_come_out_of_urls_and_bare_hosts() {
        let cases = [
            ("https://GitHub.com/login", Some("github.com")),
            (
                "https://user:pw@gist.github.com:8443/a?b#c",
                Some("gist.github.com"),
            ),
            ("http://www.example.org", Some("example.org")),
            ("example.org.", Some("example.org")),
            ("host.example/login", Some("host.example")),
            ("https://[::1]:8080/x", Some("::1")),
            ("two words", None),
            ("https:///path", None),
        ];
        for (text, want) in cases {
            assert_eq!(host_of(text).as_deref(), want, "{text}");
        }
        assert_eq!(query_host("github").as_deref(), None);
        assert_eq!(
            query_host("gist.github.com").as_deref(),
            Some("gist.github.com")
        );
        assert_eq!(query_host("localhost:8080").as_deref(), Some("localhost"));
        assert_eq!(query_host("my label.com"), None);
    }

    #[test]
    fn folding_ignores_case_and_normal_form() {
        assert_eq!(fold("Cafe\u{301}"), fold("CAFÉ"));
        assert_eq!(fold("  Straße "), "straße");
        assert!(uuid_like("0a1b-2c"));
        assert!(!uuid_like("abc"));
        assert!(!uuid_like("deadbeefz"));
    }
}
