//! Resolving a person's QUERY to exactly one item: a uuid, a uuid prefix,
//! or an exact server, service, label or relying party.

use crate::error::CliError;
use crate::itemjson::class_name;
use std::collections::BTreeMap;
use uuid::Uuid;
use vault_core::error::ItemError;
use vault_core::item::Item;
use vault_core::{Lookup, UnlockedVault};

/// Which item a command acts on (the QUERY of `get`, `rm`, `history`,
/// `totp`).
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// A uuid, a uuid prefix (4+ hex digits), or an exact server, service or label
    pub query: String,
    /// Only items with this account (to pick one of several matches)
    #[arg(long, short = 'a')]
    pub account: Option<String>,
}

/// The shortest uuid prefix a query may use.
const MIN_PREFIX: usize = 4;
/// How many matches an ambiguity error lists.
const LIST_MAX: usize = 10;

/// The one item `q` names.
pub fn resolve(vault: &mut UnlockedVault, q: &QueryArgs) -> anyhow::Result<Item> {
    resolve_str(vault, &q.query, q.account.as_deref())
}

/// The one item `query` names, among those with `account` if given.
pub fn resolve_str(
    vault: &mut UnlockedVault,
    query: &str,
    account: Option<&str>,
) -> anyhow::Result<Item> {
    let mut hits = matches(vault, query)?;
    if let Some(a) = account {
        hits.retain(|_, item| item.data.account() == a);
    }
    match hits.len() {
        0 => Err(CliError::NotFound(query.to_owned()).into()),
        1 => Ok(hits.into_values().next().expect("one hit")),
        count => {
            let list = hits
                .values()
                .take(LIST_MAX)
                .map(short)
                .collect::<Vec<_>>()
                .join(", ");
            Err(CliError::Ambiguous {
                query: query.to_owned(),
                count,
                list,
            }
            .into())
        }
    }
}

fn matches(vault: &mut UnlockedVault, query: &str) -> anyhow::Result<BTreeMap<Uuid, Item>> {
    let mut hits = BTreeMap::new();
    if let Ok(uuid) = Uuid::parse_str(query) {
        match vault.get(uuid) {
            Ok(item) => {
                hits.insert(uuid, item);
            }
            Err(ItemError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        return Ok(hits);
    }
    let hex_digits = query.chars().filter(char::is_ascii_hexdigit).count();
    if hex_digits >= MIN_PREFIX && query.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        for uuid in vault.find_uuid_prefix(query, 1 + LIST_MAX)? {
            hits.insert(uuid, vault.get(uuid)?);
        }
    }
    for lookup in [
        Lookup::Server(query),
        Lookup::Service(query),
        Lookup::Label(query),
        Lookup::RpId(query),
    ] {
        for item in vault.find(lookup)? {
            hits.insert(item.uuid, item);
        }
    }
    Ok(hits)
}

/// `8-hex-digit-id class name account`, for lists in messages.
pub fn short(item: &Item) -> String {
    let name = match item.data.name() {
        "" => item.data.label(),
        n => n,
    };
    let mut s = format!(
        "{} {} {}",
        &item.uuid.simple().to_string()[..8],
        class_name(item.class()),
        name
    );
    let account = item.data.account();
    if !account.is_empty() {
        s.push(' ');
        s.push_str(account);
    }
    s
}
