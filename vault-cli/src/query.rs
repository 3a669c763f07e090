//! Resolving a person's QUERY to exactly one item, by vault-core's rules
//! (`UnlockedVault::resolve`): through the agent when one runs (it keeps
//! the search cache warm between commands), else in this process.

use crate::agent;
use crate::error::CliError;
use crate::itemjson::class_name;
use clap::ValueEnum;
use uuid::Uuid;
use vault_core::item::{Item, ItemClass, ItemSummary};
use vault_core::{Resolution, Selector, UnlockedVault};

/// The help text of every QUERY argument.
pub const QUERY_HELP: &str = "A uuid or uuid prefix, an exact name or label, a URL or host, or a unique part of a name, label or account";

/// Which item a command acts on (the QUERY of `get`, `edit`, `rm`,
/// `history`, `totp`, ...).
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    #[arg(help = QUERY_HELP)]
    pub query: String,
    #[command(flatten)]
    pub select: SelectArgs,
}

/// What picks one of several matches.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SelectArgs {
    /// Among the matches, only items with this account (any case)
    #[arg(id = "match_account", long = "match-account", value_name = "ACCOUNT")]
    pub account: Option<String>,
    /// Among the matches, only items of this class
    #[arg(
        id = "match_class",
        long = "match-class",
        value_enum,
        value_name = "CLASS"
    )]
    pub class: Option<ClassArg>,
}

/// An item class as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClassArg {
    /// Internet passwords
    Inet,
    /// Generic passwords
    Genp,
    /// Keys and passkeys
    Key,
}

impl From<ClassArg> for ItemClass {
    fn from(c: ClassArg) -> Self {
        match c {
            ClassArg::Inet => ItemClass::Inet,
            ClassArg::Genp => ItemClass::Genp,
            ClassArg::Key => ItemClass::Keys,
        }
    }
}

impl SelectArgs {
    fn selector(&self) -> Selector<'_> {
        Selector {
            account: self.account.as_deref(),
            class: self.class.map(ItemClass::from),
        }
    }
}

/// The one item `q` names.
pub fn resolve(vault: &mut UnlockedVault, q: &QueryArgs) -> anyhow::Result<Item> {
    let selector = q.select.selector();
    let resolution = match agent::client::resolve(vault.path(), &q.query, selector)? {
        Some(uuids) => resolution_of(vault, uuids)?,
        None => vault.resolve(&q.query, selector)?,
    };
    let uuid = one(&q.query, &resolution)?;
    Ok(vault.get(uuid)?)
}

/// The agent's answer (the count and the first uuids) as a resolution.
fn resolution_of(
    vault: &mut UnlockedVault,
    answer: agent::resolve::Resolved,
) -> anyhow::Result<Resolution> {
    let mut matches = Vec::with_capacity(answer.uuids.len());
    for uuid in answer.uuids {
        matches.push(vault.get(uuid)?.summary());
    }
    Ok(Resolution {
        rule: answer.rule,
        count: answer.count,
        matches,
    })
}

/// The uuid of the one match, or the error that lists them.
fn one(query: &str, r: &Resolution) -> anyhow::Result<Uuid> {
    match (r.count, r.matches.first()) {
        (1, Some(only)) => Ok(only.uuid),
        (0, _) | (_, None) => Err(CliError::no_item(query).into()),
        (count, _) => {
            let ids = short_ids(&r.matches);
            let list = r
                .matches
                .iter()
                .zip(&ids)
                .map(|(s, id)| summary_line(id, s))
                .collect::<Vec<_>>()
                .join("; ");
            let more = if count > r.matches.len() {
                format!("; and {} more", count - r.matches.len())
            } else {
                String::new()
            };
            let accounts_differ = r.matches.iter().any(|s| s.account != r.matches[0].account);
            let advice = if accounts_differ {
                "pick one with --match-account ACCOUNT, or by its uuid prefix (the first column)"
            } else {
                "pick one by its uuid prefix (the first column)"
            };
            Err(CliError::Ambiguous {
                what: "item",
                query: query.to_owned(),
                count,
                list: format!("{list}{more}"),
                advice,
            }
            .into())
        }
    }
}

/// The shortest uuid prefixes, 8 hex digits at least, that tell these
/// items apart.
fn short_ids(items: &[ItemSummary]) -> Vec<String> {
    let hex: Vec<String> = items.iter().map(|s| s.uuid.simple().to_string()).collect();
    let len = (8..32)
        .find(|&n| {
            let mut p: Vec<&str> = hex.iter().map(|h| &h[..n]).collect();
            p.sort_unstable();
            p.windows(2).all(|w| w[0] != w[1])
        })
        .unwrap_or(32);
    hex.iter().map(|h| h[..len].to_owned()).collect()
}

fn summary_line(id: &str, s: &ItemSummary) -> String {
    let name = if s.name.is_empty() { &s.label } else { &s.name };
    let mut line = format!("{id} {} {name}", class_name(s.class));
    if !s.account.is_empty() {
        line.push(' ');
        line.push_str(&s.account);
    }
    line
}

/// `8-hex-digit-id class name account`, for messages about one item.
pub fn short(item: &Item) -> String {
    summary_line(&item.uuid.simple().to_string()[..8], &item.summary())
}
