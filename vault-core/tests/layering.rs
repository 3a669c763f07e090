//! The layering of vault-core's modules, written down once and enforced:
//! a module may import only its own layer and the layers listed for it.
//! The lowest layers come first; `crypto` and `wire` are leaves. See
//! ARCHITECTURE.md for the picture.

use std::collections::BTreeMap;
use std::path::Path;

/// Each layer (a module path; the longest listed prefix of a module's path
/// is its layer) and the layers it may import. The crate root (`lib.rs`)
/// may import anything, and a module may always name its own descendants
/// (a folder's `mod.rs` declares and re-exports its files).
const LAYERS: &[(&str, &[&str])] = &[
    ("wire", &[]),
    ("secret", &[]),
    ("crypto", &[]),
    ("generate", &["secret"]),
    ("item", &["crypto", "wire", "secret"]),
    ("circle", &["crypto", "wire"]),
    ("error", &["crypto", "item", "circle"]),
    ("sync", &["crypto", "wire", "item", "circle", "error"]),
    (
        "vault",
        &[
            "crypto", "wire", "secret", "item", "circle", "error", "sync",
        ],
    ),
    (
        "circle::store",
        &[
            "crypto", "wire", "secret", "item", "circle", "error", "sync", "vault",
        ],
    ),
    (
        "sync::engine",
        &[
            "crypto",
            "wire",
            "secret",
            "item",
            "circle",
            "error",
            "sync",
            "vault",
            "circle::store",
        ],
    ),
    (
        "info",
        &[
            "crypto",
            "item",
            "circle",
            "error",
            "sync",
            "vault",
            "circle::store",
            "sync::engine",
        ],
    ),
];

/// Every `.rs` file under `dir`, by module path (`a/b.rs` and `a/b/mod.rs`
/// are `a::b`; `lib.rs` is the root, ``).
fn modules(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, (bool, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            let mut p = prefix.to_vec();
            p.push(name.to_owned());
            modules(&path, &p, out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let mut p = prefix.to_vec();
            let is_dir_module = stem == "mod" || stem == "lib";
            if !is_dir_module {
                p.push(stem.to_owned());
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            out.insert(p.join("::"), (is_dir_module, text));
        }
    }
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(path: &str) -> Vec<String> {
    let Some(open) = path.find('{') else {
        return vec![path.trim().to_owned()];
    };
    let Some(close) = path.rfind('}') else {
        return vec![path.trim().to_owned()];
    };
    let prefix = &path[..open];
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, open + 1);
    let inner_end = close;
    for (i, c) in path.char_indices().take(inner_end).skip(open + 1) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.extend(expand(&format!("{prefix}{}", &path[start..i])));
                start = i + 1;
            }
            _ => {}
        }
    }
    if !path[start..inner_end].trim().is_empty() {
        out.extend(expand(&format!(
            "{prefix}{}",
            path[start..inner_end].trim()
        )));
    }
    out
}

/// The paths a source file names: its `use` items and every inline
/// `crate::` path, comments left out.
fn named_paths(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = Vec::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("use ") {
        let word_start = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
        let after = &rest[i + 4..];
        let end = after.find(';').unwrap_or(after.len());
        if word_start {
            let item: String = after[..end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            for p in expand(&item) {
                paths.push(p.split(" as ").next().unwrap_or_default().trim().to_owned());
            }
            rest = &after[end..];
        } else {
            rest = after;
        }
    }
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        let tail = &rest[i..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        paths.push(tail[..len].trim_end_matches(':').to_owned());
        rest = &tail[len..];
    }
    paths
}

/// Resolves a path named in module `module` to the longest known module it
/// falls in; `None` for other crates and for the root.
fn resolve(path: &str, module: &str, known: &BTreeMap<String, (bool, String)>) -> Option<String> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
    match segs.first().copied() {
        Some("crate") => {
            base.clear();
            segs.remove(0);
        }
        Some("self") => {
            segs.remove(0);
        }
        Some("super") => {
            // `mod.rs` is its folder's module: `super` is one level up
            // from a folder module and from a file module alike.
            while segs.first() == Some(&"super") {
                base.pop();
                segs.remove(0);
            }
        }
        _ => {
            // A bare path (`use db::X`) names a child of a folder module,
            // or another crate.
            let first = segs.first()?;
            let child = [base.clone(), vec![*first]].concat().join("::");
            if !known.contains_key(&child) {
                return None;
            }
        }
    }
    let full: Vec<&str> = base.into_iter().chain(segs).collect();
    (1..=full.len())
        .rev()
        .map(|k| full[..k].join("::"))
        .find(|cand| known.contains_key(cand))
}

fn layer_of(module: &str) -> Option<&'static str> {
    LAYERS
        .iter()
        .map(|(l, _)| *l)
        .filter(|l| module == *l || module.starts_with(&format!("{l}::")))
        .max_by_key(|l| l.len())
}

/// Every import that breaks the layering, as `from -> to (path)`.
fn violations(known: &BTreeMap<String, (bool, String)>) -> Vec<String> {
    let mut out = Vec::new();
    for (module, (_, text)) in known {
        if module.is_empty() {
            continue;
        }
        let Some(from) = layer_of(module) else {
            out.push(format!("{module}: no layer in LAYERS"));
            continue;
        };
        let allowed = LAYERS
            .iter()
            .find(|(l, _)| *l == from)
            .map(|(_, a)| *a)
            .unwrap_or_default();
        for path in named_paths(text) {
            let Some(target) = resolve(&path, module, known) else {
                continue;
            };
            if target.starts_with(&format!("{module}::")) {
                continue;
            }
            let to = layer_of(&target).unwrap_or("?");
            let line = format!("{module} ({from}) -> {target} ({to})");
            if to != from
                && !allowed.contains(&to)
                && !out.iter().any(|o: &String| o.starts_with(&line))
            {
                out.push(format!("{line} via `{path}`"));
            }
        }
    }
    out
}

#[test]
fn no_module_imports_a_layer_above_its_own() {
    let mut known = BTreeMap::new();
    modules(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &[],
        &mut known,
    );
    assert!(known.contains_key("crypto::envelope"), "walked the tree");
    let bad = violations(&known);
    assert!(bad.is_empty(), "layering violations:\n{}", bad.join("\n"));
}

#[test]
fn the_check_catches_crypto_importing_sync_and_a_lower_layer_importing_a_higher() {
    let file = |dir: bool, t: &str| (dir, t.to_owned());
    let mut known = BTreeMap::new();
    known.insert(
        String::new(),
        file(true, "mod crypto; mod sync; mod vault;"),
    );
    known.insert("crypto".into(), file(true, "mod keys;"));
    known.insert(
        "crypto::keys".into(),
        file(false, "use crate::sync::{Token, list::X};\n"),
    );
    known.insert("sync".into(), file(true, "use super::vault::Vault;"));
    known.insert(
        "vault".into(),
        file(true, "// use crate::info::X;\nuse crate::crypto::Key;"),
    );
    let bad = violations(&known);
    assert_eq!(bad.len(), 2, "{bad:#?}");
    assert!(
        bad[0].starts_with("crypto::keys (crypto) -> sync (sync)"),
        "{bad:#?}"
    );
    assert!(
        bad[1].starts_with("sync (sync) -> vault (vault)"),
        "{bad:#?}"
    );
}
