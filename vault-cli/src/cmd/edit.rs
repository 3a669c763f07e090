//! `vault edit`: change an item's fields, from flags or (with none) in a
//! text form in the user's editor; vault-core keeps the previous version
//! in history.

mod form;
mod scratch;

use super::add::{SecretSource, parse_field};
use crate::context::Ctx;
use crate::error::CliError;
use crate::itemjson::class_name;
use crate::query;
use serde_json::json;
use vault_core::item::{CustomField, ItemData};

/// `vault edit`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    query: query::QueryArgs,
    #[command(flatten)]
    fields: EditFields,
}

/// `vault edit`: every flag of `add`, each optional.
#[derive(clap::Args)]
pub struct EditFields {
    /// New host name (inet)
    #[arg(long)]
    server: Option<String>,
    /// New service (genp)
    #[arg(long)]
    service: Option<String>,
    /// New user name
    #[arg(long)]
    account: Option<String>,
    /// New protocol (inet)
    #[arg(long)]
    protocol: Option<String>,
    /// New port (inet); 0 clears it
    #[arg(long)]
    port: Option<u16>,
    /// New path (inet)
    #[arg(long)]
    path: Option<String>,
    /// New label
    #[arg(long)]
    label: Option<String>,
    /// New notes
    #[arg(long)]
    notes: Option<String>,
    /// New TOTP URI or seed (inet); "" clears it
    #[arg(long, value_name = "URI")]
    totp: Option<String>,
    /// Replace the further URLs (repeatable; inet)
    #[arg(long = "url", value_name = "URL")]
    urls: Vec<String>,
    /// Set a custom field NAME=VALUE (repeatable)
    #[arg(long = "field", value_name = "NAME=VALUE", value_parser = parse_field)]
    fields: Vec<(String, String)>,
    /// Remove a custom field (repeatable)
    #[arg(long = "remove-field", value_name = "NAME")]
    remove_fields: Vec<String>,
    /// Move to this folder, a path such as Work/Email; "" takes the item
    /// out of its folder
    #[arg(long, value_name = "PATH")]
    folder: Option<String>,
    #[command(flatten)]
    secret: SecretSource,
    /// Ask for the new password on the terminal
    #[arg(long, conflicts_with_all = ["password_stdin", "generate"])]
    ask_password: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let Args {
        query: which,
        fields: f,
    } = args;
    if !f.any() {
        return edit_in_editor(ctx, &which);
    }
    // The new password is read before unlocking: stdin and the terminal
    // belong to one question at a time.
    if let Some(t) = &f.totp {
        vault_core::item::totp::check(t).map_err(CliError::from)?;
    }
    let new_password = super::add::new_item_password(&f.secret, f.ask_password)?;
    if f.ask_password && new_password.is_none() {
        return Err(CliError::Usage("--ask-password needs a terminal".into()).into());
    }
    let mut vault = ctx.unlock()?;
    let item = query::resolve(&mut vault, &which)?;
    let mut data = item.data.clone();
    let class = class_name(item.class());
    let wrong = |flag: &str| -> anyhow::Error {
        CliError::Usage(format!("{flag} does not apply to this {class} item")).into()
    };
    let mut changed = false;
    match &mut data {
        ItemData::Inet(i) => {
            if f.service.is_some() {
                return Err(wrong("--service"));
            }
            changed |= set(&mut i.server, &f.server);
            changed |= set(&mut i.account, &f.account);
            changed |= set(&mut i.protocol, &f.protocol);
            changed |= set(&mut i.path, &f.path);
            changed |= set(&mut i.label, &f.label);
            if let Some(n) = &f.notes {
                i.notes = n.as_str().into();
                changed = true;
            }
            if let Some(t) = &f.totp {
                i.totp = t.as_str().into();
                changed = true;
            }
            if let Some(p) = f.port {
                i.port = (p != 0).then_some(p);
                changed = true;
            }
            if !f.urls.is_empty() {
                i.uris = f.urls.clone();
                changed = true;
            }
            if let Some((pw, _)) = &new_password {
                i.password = pw.as_str().into();
                changed = true;
            }
            changed |= edit_fields(&mut i.custom_fields, &f)?;
        }
        ItemData::Genp(g) => {
            for (flag, given) in [
                ("--server", f.server.is_some()),
                ("--protocol", f.protocol.is_some()),
                ("--path", f.path.is_some()),
                ("--port", f.port.is_some()),
                ("--totp", f.totp.is_some()),
                ("--url", !f.urls.is_empty()),
            ] {
                if given {
                    return Err(wrong(flag));
                }
            }
            changed |= set(&mut g.service, &f.service);
            changed |= set(&mut g.account, &f.account);
            changed |= set(&mut g.label, &f.label);
            if let Some(n) = &f.notes {
                g.notes = n.as_str().into();
                changed = true;
            }
            if let Some((pw, _)) = &new_password {
                g.password = pw.as_str().into();
                changed = true;
            }
            changed |= edit_fields(&mut g.custom_fields, &f)?;
        }
        ItemData::Key(k) => {
            for (flag, given) in [
                ("--server", f.server.is_some()),
                ("--service", f.service.is_some()),
                ("--account", f.account.is_some()),
                ("--protocol", f.protocol.is_some()),
                ("--path", f.path.is_some()),
                ("--port", f.port.is_some()),
                ("--notes", f.notes.is_some()),
                ("--totp", f.totp.is_some()),
                ("--url", !f.urls.is_empty()),
                ("--field", !f.fields.is_empty()),
                ("--remove-field", !f.remove_fields.is_empty()),
                ("a new password", new_password.is_some()),
            ] {
                if given {
                    return Err(wrong(flag));
                }
            }
            changed |= set(&mut k.label, &f.label);
        }
    }
    if f.folder.is_some() {
        data.set_folder(super::add::folder(&f.folder));
        changed = true;
    }
    if !changed {
        return Err(CliError::Usage(
            "nothing to change: give a flag such as --label or --folder".into(),
        )
        .into());
    }
    let gencount = vault.update(item.uuid, data)?;
    ctx.out.done(&format!(
        "updated {} (version {gencount})",
        query::short(&item)
    ));
    if new_password
        .as_ref()
        .is_some_and(|(_, generated)| *generated)
    {
        ctx.out
            .note("generated a new password; `vault get` prints it");
    }
    ctx.out
        .json(&json!({ "uuid": item.uuid.to_string(), "gencount": gencount }));
    Ok(())
}

impl EditFields {
    /// Whether any flag was given (none: the form opens in the editor).
    fn any(&self) -> bool {
        let s = &self.secret;
        [
            &self.server,
            &self.service,
            &self.account,
            &self.protocol,
            &self.path,
            &self.label,
            &self.folder,
            &self.notes,
            &self.totp,
        ]
        .iter()
        .any(|o| o.is_some())
            || self.port.is_some()
            || !self.urls.is_empty()
            || !self.fields.is_empty()
            || !self.remove_fields.is_empty()
            || s.password_stdin
            || s.generate.is_some()
            || self.ask_password
    }
}

/// `vault edit QUERY` alone: the item as a form in the editor, reopened
/// with the error at the top until it parses; saved as a new version only
/// if it changes something.
fn edit_in_editor(ctx: &Ctx, which: &query::QueryArgs) -> anyhow::Result<()> {
    let editor = scratch::editor()?;
    let mut vault = ctx.unlock()?;
    let item = query::resolve(&mut vault, which)?;
    let title = format!("{} (gen {})", query::short(&item), item.gencount);
    let original = form::render(&item.data, &title).map_err(|e| CliError::Usage(e.to_string()))?;
    let file = scratch::Scratch::create(&original)?;
    // What the file held before the editor ran: the form, then the form
    // with an error at its top.
    let mut offered = original.clone();
    let mut after_error = false;
    let data = loop {
        scratch::run_editor(&editor, file.path())?;
        let text = file.read()?.unwrap_or_default();
        if form::is_empty(&text) {
            return Err(CliError::Usage("the form was emptied: nothing changed".into()).into());
        }
        if *text == *original {
            break None;
        }
        if after_error && *text == *offered {
            return Err(CliError::Usage(
                "the form was saved unchanged after an error: nothing changed".into(),
            )
            .into());
        }
        let body = form::strip_errors(&text);
        match form::parse(&body, item.class()) {
            Ok(data) => break Some(data),
            Err(e) => {
                let mut again = zeroize::Zeroizing::new(format!("# error: {e}\n"));
                again.push_str(&body);
                file.write(&again)?;
                offered = again;
                after_error = true;
            }
        }
    };
    drop(file);
    let uuid = item.uuid.to_string();
    match data {
        Some(data) if data != item.data => {
            // Another process (a sync) may have written a version meanwhile:
            // refuse to overwrite what the form did not show.
            let now = vault.get(item.uuid)?;
            if now.gencount != item.gencount {
                anyhow::bail!(
                    "the item changed while the editor was open (gen {} is now gen {}); \
                     nothing was saved: run `vault edit` again",
                    item.gencount,
                    now.gencount
                );
            }
            let gencount = vault.update(item.uuid, data)?;
            ctx.out.data(&format!(
                "updated {} (version {gencount})",
                query::short(&item)
            ));
            ctx.out
                .json(&json!({ "uuid": uuid, "gencount": gencount, "changed": true }));
        }
        _ => {
            ctx.out.note("no change");
            ctx.out
                .json(&json!({ "uuid": uuid, "gencount": item.gencount, "changed": false }));
        }
    }
    Ok(())
}

/// Sets `slot` if a value was given.
fn set(slot: &mut String, value: &Option<String>) -> bool {
    match value {
        Some(v) => {
            v.clone_into(slot);
            true
        }
        None => false,
    }
}

/// `--field` sets (adding or replacing by name, keeping a field's hidden
/// flag), `--remove-field` removes; a name to remove must exist.
fn edit_fields(fields: &mut Vec<CustomField>, f: &EditFields) -> anyhow::Result<bool> {
    let mut changed = false;
    for name in &f.remove_fields {
        let before = fields.len();
        fields.retain(|c| &c.name != name);
        if fields.len() == before {
            return Err(CliError::Usage(format!("no custom field {name:?} to remove")).into());
        }
        changed = true;
    }
    for (name, value) in &f.fields {
        match fields.iter_mut().find(|c| &c.name == name) {
            Some(c) => c.value = value.as_str().into(),
            None => fields.push(CustomField {
                name: name.clone(),
                value: value.as_str().into(),
                hidden: false,
            }),
        }
        changed = true;
    }
    Ok(changed)
}
