//! The item resolver, table-driven: every rule in its order, ties,
//! selectors, Unicode, and URLs with ports and paths.

mod common;

use common::new_vault;
use uuid::Uuid;
use vault_core::item::{CryptoKey, GenericPassword, InternetPassword, ItemClass, ItemData};
use vault_core::{MatchRule, ResolveError, Selector};

fn inet(server: &str, account: &str, label: &str, uris: &[&str]) -> ItemData {
    ItemData::Inet(InternetPassword {
        server: server.into(),
        account: account.into(),
        label: label.into(),
        uris: uris.iter().map(|u| (*u).to_owned()).collect(),
        ..Default::default()
    })
}

fn genp(service: &str, account: &str, label: &str) -> ItemData {
    ItemData::Genp(GenericPassword {
        service: service.into(),
        account: account.into(),
        label: label.into(),
        ..Default::default()
    })
}

/// What a query should resolve to: the rule, and the labels of the
/// matches (every item here has a distinct label), sorted.
struct Case {
    query: &'static str,
    account: Option<&'static str>,
    class: Option<ItemClass>,
    rule: Option<MatchRule>,
    labels: &'static [&'static str],
}

const fn case(
    query: &'static str,
    rule: Option<MatchRule>,
    labels: &'static [&'static str],
) -> Case {
    Case {
        query,
        account: None,
        class: None,
        rule,
        labels,
    }
}

#[test]
fn every_rule_in_its_order() {
    use MatchRule::{Exact, Host, Substring};
    let (_dir, _path, mut v) = new_vault();
    let items = [
        inet(
            "github.com",
            "alice",
            "GH alice",
            &["https://gist.github.com/x"],
        ),
        inet("github.com", "bob", "GH bob", &[]),
        inet(
            "accounts.example.org",
            "carol",
            "Example SSO",
            &["https://www.example.org:8443/login"],
        ),
        inet("mail.example.net", "dave", "Mail", &[]),
        genp("Café", "eve", "Espresso"),
        genp("gitlab", "frank", "Work GitLab"),
        genp("twin", "same", "twin a"),
        genp("twin", "same", "twin b"),
        genp("Straße", "grace", "Street"),
        ItemData::Key(CryptoKey {
            label: "deploy key".into(),
            key_type: "ed25519".into(),
            rp_id: "login.example.com".into(),
            user_name: "heidi".into(),
            ..Default::default()
        }),
    ];
    for item in items {
        v.add(item).unwrap();
    }
    let cases = [
        // Rule 2: exact name or label, any case, any normal form.
        case("GITHUB.COM", Some(Exact), &["GH alice", "GH bob"]),
        case("mail", Some(Exact), &["Mail"]),
        case("cafe\u{301}", Some(Exact), &["Espresso"]),
        case("CAFÉ", Some(Exact), &["Espresso"]),
        case("STRASSE", None, &[]),
        case("straße", Some(Exact), &["Street"]),
        case("Login.Example.com", Some(Exact), &["deploy key"]),
        case("twin", Some(Exact), &["twin a", "twin b"]),
        // Rule 3: the host of a URL or a bare host, the second URL too.
        case(
            "https://github.com/login",
            Some(Host),
            &["GH alice", "GH bob"],
        ),
        case("gist.github.com", Some(Host), &["GH alice"]),
        case(
            "https://gist.github.com:443/a/b?c=d",
            Some(Host),
            &["GH alice"],
        ),
        case("example.org", Some(Host), &["Example SSO"]),
        case(
            "https://WWW.example.org:8443/login?next=/",
            Some(Host),
            &["Example SSO"],
        ),
        case("accounts.example.org/path", Some(Host), &["Example SSO"]),
        // Rule 4: a substring of name, label or account.
        case("gitl", Some(Substring), &["Work GitLab"]),
        case(
            "git",
            Some(Substring),
            &["GH alice", "GH bob", "Work GitLab"],
        ),
        case("CAROL", Some(Substring), &["Example SSO"]),
        case("espr", Some(Substring), &["Espresso"]),
        case("nothing-like-it", None, &[]),
        case("   ", None, &[]),
        // An exact name wins over a substring elsewhere.
        case("Mail", Some(Exact), &["Mail"]),
        // A host that no item has falls through to substring.
        case("example.net", Some(Substring), &["Mail"]),
        // Selectors narrow every rule.
        Case {
            account: Some("BOB"),
            ..case("github.com", Some(Exact), &["GH bob"])
        },
        Case {
            account: Some("nobody"),
            ..case("github.com", None, &[])
        },
        Case {
            class: Some(ItemClass::Genp),
            ..case("git", Some(Substring), &["Work GitLab"])
        },
        Case {
            account: Some("same"),
            ..case("twin", Some(Exact), &["twin a", "twin b"])
        },
    ];
    for c in &cases {
        let sel = Selector {
            account: c.account,
            class: c.class,
        };
        let r = v.resolve(c.query, sel).unwrap();
        let mut labels: Vec<&str> = r.matches.iter().map(|s| s.label.as_str()).collect();
        labels.sort();
        assert_eq!(
            (r.rule, labels.as_slice(), r.count),
            (c.rule, c.labels, c.labels.len()),
            "query {:?} account {:?} class {:?}",
            c.query,
            c.account,
            c.class
        );
    }
}

#[test]
fn uuids_and_prefixes_come_first() {
    let (_dir, _path, mut v) = new_vault();
    let a = v.add(genp("alpha", "x", "A")).unwrap();
    let b = v.add(genp("beta", "x", "B")).unwrap();
    // An item whose label is another item's uuid prefix: rule 1 wins.
    let prefix = &a.simple().to_string()[..8];
    v.add(genp("gamma", "x", prefix)).unwrap();
    let r = v.resolve(prefix, Selector::default()).unwrap();
    assert_eq!(r.rule, Some(MatchRule::Uuid));
    assert_eq!(r.one().unwrap().uuid, a);
    // The whole uuid, hyphenated or not, and in upper case.
    for q in [
        b.to_string(),
        b.simple().to_string(),
        b.to_string().to_uppercase(),
    ] {
        assert_eq!(
            v.resolve_one(&q, Selector::default()).unwrap().uuid,
            b,
            "{q}"
        );
    }
    // A uuid of no item falls through to the other rules and finds nothing.
    let r = v
        .resolve(&Uuid::new_v4().to_string(), Selector::default())
        .unwrap();
    assert_eq!(r.rule, None);
    // A deleted item is no longer found by its uuid.
    v.delete(b).unwrap();
    assert!(matches!(
        v.resolve_one(&b.to_string(), Selector::default()),
        Err(ResolveError::NotFound { .. })
    ));
}

#[test]
fn ties_are_reported_whole_and_resolve_one_says_so() {
    let (_dir, _path, mut v) = new_vault();
    for i in 0..25 {
        v.add(genp("shared", &format!("user{i:02}"), &format!("L{i:02}")))
            .unwrap();
    }
    match v.resolve_one("shared", Selector::default()) {
        Err(ResolveError::Ambiguous { resolution, .. }) => {
            assert_eq!(resolution.count, 25);
            assert_eq!(resolution.matches.len(), vault_core::MAX_REPORTED);
            // Sorted by name, then account.
            assert_eq!(resolution.matches[0].account, "user00");
            assert_eq!(resolution.matches[1].account, "user01");
        }
        other => panic!("expected an ambiguity, got {other:?}"),
    }
    let one = v
        .resolve_one(
            "shared",
            Selector {
                account: Some("User07"),
                class: None,
            },
        )
        .unwrap();
    assert_eq!(one.label, "L07");
    // Edits are seen at once: the cache follows this handle's writes.
    let uuid = one.uuid;
    v.update(uuid, genp("renamed", "user07", "L07")).unwrap();
    assert_eq!(
        v.resolve_one("renamed", Selector::default()).unwrap().uuid,
        uuid
    );
    // The substring rule's buffer follows edits, adds and deletes too.
    assert_eq!(
        v.resolve_one("enam", Selector::default()).unwrap().uuid,
        uuid
    );
    let other = v.add(genp("unnamed", "x", "U")).unwrap();
    assert_eq!(v.resolve("nam", Selector::default()).unwrap().count, 2);
    v.delete(uuid).unwrap();
    let left = v.resolve_one("nam", Selector::default()).unwrap();
    assert_eq!(left.uuid, other);
    assert_eq!(v.resolve("shared", Selector::default()).unwrap().count, 24);
}

/// The exact rule's index follows every write: a rename, a new item with
/// the old name, a delete.
#[test]
fn the_exact_rule_follows_edits() {
    let (_dir, _path, mut vault) = new_vault();
    let a = vault.add(inet("old.example", "alice", "A", &[])).unwrap();
    let exact = |v: &mut vault_core::UnlockedVault, q: &str| {
        let r = v.resolve(q, Selector::default()).unwrap();
        let rule = r.rule;
        let uuids: Vec<Uuid> = r.matches.iter().map(|m| m.uuid).collect();
        (rule, uuids)
    };
    assert_eq!(
        exact(&mut vault, "OLD.example"),
        (Some(MatchRule::Exact), vec![a])
    );
    vault
        .update(a, inet("new.example", "alice", "A", &[]))
        .unwrap();
    assert_eq!(
        exact(&mut vault, "new.example"),
        (Some(MatchRule::Exact), vec![a])
    );
    assert_ne!(exact(&mut vault, "old.example").0, Some(MatchRule::Exact));
    let b = vault.add(genp("old.example", "bob", "B")).unwrap();
    assert_eq!(
        exact(&mut vault, "old.example"),
        (Some(MatchRule::Exact), vec![b])
    );
    assert_eq!(exact(&mut vault, "b"), (Some(MatchRule::Exact), vec![b]));
    vault.delete(b).unwrap();
    assert_eq!(exact(&mut vault, "old.example"), (None, vec![]));
}
