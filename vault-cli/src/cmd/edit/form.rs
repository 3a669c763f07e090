//! The text form `vault edit` opens in an editor: one `key: value` line
//! per field of the item's class (keys named as `vault get --field` names
//! them), rendered from an item and parsed back into one.
//!
//! Syntax (also written as comments at the top of every form):
//! - lines starting with `#` are comments, blank lines are ignored;
//! - `key: value` sets a field; the one space after the colon is not part
//!   of the value, anything after it is (so a value may start or end with
//!   spaces); `key:` alone is an empty value;
//! - `key: |` starts a value on several lines: each following line
//!   indented by two spaces is one line of the value (the two spaces
//!   removed); the block ends at the first line that is not indented.
//!   Notes use it, and so does any value with a line break or a value
//!   that is `|` itself;
//! - a key left out clears its field; `url:` may repeat (one line per
//!   further URL); custom fields are `field.NAME: value` (shown) and
//!   `hidden.NAME: value` (secret); a key's binary fields are base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::collections::HashSet;
use vault_core::item::totp;
use vault_core::item::{
    CryptoKey, CustomField, GenericPassword, InternetPassword, ItemClass, ItemData, folder_path,
};
use zeroize::Zeroizing;

/// The comment lines every form opens with (after its title line).
const HELP: &str = "\
# One \"key: value\" per line; lines starting with '#' are comments.
# A value on several lines: \"key: |\", then each line indented by two spaces.
# A key you delete, or leave empty, clears its field.
# Save the form unchanged to change nothing; empty it to abort.
";

/// A form that does not parse: the line and what is wrong, never a
/// secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormError(pub String);

fn at(line: usize, msg: impl std::fmt::Display) -> FormError {
    FormError(format!("line {line}: {msg}"))
}

/// The keys of a class, in form order (custom fields and the base64
/// spelling of a private key apart).
fn keys_of(class: ItemClass) -> &'static [&'static str] {
    match class {
        ItemClass::Inet => &[
            "server", "account", "protocol", "port", "path", "label", "folder", "password", "totp",
            "url", "notes",
        ],
        ItemClass::Genp => &["service", "account", "label", "folder", "password", "notes"],
        ItemClass::Keys => &[
            "label",
            "folder",
            "key-type",
            "rp-id",
            "user-name",
            "private-key",
            "application-tag",
            "credential-id",
            "user-handle",
        ],
    }
}

/// The form of `data`, titled `title` (a comment line). A custom field
/// whose name cannot be written as a key (empty, a line break, or ": " in
/// it) is refused: edit it with `--field`.
pub fn render(data: &ItemData, title: &str) -> Result<Zeroizing<String>, FormError> {
    let mut f = Writer(Zeroizing::new(String::new()));
    f.0.push_str(&format!("# vault edit: {}\n", title.replace('\n', " ")));
    f.0.push_str(HELP);
    match data {
        ItemData::Inet(i) => {
            f.0.push_str(
                "# url: one line per further URL. Custom fields: \"field.NAME: value\" (shown),\n\
                 # \"hidden.NAME: value\" (secret). totp: an otpauth:// URI or a base32 seed.\n",
            );
            f.line("server", &i.server);
            f.line("account", &i.account);
            f.line("protocol", &i.protocol);
            f.line("port", &i.port.map(|p| p.to_string()).unwrap_or_default());
            f.line("path", &i.path);
            f.line("label", &i.label);
            f.line("folder", &i.folder);
            f.line("password", i.password.expose());
            f.line("totp", i.totp.expose());
            if i.uris.is_empty() {
                f.line("url", "");
            }
            for u in &i.uris {
                f.line("url", u);
            }
            f.block("notes", i.notes.expose());
            f.fields(&i.custom_fields)?;
        }
        ItemData::Genp(g) => {
            f.0.push_str(
                "# Custom fields: \"field.NAME: value\" (shown), \"hidden.NAME: value\" (secret).\n",
            );
            f.line("service", &g.service);
            f.line("account", &g.account);
            f.line("label", &g.label);
            f.line("folder", &g.folder);
            f.line("password", g.password.expose());
            f.block("notes", g.notes.expose());
            f.fields(&g.custom_fields)?;
        }
        ItemData::Key(k) => {
            f.0.push_str(
                "# application-tag, credential-id, user-handle and private-key.base64 are base64;\n\
                 # private-key is the key as text (PEM).\n",
            );
            f.line("label", &k.label);
            f.line("folder", &k.folder);
            f.line("key-type", &k.key_type);
            f.line("rp-id", &k.rp_id);
            f.line("user-name", &k.user_name);
            match std::str::from_utf8(k.private_key.expose()) {
                Ok(text) => f.line("private-key", text),
                Err(_) => {
                    let b = Zeroizing::new(B64.encode(k.private_key.expose()));
                    f.line("private-key.base64", &b);
                }
            }
            f.line("application-tag", &B64.encode(&k.application_tag));
            f.line("credential-id", &B64.encode(&k.credential_id));
            f.line("user-handle", &B64.encode(&k.user_handle));
        }
    }
    Ok(f.0)
}

struct Writer(Zeroizing<String>);

impl Writer {
    /// `key: value`, or a block when the value needs one.
    fn line(&mut self, key: &str, value: &str) {
        if value.contains('\n') || value == "|" {
            return self.block(key, value);
        }
        self.0.push_str(key);
        self.0.push(':');
        if !value.is_empty() {
            self.0.push(' ');
            self.0.push_str(value);
        }
        self.0.push('\n');
    }

    /// `key: |` and the value's lines indented by two spaces (`key:` when
    /// empty).
    fn block(&mut self, key: &str, value: &str) {
        if value.is_empty() {
            return self.line(key, value);
        }
        self.0.push_str(key);
        self.0.push_str(": |\n");
        for l in value.split('\n') {
            self.0.push_str("  ");
            self.0.push_str(l);
            self.0.push('\n');
        }
    }

    fn fields(&mut self, fields: &[CustomField]) -> Result<(), FormError> {
        for c in fields {
            if c.name.is_empty() || c.name.contains(['\n', '\r']) || c.name.contains(": ") {
                return Err(FormError(format!(
                    "the custom field {:?} cannot be written in the form; \
                     change it with `vault edit --field` or `--remove-field`",
                    c.name
                )));
            }
            let prefix = if c.hidden { "hidden." } else { "field." };
            self.line(&format!("{prefix}{}", c.name), c.value.expose());
        }
        Ok(())
    }
}

/// Whether `text` has nothing but comments and blank lines.
pub fn is_empty(text: &str) -> bool {
    text.split('\n')
        .all(|l| l.trim().is_empty() || l.starts_with('#'))
}

/// `text` without its `# error:` lines (the ones a reopened form starts
/// with), so a form can be reopened with one fresh error.
pub fn strip_errors(text: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(text.len()));
    for l in text.split_inclusive('\n') {
        if !l.starts_with("# error:") {
            out.push_str(l);
        }
    }
    out
}

/// Splits `key: value` (or `key:`); `None` without a colon.
fn split_key(line: &str) -> Option<(&str, &str)> {
    if let Some(i) = line.find(": ") {
        return Some((&line[..i], &line[i + 2..]));
    }
    line.strip_suffix(':').map(|k| (k, ""))
}

/// Parses a form back into attributes of `class`.
pub fn parse(text: &str, class: ItemClass) -> Result<ItemData, FormError> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut seen = HashSet::new();
    let mut b = Builder::new(class);
    let mut i = 0;
    while i < lines.len() {
        let n = i + 1;
        let line = lines[i];
        i += 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            return Err(at(
                n,
                "an indented line outside a block (a value on several lines starts with \"key: |\")",
            ));
        }
        let (key, first) = split_key(line).ok_or_else(|| {
            at(
                n,
                "expected \"key: value\" (or a comment starting with '#')",
            )
        })?;
        let value = if first == "|" {
            // The block: indented lines, and blank lines between them.
            let mut end = i;
            let mut j = i;
            while j < lines.len() && (lines[j].starts_with("  ") || lines[j].is_empty()) {
                j += 1;
                if !lines[j - 1].is_empty() {
                    end = j;
                }
            }
            let mut v = Zeroizing::new(String::new());
            for (k, l) in lines[i..end].iter().enumerate() {
                if k > 0 {
                    v.push('\n');
                }
                v.push_str(l.strip_prefix("  ").unwrap_or(l));
            }
            i = end;
            v
        } else {
            Zeroizing::new(first.to_owned())
        };
        let slot = match key {
            "private-key.base64" => "private-key".to_owned(),
            k => match k.split_once('.') {
                Some(("field" | "hidden", name)) => format!("field.{name}"),
                _ => k.to_owned(),
            },
        };
        if key != "url" && !seen.insert(slot) {
            return Err(at(n, format!("{key:?} is given twice")));
        }
        b.set(key, &value).map_err(|msg| at(n, msg))?;
    }
    Ok(b.0)
}

struct Builder(ItemData);

impl Builder {
    fn new(class: ItemClass) -> Self {
        Self(match class {
            ItemClass::Inet => ItemData::Inet(InternetPassword::default()),
            ItemClass::Genp => ItemData::Genp(GenericPassword::default()),
            ItemClass::Keys => ItemData::Key(CryptoKey::default()),
        })
    }

    /// Sets one key; the error names the key, never the value of a secret.
    fn set(&mut self, key: &str, v: &str) -> Result<(), String> {
        let class = self.0.class();
        let custom = |fields: &mut Vec<CustomField>| -> Result<bool, String> {
            let (hidden, name) = match key.split_once('.') {
                Some(("field", name)) => (false, name),
                Some(("hidden", name)) => (true, name),
                _ => return Ok(false),
            };
            if name.is_empty() {
                return Err(format!("{key:?}: a custom field needs a name"));
            }
            fields.push(CustomField {
                name: name.to_owned(),
                value: v.into(),
                hidden,
            });
            Ok(true)
        };
        let done = match &mut self.0 {
            ItemData::Inet(i) => match key {
                "server" => set(&mut i.server, v),
                "account" => set(&mut i.account, v),
                "protocol" => set(&mut i.protocol, v),
                "path" => set(&mut i.path, v),
                "label" => set(&mut i.label, v),
                "folder" => set(&mut i.folder, &folder_path(v)),
                "password" => {
                    i.password = v.into();
                    true
                }
                "notes" => {
                    i.notes = v.into();
                    true
                }
                "port" => {
                    i.port = port(v)?;
                    true
                }
                "totp" => {
                    if !v.trim().is_empty() && totp::check(v).is_err() {
                        return Err("totp: not an otpauth:// URI or a base32 seed".into());
                    }
                    i.totp = v.into();
                    true
                }
                "url" => {
                    if !v.trim().is_empty() {
                        i.uris.push(v.to_owned());
                    }
                    true
                }
                _ => custom(&mut i.custom_fields)?,
            },
            ItemData::Genp(g) => match key {
                "service" => set(&mut g.service, v),
                "account" => set(&mut g.account, v),
                "label" => set(&mut g.label, v),
                "folder" => set(&mut g.folder, &folder_path(v)),
                "password" => {
                    g.password = v.into();
                    true
                }
                "notes" => {
                    g.notes = v.into();
                    true
                }
                _ => custom(&mut g.custom_fields)?,
            },
            ItemData::Key(k) => match key {
                "label" => set(&mut k.label, v),
                "folder" => set(&mut k.folder, &folder_path(v)),
                "key-type" => set(&mut k.key_type, v),
                "rp-id" => set(&mut k.rp_id, v),
                "user-name" => set(&mut k.user_name, v),
                "private-key" => {
                    k.private_key = v.as_bytes().into();
                    true
                }
                "private-key.base64" => {
                    k.private_key = Zeroizing::new(unb64(key, v)?).as_slice().into();
                    true
                }
                "application-tag" => {
                    k.application_tag = unb64(key, v)?;
                    true
                }
                "credential-id" => {
                    k.credential_id = unb64(key, v)?;
                    true
                }
                "user-handle" => {
                    k.user_handle = unb64(key, v)?;
                    true
                }
                _ => false,
            },
        };
        if done {
            return Ok(());
        }
        let custom = if class == ItemClass::Keys {
            ""
        } else {
            ", field.NAME, hidden.NAME"
        };
        Err(format!(
            "unknown key {key:?} (a {} item has: {}{custom})",
            crate::itemjson::class_name(class),
            keys_of(class).join(", ")
        ))
    }
}

fn set(slot: &mut String, v: &str) -> bool {
    v.clone_into(slot);
    true
}

fn port(v: &str) -> Result<Option<u16>, String> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    match v.parse::<u16>() {
        Ok(p) if p != 0 => Ok(Some(p)),
        _ => Err(format!(
            "port: {v:?} is not a number from 1 to 65535 (leave it empty for none)"
        )),
    }
}

fn unb64(key: &str, v: &str) -> Result<Vec<u8>, String> {
    B64.decode(v.trim())
        .map_err(|_| format!("{key}: not valid base64"))
}

#[cfg(test)]
mod tests;
