//! The item plaintext inside `encitem`: a fixed header, tagged fields
//! (`tag || LEB128 length || value`, unknown tags kept for newer versions),
//! and ISO/IEC 7816-4 padding to a 64-byte bucket so a ciphertext's length
//! does not give away a password's length.
//!
//! Tags 1-15 are shared by the classes (label, account, notes, password,
//! custom field, folder), 16-31 are `inet`'s, 32-47 `genp`'s, 48-63
//! `keys`'. An empty value is not written, so a field added later (the
//! folder, tag 6) reads as empty from older items; a device that predates
//! a tag keeps its bytes in `Item::unknown` and writes them back on edit.
//!
//! Hand-written rather than a serde format because it must keep unknown
//! tags (a newer device's fields survive an older device's edit), allocate
//! the plaintext exactly once (a grown `Vec` would leave plaintext behind in
//! freed memory), and decode without copying on the search path.

use super::{CryptoKey, CustomField, GenericPassword, InternetPassword, ItemClass, ItemData};
use crate::crypto::DecryptError;
use crate::secret::{SecretBytes, SecretString};
use crate::wire::{ReadError, Reader, put_varint, varint_len};
use zeroize::Zeroizing;

/// class(1) flags(1) created(8) modified(8).
const HEADER_LEN: usize = 18;
/// Plaintexts are padded to a multiple of this.
pub(crate) const PAD_TO: usize = 64;
/// The largest item plaintext accepted (1 MiB).
pub(crate) const MAX_PLAINTEXT: usize = 1 << 20;
const FLAG_TOMB: u8 = 1;

mod tag {
    pub const LABEL: u8 = 1;
    pub const ACCOUNT: u8 = 2;
    pub const NOTES: u8 = 3;
    pub const PASSWORD: u8 = 4;
    pub const CUSTOM: u8 = 5;
    pub const FOLDER: u8 = 6;
    pub const SERVER: u8 = 16;
    pub const PROTOCOL: u8 = 17;
    pub const PORT: u8 = 18;
    pub const PATH: u8 = 19;
    pub const TOTP: u8 = 20;
    pub const URI: u8 = 21;
    pub const SERVICE: u8 = 32;
    pub const KEY_TYPE: u8 = 48;
    pub const APP_TAG: u8 = 49;
    pub const PRIVATE_KEY: u8 = 50;
    pub const RP_ID: u8 = 51;
    pub const CREDENTIAL_ID: u8 = 52;
    pub const USER_HANDLE: u8 = 53;
    pub const USER_NAME: u8 = 54;
    // Inside a custom field.
    pub const CF_NAME: u8 = 1;
    pub const CF_VALUE: u8 = 2;
    pub const CF_HIDDEN: u8 = 3;
}

/// A decoded plaintext.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub class: ItemClass,
    pub tomb: bool,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub data: ItemData,
    pub unknown: Vec<(u8, Vec<u8>)>,
}

/// The plaintext exceeds [`MAX_PLAINTEXT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLarge;

enum Val<'a> {
    Borrowed(&'a [u8]),
    Owned(Zeroizing<Vec<u8>>),
}

impl Val<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Val::Borrowed(b) => b,
            Val::Owned(v) => v,
        }
    }
}

#[derive(Default)]
struct Fields<'a>(Vec<(u8, Val<'a>)>);

impl<'a> Fields<'a> {
    fn put(&mut self, tag: u8, value: &'a [u8]) {
        if !value.is_empty() {
            self.0.push((tag, Val::Borrowed(value)));
        }
    }

    fn put_str(&mut self, tag: u8, value: &'a str) {
        self.put(tag, value.as_bytes());
    }

    fn encoded_len(&self) -> usize {
        self.0.iter().map(|(_, v)| field_len(v.bytes().len())).sum()
    }

    fn write(&self, out: &mut Vec<u8>) {
        for (t, v) in &self.0 {
            write_field(out, *t, v.bytes());
        }
    }

    fn put_custom(&mut self, fields: &'a [CustomField]) {
        for f in fields {
            let mut sub = Fields::default();
            sub.put_str(tag::CF_NAME, &f.name);
            sub.put_str(tag::CF_VALUE, f.value.expose());
            if f.hidden {
                sub.put(tag::CF_HIDDEN, &[1]);
            }
            let mut buf = Zeroizing::new(Vec::with_capacity(sub.encoded_len()));
            sub.write(&mut buf);
            self.0.push((tag::CUSTOM, Val::Owned(buf)));
        }
    }
}

fn field_len(value_len: usize) -> usize {
    1 + varint_len(value_len as u64) + value_len
}

fn write_field(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    put_varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

/// Serializes an item version (or a tombstone, with `data: None`) into a
/// padded plaintext, allocated once at its final size.
pub(crate) fn encode(
    class: ItemClass,
    data: Option<&ItemData>,
    created_ms: i64,
    modified_ms: i64,
    unknown: &[(u8, Vec<u8>)],
) -> Result<Zeroizing<Vec<u8>>, TooLarge> {
    let mut f = Fields::default();
    let port;
    match data {
        None => {}
        Some(ItemData::Inet(i)) => {
            f.put_str(tag::SERVER, &i.server);
            f.put_str(tag::ACCOUNT, &i.account);
            f.put_str(tag::PROTOCOL, &i.protocol);
            if let Some(p) = i.port {
                port = p.to_le_bytes();
                f.0.push((tag::PORT, Val::Borrowed(&port)));
            }
            f.put_str(tag::PATH, &i.path);
            f.put_str(tag::LABEL, &i.label);
            f.put_str(tag::NOTES, i.notes.expose());
            f.put_str(tag::PASSWORD, i.password.expose());
            f.put_str(tag::TOTP, i.totp.expose());
            for u in &i.uris {
                f.0.push((tag::URI, Val::Borrowed(u.as_bytes())));
            }
            f.put_custom(&i.custom_fields);
            f.put_str(tag::FOLDER, &i.folder);
        }
        Some(ItemData::Genp(g)) => {
            f.put_str(tag::SERVICE, &g.service);
            f.put_str(tag::ACCOUNT, &g.account);
            f.put_str(tag::LABEL, &g.label);
            f.put_str(tag::NOTES, g.notes.expose());
            f.put_str(tag::PASSWORD, g.password.expose());
            f.put_custom(&g.custom_fields);
            f.put_str(tag::FOLDER, &g.folder);
        }
        Some(ItemData::Key(k)) => {
            f.put_str(tag::LABEL, &k.label);
            f.put_str(tag::KEY_TYPE, &k.key_type);
            f.put(tag::APP_TAG, &k.application_tag);
            f.put(tag::PRIVATE_KEY, k.private_key.expose());
            f.put_str(tag::RP_ID, &k.rp_id);
            f.put(tag::CREDENTIAL_ID, &k.credential_id);
            f.put(tag::USER_HANDLE, &k.user_handle);
            f.put_str(tag::USER_NAME, &k.user_name);
            f.put_str(tag::FOLDER, &k.folder);
        }
    }
    if data.is_some() {
        for (t, v) in unknown {
            f.0.push((*t, Val::Borrowed(v)));
        }
    }
    let body = HEADER_LEN + f.encoded_len() + 1;
    let total = body.div_ceil(PAD_TO) * PAD_TO;
    if total > MAX_PLAINTEXT {
        return Err(TooLarge);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(total));
    out.push(class as u8);
    out.push(if data.is_none() { FLAG_TOMB } else { 0 });
    out.extend_from_slice(&created_ms.to_le_bytes());
    out.extend_from_slice(&modified_ms.to_le_bytes());
    f.write(&mut out);
    out.push(0x80);
    out.resize(total, 0);
    debug_assert_eq!(
        out.capacity(),
        total,
        "plaintext buffer must not reallocate"
    );
    Ok(out)
}

fn malformed(what: &'static str) -> DecryptError {
    DecryptError::Malformed(what)
}

/// Iterates `tag || varint length || value` fields. The length must be a
/// shortest-form varint (the encoder has always written that form, so
/// every stored item still reads).
struct FieldReader<'a>(Reader<'a>);

impl<'a> Iterator for FieldReader<'a> {
    type Item = Result<(u8, &'a [u8]), DecryptError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let field = (|| {
            let t = self.0.u8()?;
            let len = usize::try_from(self.0.varint()?).map_err(|_| ReadError::TooLong)?;
            Ok::<_, ReadError>((t, self.0.take(len)?))
        })();
        Some(field.map_err(|e| {
            // Stop at the first error.
            self.0 = Reader::new(&[]);
            malformed(match e {
                ReadError::Varint | ReadError::TooLong => "field length is malformed",
                ReadError::Truncated | ReadError::Trailing => "field runs past the end",
            })
        }))
    }
}

fn text(v: &[u8]) -> Result<String, DecryptError> {
    std::str::from_utf8(v)
        .map(str::to_owned)
        .map_err(|_| malformed("text field is not UTF-8"))
}

fn set_once<T: Default + PartialEq>(slot: &mut T, value: T) -> Result<(), DecryptError> {
    if *slot != T::default() {
        return Err(malformed("a field appears twice"));
    }
    *slot = value;
    Ok(())
}

fn custom(v: &[u8]) -> Result<CustomField, DecryptError> {
    let mut f = CustomField::default();
    for field in FieldReader(Reader::new(v)) {
        let (t, v) = field?;
        match t {
            tag::CF_NAME => set_once(&mut f.name, text(v)?)?,
            tag::CF_VALUE => set_once(&mut f.value, SecretString::new(text(v)?))?,
            tag::CF_HIDDEN => f.hidden = v == [1],
            _ => return Err(malformed("unknown custom-field attribute")),
        }
    }
    Ok(f)
}

/// Parses a padded plaintext.
pub(crate) fn decode(padded: &[u8]) -> Result<Decoded, DecryptError> {
    let end = padded
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(malformed("no padding marker"))?;
    if padded[end] != 0x80 {
        return Err(malformed("bad padding"));
    }
    let body = &padded[..end];
    if body.len() < HEADER_LEN {
        return Err(malformed("header too short"));
    }
    let class = ItemClass::from_u8(body[0]).ok_or(malformed("unknown item class"))?;
    if body[1] & !FLAG_TOMB != 0 {
        return Err(malformed("unknown flags"));
    }
    let tomb = body[1] & FLAG_TOMB != 0;
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&body[2..10]);
    let created_ms = i64::from_le_bytes(ts);
    ts.copy_from_slice(&body[10..18]);
    let modified_ms = i64::from_le_bytes(ts);

    let mut unknown = Vec::new();
    let fields = FieldReader(Reader::new(&body[HEADER_LEN..]));
    let data = match class {
        ItemClass::Inet => {
            let mut i = InternetPassword::default();
            for field in fields {
                let (t, v) = field?;
                match t {
                    tag::SERVER => set_once(&mut i.server, text(v)?)?,
                    tag::ACCOUNT => set_once(&mut i.account, text(v)?)?,
                    tag::PROTOCOL => set_once(&mut i.protocol, text(v)?)?,
                    tag::PORT => {
                        let b: [u8; 2] =
                            v.try_into().map_err(|_| malformed("port is not 2 bytes"))?;
                        set_once(&mut i.port, Some(u16::from_le_bytes(b)))?;
                    }
                    tag::PATH => set_once(&mut i.path, text(v)?)?,
                    tag::LABEL => set_once(&mut i.label, text(v)?)?,
                    tag::NOTES => set_once(&mut i.notes, SecretString::new(text(v)?))?,
                    tag::PASSWORD => set_once(&mut i.password, SecretString::new(text(v)?))?,
                    tag::TOTP => set_once(&mut i.totp, SecretString::new(text(v)?))?,
                    tag::URI => i.uris.push(text(v)?),
                    tag::CUSTOM => i.custom_fields.push(custom(v)?),
                    tag::FOLDER => set_once(&mut i.folder, text(v)?)?,
                    _ => unknown.push((t, v.to_vec())),
                }
            }
            ItemData::Inet(i)
        }
        ItemClass::Genp => {
            let mut g = GenericPassword::default();
            for field in fields {
                let (t, v) = field?;
                match t {
                    tag::SERVICE => set_once(&mut g.service, text(v)?)?,
                    tag::ACCOUNT => set_once(&mut g.account, text(v)?)?,
                    tag::LABEL => set_once(&mut g.label, text(v)?)?,
                    tag::NOTES => set_once(&mut g.notes, SecretString::new(text(v)?))?,
                    tag::PASSWORD => set_once(&mut g.password, SecretString::new(text(v)?))?,
                    tag::CUSTOM => g.custom_fields.push(custom(v)?),
                    tag::FOLDER => set_once(&mut g.folder, text(v)?)?,
                    _ => unknown.push((t, v.to_vec())),
                }
            }
            ItemData::Genp(g)
        }
        ItemClass::Keys => {
            let mut k = CryptoKey::default();
            for field in fields {
                let (t, v) = field?;
                match t {
                    tag::LABEL => set_once(&mut k.label, text(v)?)?,
                    tag::KEY_TYPE => set_once(&mut k.key_type, text(v)?)?,
                    tag::APP_TAG => set_once(&mut k.application_tag, v.to_vec())?,
                    tag::PRIVATE_KEY => set_once(&mut k.private_key, SecretBytes::new(v.to_vec()))?,
                    tag::RP_ID => set_once(&mut k.rp_id, text(v)?)?,
                    tag::CREDENTIAL_ID => set_once(&mut k.credential_id, v.to_vec())?,
                    tag::USER_HANDLE => set_once(&mut k.user_handle, v.to_vec())?,
                    tag::USER_NAME => set_once(&mut k.user_name, text(v)?)?,
                    tag::FOLDER => set_once(&mut k.folder, text(v)?)?,
                    _ => unknown.push((t, v.to_vec())),
                }
            }
            ItemData::Key(k)
        }
    };
    Ok(Decoded {
        class,
        tomb,
        created_ms,
        modified_ms,
        data,
        unknown,
    })
}

/// What the search cache keeps of an item: its summary attributes and the
/// lowercased searchable text, read in one pass over the plaintext without
/// allocating any secret field. This is the one definition of what search
/// covers: server, service, account, label, folder, protocol, path, URIs,
/// key type, relying party, user name, custom field names and visible custom
/// values.
pub(crate) struct Summary {
    pub class: ItemClass,
    pub tomb: bool,
    pub modified_ms: i64,
    pub name: String,
    pub account: String,
    pub label: String,
    pub folder: String,
    pub text: String,
    /// The server (inet) and every URI, as stored: what the resolver's
    /// host rule reads.
    pub locations: Vec<String>,
}

pub(crate) fn summarize(padded: &[u8]) -> Result<Summary, DecryptError> {
    let end = padded
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(malformed("no padding marker"))?;
    let body = &padded[..end];
    if padded[end] != 0x80 || body.len() < HEADER_LEN {
        return Err(malformed("bad padding or header"));
    }
    let class = ItemClass::from_u8(body[0]).ok_or(malformed("unknown item class"))?;
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&body[10..18]);
    let mut out = Summary {
        class,
        tomb: body[1] & FLAG_TOMB != 0,
        modified_ms: i64::from_le_bytes(ts),
        name: String::new(),
        account: String::new(),
        label: String::new(),
        folder: String::new(),
        text: String::new(),
        locations: Vec::new(),
    };
    let push = |text: &mut String, v: &str| {
        if !v.is_empty() {
            text.extend(v.chars().flat_map(char::to_lowercase));
            text.push('\n');
        }
    };
    let as_str = |v| std::str::from_utf8(v).map_err(|_| malformed("text field is not UTF-8"));
    for field in FieldReader(Reader::new(&body[HEADER_LEN..])) {
        let (t, v) = field?;
        match (class, t) {
            (ItemClass::Inet, tag::SERVER)
            | (ItemClass::Genp, tag::SERVICE)
            | (ItemClass::Keys, tag::RP_ID) => {
                out.name = as_str(v)?.to_owned();
                push(&mut out.text, &out.name);
                if class == ItemClass::Inet {
                    out.locations.push(out.name.clone());
                }
            }
            (ItemClass::Inet | ItemClass::Genp, tag::ACCOUNT)
            | (ItemClass::Keys, tag::USER_NAME) => {
                out.account = as_str(v)?.to_owned();
                push(&mut out.text, &out.account);
            }
            (_, tag::LABEL) => {
                out.label = as_str(v)?.to_owned();
                push(&mut out.text, &out.label);
            }
            (_, tag::FOLDER) => {
                out.folder = as_str(v)?.to_owned();
                push(&mut out.text, &out.folder);
            }
            (ItemClass::Inet, tag::URI) => {
                let uri = as_str(v)?;
                push(&mut out.text, uri);
                out.locations.push(uri.to_owned());
            }
            (ItemClass::Inet, tag::PROTOCOL | tag::PATH) | (ItemClass::Keys, tag::KEY_TYPE) => {
                push(&mut out.text, as_str(v)?);
            }
            (ItemClass::Inet | ItemClass::Genp, tag::CUSTOM) => {
                let (mut name, mut value, mut hidden) = ("", "", false);
                for sub in FieldReader(Reader::new(v)) {
                    match sub? {
                        (tag::CF_NAME, n) => name = as_str(n)?,
                        (tag::CF_VALUE, x) => value = as_str(x)?,
                        (tag::CF_HIDDEN, h) => hidden = h == [1],
                        _ => return Err(malformed("unknown custom-field attribute")),
                    }
                }
                push(&mut out.text, name);
                if !hidden {
                    push(&mut out.text, value);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
