//! The media types of the binary sync bodies (schema/PROTOCOL.md, "Sync"):
//! their bytes are `vault_core::sync`'s formats, never JSON.

/// The media type of a record list (`vault_core::sync::encode_records`):
/// a push's body, a buckets answer.
pub const RECORDS_MEDIA_TYPE: &str = "application/vnd.vault.records";

/// The media type of a changes page (`vault_core::sync::ChangesPage`).
pub const CHANGES_MEDIA_TYPE: &str = "application/vnd.vault.changes";

/// The media type of a removal's cut list (`vault_core::circle::CutList`).
pub const CUT_LIST_MEDIA_TYPE: &str = "application/vnd.vault.cut-list";

/// The media type of every JSON body.
pub const JSON_MEDIA_TYPE: &str = "application/json";
