//! Header-driven CSV reading shared by the CSV formats: columns are found
//! by name (case-insensitively, surrounding spaces ignored), so their order
//! and any extra columns do not matter; each record is checked against the
//! header's width and reported by line and record number.

use crate::{Format, ImportError};
use csv::{ReaderBuilder, StringRecord};

/// A CSV file whose header has been read.
pub(crate) struct Table<'a> {
    format: Format,
    reader: csv::Reader<&'a [u8]>,
    /// Header names, trimmed and lowercased.
    names: Vec<String>,
}

/// A column's position in the header; reading it from a [`Row`] cannot
/// fail.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Col(Option<usize>);

/// One record with as many fields as the header.
pub(crate) struct Row {
    record: StringRecord,
    /// The line (from 1) where the record starts.
    pub line: u64,
    /// The record number (from 1, the header not counted).
    pub number: u64,
}

impl<'a> Table<'a> {
    /// Reads the header of `text` (a leading byte-order mark already
    /// removed).
    pub fn open(format: Format, text: &'a str) -> Result<Self, ImportError> {
        let mut reader = ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(text.as_bytes());
        let header = reader.headers().map_err(|e| csv_error(format, &e, 1, 0))?;
        let names: Vec<String> = header
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_lowercase())
            .collect();
        if names.iter().all(String::is_empty) {
            return Err(ImportError::Empty { format });
        }
        Ok(Table {
            format,
            reader,
            names,
        })
    }

    /// The column named `name`, or [`ImportError::MissingColumn`].
    pub fn required(&self, name: &'static str) -> Result<Col, ImportError> {
        match self.optional(name) {
            Col(Some(i)) => Ok(Col(Some(i))),
            Col(None) => Err(ImportError::MissingColumn {
                format: self.format,
                column: name,
            }),
        }
    }

    /// The column named `name`, if the header has it; reading an absent
    /// column gives `""`.
    pub fn optional(&self, name: &str) -> Col {
        let name = name.to_lowercase();
        Col(self.names.iter().position(|n| *n == name))
    }

    /// The next record that is not entirely empty, `None` at the end, or
    /// [`ImportError::Malformed`] for a record whose width differs from the
    /// header's.
    pub fn next_row(&mut self) -> Result<Option<Row>, ImportError> {
        let mut record = StringRecord::new();
        loop {
            let more = self
                .reader
                .read_record(&mut record)
                .map_err(|e| csv_error(self.format, &e, 0, 0))?;
            if !more {
                return Ok(None);
            }
            let (line, number) = record.position().map_or((0, 0), |p| (p.line(), p.record()));
            if record.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            if record.len() != self.names.len() {
                return Err(ImportError::Malformed {
                    format: self.format,
                    line,
                    record: number,
                    reason: format!(
                        "{} fields where the header has {}",
                        record.len(),
                        self.names.len()
                    ),
                });
            }
            return Ok(Some(Row {
                record,
                line,
                number,
            }));
        }
    }
}

impl Row {
    /// The field in column `col`, or `""` if the header has no such column.
    pub fn get(&self, col: Col) -> &str {
        col.0.and_then(|i| self.record.get(i)).unwrap_or("")
    }

    /// The `true`/`false` (any case) field in column `col`; empty is false.
    pub fn flag(&self, format: Format, col: Col, name: &str) -> Result<bool, ImportError> {
        match self.get(col).trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" | "" => Ok(false),
            _ => Err(ImportError::Malformed {
                format,
                line: self.line,
                record: self.number,
                reason: format!("the `{name}` column is neither true nor false"),
            }),
        }
    }
}

/// A [`csv::Error`] as an [`ImportError`], keeping only the position.
fn csv_error(format: Format, err: &csv::Error, line: u64, record: u64) -> ImportError {
    let (line, record) = err
        .position()
        .map_or((line, record), |p| (p.line(), p.record()));
    let reason = match err.kind() {
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8 text",
        csv::ErrorKind::UnequalLengths { .. } => "a different number of fields than the header",
        _ => "unreadable CSV",
    };
    ImportError::Malformed {
        format,
        line,
        record,
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Format = Format::ChromeCsv;

    #[test]
    fn columns_by_name_in_any_case_and_order() {
        let mut t = Table::open(F, " URL ,Name,extra\nu,n,x\n").unwrap();
        let name = t.required("name").unwrap();
        let url = t.required("url").unwrap();
        let missing = t.optional("note");
        let row = t.next_row().unwrap().unwrap();
        assert_eq!(
            (row.get(name), row.get(url), row.get(missing)),
            ("n", "u", "")
        );
        assert_eq!((row.line, row.number), (2, 1));
        assert!(t.next_row().unwrap().is_none());
        assert!(matches!(
            t.required("password"),
            Err(ImportError::MissingColumn {
                column: "password",
                ..
            })
        ));
    }

    #[test]
    fn positions_count_lines_inside_quotes_and_skip_empty_rows() {
        let text = "a,b\n\"1\n2\",x\n,\n\n  ,\ny,z\n";
        let mut t = Table::open(F, text).unwrap();
        let r1 = t.next_row().unwrap().unwrap();
        assert_eq!((r1.line, r1.number), (2, 1));
        let r2 = t.next_row().unwrap().unwrap();
        assert_eq!((r2.line, r2.number), (7, 4));
        assert!(t.next_row().unwrap().is_none());
    }

    #[test]
    fn wrong_width_is_malformed_with_its_line() {
        let mut t = Table::open(F, "a,b,c\n1,2,3\n4,5\n").unwrap();
        assert!(t.next_row().unwrap().is_some());
        let err = t.next_row().err().unwrap();
        assert!(
            matches!(
                err,
                ImportError::Malformed {
                    line: 3,
                    record: 2,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
