//! Why an import failed: one variant per kind of problem, each naming the
//! format and the place (line, record, item index), never a value from the
//! file, which could be a password.

use crate::Format;

/// Why an export file could not be imported.
///
/// The message is one line that names the format and where the problem
/// is. It never quotes the file's content: field values, titles and user
/// names stay out of it, so it is safe to print and to log.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file holds nothing but whitespace (or a byte-order mark).
    #[error("{format}: the file is empty")]
    Empty {
        /// The format being read.
        format: Format,
    },
    /// The file is not UTF-8 text.
    #[error("{format}: line {line} is not valid UTF-8 text")]
    NotUtf8 {
        /// The format being read.
        format: Format,
        /// The line (from 1) holding the first invalid byte.
        line: u64,
    },
    /// The CSV header lacks a column the format requires.
    #[error("{format}: the header has no `{column}` column")]
    MissingColumn {
        /// The format being read.
        format: Format,
        /// The required column, as the format spells it.
        column: &'static str,
    },
    /// A CSV record is not what the header announced.
    #[error("{format}: line {line} (record {record}): {reason}")]
    Malformed {
        /// The format being read.
        format: Format,
        /// The line (from 1) where the record starts.
        line: u64,
        /// The record number (from 1, the header not counted).
        record: u64,
        /// What is wrong, in words that quote nothing from the file.
        reason: String,
    },
    /// The JSON is not well-formed.
    #[error("{format}: line {line}, column {column}: invalid JSON ({reason})")]
    Syntax {
        /// The format being read.
        format: Format,
        /// The line (from 1) of the error.
        line: usize,
        /// The column (from 1) of the error.
        column: usize,
        /// The parser's description of the error, which quotes nothing.
        reason: String,
    },
    /// The JSON document's top level is not what the format describes.
    #[error("{format}: {reason}")]
    BadDocument {
        /// The format being read.
        format: Format,
        /// What is wrong.
        reason: &'static str,
    },
    /// One item of a JSON export is not what the format describes.
    #[error("{format}: items[{index}] (item {number}): {reason}", number = index + 1)]
    InvalidItem {
        /// The format being read.
        format: Format,
        /// The item's index (from 0) in the `items` array.
        index: usize,
        /// What is wrong, naming the field but not its value.
        reason: String,
    },
    /// A Bitwarden export sealed with a password or account key.
    #[error(
        "bitwarden-json: the export is encrypted; export again choosing the \
         unencrypted `.json` format (`bw export --format json`)"
    )]
    Encrypted,
}

/// `input` as text, or [`ImportError::NotUtf8`] at the first bad byte.
pub(crate) fn utf8(format: Format, input: &[u8]) -> Result<&str, ImportError> {
    std::str::from_utf8(input).map_err(|e| {
        let before = input.get(..e.valid_up_to()).unwrap_or(&[]);
        let newlines = before.iter().filter(|&&b| b == b'\n').count() as u64;
        ImportError::NotUtf8 {
            format,
            line: newlines + 1,
        }
    })
}

impl ImportError {
    /// A JSON syntax error, keeping only serde_json's position and the
    /// category of error, which never quotes the input.
    pub(crate) fn json(format: Format, err: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let reason = match err.classify() {
            Category::Eof => "the file ends too early".to_owned(),
            Category::Syntax => {
                // serde_json's syntax messages ("expected `,` or `}`") are
                // fixed strings; drop the " at line N column M" tail.
                let text = err.to_string();
                match text.rfind(" at line ") {
                    Some(at) => text.get(..at).unwrap_or("syntax error").to_owned(),
                    None => text,
                }
            }
            Category::Io | Category::Data => "unreadable value".to_owned(),
        };
        ImportError::Syntax {
            format,
            line: err.line(),
            column: err.column(),
            reason,
        }
    }
}
