//! The cache file: a parsed [`Table`] in a compact binary form that a later run copies into its
//! columns without parsing.
//!
//! ```text
//! offset  size  what
//! 0       8     MAGIC
//! 8       4     FORMAT (u32)
//! 12      4     CRC32 of the metadata
//! 16      8     metadata length in bytes (u64)
//! 24      8     payload length in bytes (u64)
//! 32      4     CRC32 of the payload
//! 36      4     zero
//! 40      m     metadata: JSON ([`Meta`]): the key, names, levels, the label map, counts
//! ...           zeros up to a multiple of 64
//! p       n     payload: the row numbers (none when consecutive, else u32 or u64 each, as
//!               the metadata says), then each column's values (f32) or codes (u32), then the
//!               labels (f32), in native byte order, one after the other
//! ```
//!
//! Nothing in a file is trusted before it is checked: the magic, the format, the lengths against
//! the file's own size and against each other, both checksums, the key, every categorical code
//! against its levels. A file that fails a check is damaged (never a panic): the caller ignores
//! it and writes a new one.

use std::io::Write;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::data::buffer::Values;
use crate::data::table::MISSING_CODE;
use crate::data::{Column, RowNumbers, Table};

/// The first bytes of every cache file.
const MAGIC: &[u8; 8] = b"BFTABLE\n";

/// The layout's version: raised whenever the bytes or the metadata change meaning (4: a row
/// after blank lines is numbered by its own line where no quote came before it; csv named
/// the first blank line).
pub(super) const FORMAT: u32 = 4;

/// The fixed header's length.
const HEAD: usize = 40;

/// Where the payload may start: a multiple of this.
const ALIGN: usize = 64;

/// The file a table was parsed from, as the file system describes it: any write to the file
/// changes its size, its modification time or its change time (which no user can set back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Identity {
    /// The device holding it.
    pub(super) dev: u64,
    /// Its inode.
    pub(super) ino: u64,
    /// Its size in bytes.
    pub(super) size: u64,
    /// Last modification, in nanoseconds since 1970.
    pub(super) mtime_ns: i64,
    /// Last change of the inode (contents, permissions, links), in nanoseconds since 1970.
    pub(super) ctime_ns: i64,
}

/// Everything that decides what parsing gives: an entry is used only when its key equals the
/// one computed now, field by field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Key {
    /// [`FORMAT`].
    pub(super) format: u32,
    /// The program that parsed it: its version and its executable's size and time, so a
    /// rebuilt loader never reuses what an older one parsed.
    pub(super) program: String,
    /// The file.
    pub(super) source: Identity,
    /// The load settings (`LoadSpec`'s `Debug` text: every field, whatever they become).
    pub(super) spec: String,
}

/// The metadata block.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Meta {
    /// What the entry was parsed for.
    pub(super) key: Key,
    /// When the file began to be read, in nanoseconds since 1970 (see `mod.rs`: racy entries).
    pub(super) read_at_ns: i64,
    /// The file's size and CRC32, as parsed: a hit reports the same `Table::checksum`.
    pub(super) checksum: (u64, u32),
    /// The file's header.
    header: Vec<String>,
    /// Number of rows.
    rows: u64,
    /// How the row numbers are stored.
    row_numbers: RowsMeta,
    /// The feature columns, in order.
    columns: Vec<ColumnMeta>,
    /// The label fields.
    labels: LabelMeta,
}

/// How a table's row numbers are stored ([`RowNumbers`]).
#[derive(Debug, Serialize, Deserialize)]
enum RowsMeta {
    /// Not at all: `first`, `first + 1`, …
    Consecutive { first: u64 },
    /// u32 each.
    Narrow,
    /// u64 each.
    Wide,
}

impl RowsMeta {
    /// Bytes a row takes in the payload.
    fn width(&self) -> usize {
        match self {
            RowsMeta::Consecutive { .. } => 0,
            RowsMeta::Narrow => 4,
            RowsMeta::Wide => 8,
        }
    }
}

/// One feature column's metadata; its values are in the payload.
#[derive(Debug, Serialize, Deserialize)]
enum ColumnMeta {
    /// `rows` f32 values.
    Numeric { name: String },
    /// `rows` u32 codes into `levels`.
    Categorical { name: String, levels: Vec<String> },
}

/// The label fields of a [`Table`], stored as JSON values and read back into whatever types the
/// table declares: the one place here that names them, so that a change of their types (one
/// label to several) needs no change of the format.
#[derive(Debug, Serialize, Deserialize)]
struct LabelMeta {
    /// `Table::label_names`.
    name: serde_json::Value,
    /// `Table::label_map`.
    map: serde_json::Value,
    /// How many f32 label values follow the columns, if the table has labels (a multiple of
    /// the rows: one or more per row).
    values: Option<u64>,
}

impl LabelMeta {
    fn of(table: &Table) -> Result<(Self, Option<&[f32]>), serde_json::Error> {
        let meta = LabelMeta {
            name: serde_json::to_value(&table.label_names)?,
            map: serde_json::to_value(&table.label_map)?,
            values: table.labels.as_ref().map(|l| l.len() as u64),
        };
        Ok((meta, table.labels.as_deref()))
    }
}

/// A table laid out for writing: the header and metadata, and the payload's slices in order.
pub(super) struct Encoded<'t> {
    head: Vec<u8>,
    sections: Vec<&'t [u8]>,
}

impl<'t> Encoded<'t> {
    /// The file's size.
    pub(super) fn len(&self) -> u64 {
        self.head.len() as u64 + self.sections.iter().map(|s| s.len() as u64).sum::<u64>()
    }

    /// Writes the whole file.
    pub(super) fn write_to(&self, w: &mut dyn Write) -> std::io::Result<()> {
        w.write_all(&self.head)?;
        for s in &self.sections {
            w.write_all(s)?;
        }
        Ok(())
    }
}

/// `table` as a cache file for `key`.
pub(super) fn encode<'t>(
    table: &'t Table,
    key: &Key,
    read_at_ns: i64,
    checksum: (u64, u32),
) -> Result<Encoded<'t>, serde_json::Error> {
    let (labels, label_values) = LabelMeta::of(table)?;
    let (row_numbers, rows_section): (RowsMeta, &[u8]) = match &table.rows {
        RowNumbers::Consecutive { first, .. } => (RowsMeta::Consecutive { first: *first }, &[]),
        RowNumbers::Narrow(v) => (RowsMeta::Narrow, bytemuck::cast_slice(v)),
        RowNumbers::Wide(v) => (RowsMeta::Wide, bytemuck::cast_slice(v)),
    };
    let mut sections: Vec<&[u8]> = vec![rows_section];
    let columns = table
        .columns
        .iter()
        .map(|c| match c {
            Column::Numeric { name, values } => {
                sections.push(bytemuck::cast_slice(&values[..]));
                ColumnMeta::Numeric { name: name.clone() }
            }
            Column::Categorical {
                name,
                codes,
                levels,
            } => {
                sections.push(bytemuck::cast_slice(&codes[..]));
                ColumnMeta::Categorical {
                    name: name.clone(),
                    levels: levels.clone(),
                }
            }
        })
        .collect();
    sections.extend(label_values.map(bytemuck::cast_slice::<f32, u8>));
    let meta = serde_json::to_vec(&Meta {
        key: key.clone(),
        read_at_ns,
        checksum,
        header: table.header.clone(),
        rows: table.rows.len() as u64,
        row_numbers,
        columns,
        labels,
    })?;
    let mut payload_crc = crc32fast::Hasher::new();
    for s in &sections {
        payload_crc.update(s);
    }
    let payload_len: u64 = sections.iter().map(|s| s.len() as u64).sum();
    let mut head = Vec::with_capacity(HEAD + meta.len() + ALIGN);
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&FORMAT.to_le_bytes());
    head.extend_from_slice(&crc32fast::hash(&meta).to_le_bytes());
    head.extend_from_slice(&(meta.len() as u64).to_le_bytes());
    head.extend_from_slice(&payload_len.to_le_bytes());
    head.extend_from_slice(&payload_crc.finalize().to_le_bytes());
    head.extend_from_slice(&[0; 4]);
    head.extend_from_slice(&meta);
    head.resize(head.len().next_multiple_of(ALIGN), 0);
    Ok(Encoded { head, sections })
}

/// Why a cache file cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Unusable {
    /// It holds another key's table (the file or a setting changed): replaced, not a fault.
    Stale,
    /// It fails a check: what failed.
    Damaged(String),
}

fn damaged(why: impl Into<String>) -> Unusable {
    Unusable::Damaged(why.into())
}

/// The fixed header's fields after the magic.
struct Head {
    meta_crc: u32,
    meta_len: usize,
    payload_len: usize,
    payload_crc: u32,
}

/// Reads and checks the fixed header against the file's length.
fn head(bytes: &[u8]) -> Result<Head, Unusable> {
    if bytes.len() < HEAD || &bytes[..8] != MAGIC {
        return Err(damaged("not a burnfit cache file (no magic bytes)"));
    }
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or([0; 4]));
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
    let format = u32_at(8);
    if format != FORMAT {
        return Err(damaged(format!(
            "format {format}, this program reads {FORMAT}"
        )));
    }
    let too_long = || damaged("a length in the header exceeds the file");
    let meta_len = usize::try_from(u64_at(16)).map_err(|_| too_long())?;
    let payload_len = usize::try_from(u64_at(24)).map_err(|_| too_long())?;
    let start = HEAD
        .checked_add(meta_len)
        .map(|e| e.next_multiple_of(ALIGN))
        .ok_or_else(too_long)?;
    if start.checked_add(payload_len) != Some(bytes.len()) {
        return Err(damaged(format!(
            "{} bytes, where the header says {}",
            bytes.len(),
            start.saturating_add(payload_len)
        )));
    }
    // The reserved bytes and the padding are zeros in every file this program writes.
    let padding = &bytes[HEAD + meta_len..start];
    if u32_at(36) != 0 || padding.iter().any(|&b| b != 0) {
        return Err(damaged("non-zero bytes where the layout has zeros"));
    }
    Ok(Head {
        meta_crc: u32_at(12),
        meta_len,
        payload_len,
        payload_crc: u32_at(32),
    })
}

/// The metadata of a cache file whose header and metadata pass their checks.
fn meta(bytes: &[u8]) -> Result<Meta, Unusable> {
    let h = head(bytes)?;
    let text = &bytes[HEAD..HEAD + h.meta_len];
    if crc32fast::hash(text) != h.meta_crc {
        return Err(damaged("the metadata's checksum does not match"));
    }
    serde_json::from_slice(text).map_err(|e| damaged(format!("unreadable metadata: {e}")))
}

/// The table stored in `bytes` for `key`, read as `origin`, and when its file began to be read;
/// every length checked before it is used and the payload's checksum computed over the values.
/// With `owner`, the mapped file `bytes` is, the numeric columns stay in the map (the page
/// cache) instead of being copied: a cached table needs no memory for them.
// Long because one check after another on untrusted bytes, each before what it guards.
pub(super) fn decode(
    bytes: &[u8],
    owner: Option<&Arc<memmap2::Mmap>>,
    key: &Key,
    origin: &str,
) -> Result<(Table, i64), Unusable> {
    let h = head(bytes)?;
    let meta = meta(bytes)?;
    if meta.key != *key {
        return Err(Unusable::Stale);
    }
    let rows = usize::try_from(meta.rows).map_err(|_| damaged("too many rows"))?;
    let label_count = match meta.labels.values {
        Some(n) => {
            let n = usize::try_from(n).map_err(|_| damaged("too many labels"))?;
            if rows == 0 || n < rows || n % rows != 0 {
                return Err(damaged(format!("{n} label values for {rows} rows")));
            }
            Some(n)
        }
        None => None,
    };
    // What is copied out must fit in memory: the row numbers, and the columns and the labels
    // unless they stay mapped.
    let columns = meta.columns.len();
    let copied_bytes = (h.payload_len as u64).saturating_sub(if owner.is_some() {
        4 * (rows * columns + label_count.unwrap_or(0)) as u64
    } else {
        0
    });
    if copied_bytes > crate::resources::available() {
        return Err(damaged(format!(
            "reading it needs {} of memory, and {} is available",
            crate::resources::human(copied_bytes),
            crate::resources::human(crate::resources::available())
        )));
    }
    let start = bytes.len() - h.payload_len;
    let payload = &bytes[start..];
    let mapped = owner.map(|m| (m, start));
    let copied = copy_payload(
        payload,
        mapped,
        h.payload_crc,
        (rows, &meta.row_numbers),
        &meta.columns,
        label_count,
    )?;
    let mut copied = copied.into_iter();
    let Some(Copied::Rows(source_rows)) = copied.next() else {
        return Err(damaged("no rows"));
    };
    let mut columns = Vec::with_capacity(meta.columns.len());
    for (c, values) in meta.columns.into_iter().zip(copied.by_ref()) {
        columns.push(match (c, values) {
            (ColumnMeta::Numeric { name }, Copied::Values(values)) => {
                Column::Numeric { name, values }
            }
            (ColumnMeta::Categorical { name, levels }, Copied::Codes(codes)) => {
                check_codes(&name, &codes, levels.len())?;
                Column::Categorical {
                    name,
                    codes,
                    levels,
                }
            }
            _ => return Err(damaged("a column's kind changed while it was read")),
        });
    }
    let labels: Option<Values> = match copied.next() {
        Some(Copied::Values(l)) => Some(l),
        _ => None,
    };
    let json = |e: serde_json::Error| damaged(format!("unreadable label metadata: {e}"));
    let table = Table {
        origin: origin.to_string(),
        header: meta.header,
        columns,
        label_names: serde_json::from_value(meta.labels.name).map_err(json)?,
        labels,
        label_map: serde_json::from_value(meta.labels.map).map_err(json)?,
        rows: source_rows,
        checksum: Some(meta.checksum),
    };
    Ok((table, meta.read_at_ns))
}

/// The payload's sections front to back (rows, each column, the labels), copied out and
/// checksummed on every core, the sums combined in file order and compared with `crc`; first,
/// the payload's length against what the metadata's counts need.
fn copy_payload(
    payload: &[u8],
    mapped: Option<(&Arc<memmap2::Mmap>, usize)>,
    crc: u32,
    (rows, numbers): (usize, &RowsMeta),
    columns: &[ColumnMeta],
    labels: Option<usize>,
) -> Result<Vec<Copied>, Unusable> {
    let expected = rows
        .checked_mul(numbers.width() + 4 * columns.len())
        .and_then(|b| b.checked_add(4 * labels.unwrap_or(0)));
    if expected != Some(payload.len()) {
        return Err(damaged(format!(
            "a payload of {} bytes, where {rows} rows of {} columns need {}",
            payload.len(),
            columns.len(),
            expected.map_or("more".into(), |e| e.to_string())
        )));
    }
    let mut rest = payload;
    let mut at = 0;
    let mut cut = |n: usize| {
        let (now, after) = rest.split_at(n.min(rest.len()));
        rest = after;
        at += now.len();
        (now, at - now.len())
    };
    let first = match numbers {
        RowsMeta::Consecutive { first } => {
            if first.checked_add(rows as u64).is_none() {
                return Err(damaged(format!("{rows} rows from row {first}")));
            }
            Some(*first)
        }
        _ => None,
    };
    let mut sections = vec![Section::Rows(cut(numbers.width() * rows).0, rows, first)];
    for c in columns {
        sections.push(match c {
            ColumnMeta::Numeric { .. } => {
                let (bytes, offset) = cut(4 * rows);
                Section::Numeric(bytes, mapped.map(|(map, start)| (map, start + offset)))
            }
            ColumnMeta::Categorical { .. } => {
                let (bytes, offset) = cut(4 * rows);
                Section::Codes(bytes, mapped.map(|(map, start)| (map, start + offset)))
            }
        });
    }
    // The labels, f32 like a numeric column, stay in the map the same way.
    sections.extend(labels.map(|n| {
        let (bytes, offset) = cut(4 * n);
        Section::Numeric(bytes, mapped.map(|(map, start)| (map, start + offset)))
    }));
    let copied: Vec<(Copied, crc32fast::Hasher)> =
        sections.into_par_iter().map(Section::copy).collect();
    let mut sum = crc32fast::Hasher::new();
    for (_, h) in &copied {
        sum.combine(h);
    }
    if sum.finalize() != crc {
        return Err(damaged("the payload's checksum does not match"));
    }
    Ok(copied.into_iter().map(|(c, _)| c).collect())
}

/// `Err` when a categorical code is neither [`MISSING_CODE`] nor an index into the levels.
fn check_codes(name: &str, codes: &[u32], levels: usize) -> Result<(), Unusable> {
    match codes
        .iter()
        .find(|&&c| c != MISSING_CODE && c as usize >= levels)
    {
        Some(code) => Err(damaged(format!(
            "column `{name}` has code {code} for {levels} levels"
        ))),
        None => Ok(()),
    }
}

/// One stretch of the payload, by what it holds.
enum Section<'b> {
    /// The source row numbers: their bytes (u32 or u64 each), or how many rows from which
    /// first one.
    Rows(&'b [u8], usize, Option<u64>),
    /// A numeric column's values, and where they are in the mapped file they may stay in.
    Numeric(&'b [u8], Option<(&'b Arc<memmap2::Mmap>, usize)>),
    /// A categorical column's codes, and where they are in the mapped file they may stay in.
    Codes(&'b [u8], Option<(&'b Arc<memmap2::Mmap>, usize)>),
}

/// A section, copied out.
enum Copied {
    Rows(RowNumbers),
    /// A categorical column's codes, copied or left in the map.
    Codes(Values<u32>),
    /// A numeric column, copied or left in the map.
    Values(Values),
}

impl Section<'_> {
    /// The section's values, and the checksum of its bytes. Copied first and summed from the
    /// copy, so what the checksum vouches for is what is kept even if the mapped file were
    /// changed underneath; a numeric column left in the map is summed where it lies (an entry is
    /// never written in place, and its folder is the user's alone: `super::map`).
    fn copy(self) -> (Copied, crc32fast::Hasher) {
        fn out<T: bytemuck::Pod>(bytes: &[u8], crc: &mut crc32fast::Hasher) -> Vec<T> {
            let mut v = vec![T::zeroed(); bytes.len() / std::mem::size_of::<T>()];
            let whole = v.len() * std::mem::size_of::<T>();
            bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(&bytes[..whole]);
            crc.update(bytemuck::cast_slice(&v));
            v
        }
        /// The values of `bytes`, left in the map they lie in when aligned there.
        fn kept<T: bytemuck::Pod>(
            bytes: &[u8],
            mapped: Option<(&Arc<memmap2::Mmap>, usize)>,
            crc: &mut crc32fast::Hasher,
        ) -> Values<T> {
            let len = bytes.len() / std::mem::size_of::<T>();
            match mapped.and_then(|(map, start)| Values::mapped(map, start, len)) {
                Some(v) => {
                    crc.update(bytes);
                    v
                }
                None => out(bytes, crc).into(),
            }
        }
        let mut crc = crc32fast::Hasher::new();
        let copied = match self {
            Section::Rows(_, len, Some(first)) => {
                Copied::Rows(RowNumbers::Consecutive { first, len })
            }
            Section::Rows(b, len, None) if b.len() == 4 * len => {
                Copied::Rows(RowNumbers::Narrow(out(b, &mut crc).into()))
            }
            Section::Rows(b, _, None) => Copied::Rows(RowNumbers::Wide(out(b, &mut crc).into())),
            // Left in the map when aligned there: summed where it lies.
            Section::Codes(b, mapped) => Copied::Codes(kept(b, mapped, &mut crc)),
            Section::Numeric(b, mapped) => Copied::Values(kept(b, mapped, &mut crc)),
        };
        (copied, crc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::LabelMap;

    fn table() -> Table {
        Table {
            origin: "a.csv".into(),
            header: vec!["x".into(), "c".into(), "y".into()],
            columns: vec![
                Column::Numeric {
                    name: "x".into(),
                    values: vec![1.5, f32::NAN, -0.0].into(),
                },
                Column::Categorical {
                    name: "c".into(),
                    codes: vec![0, MISSING_CODE, 1].into(),
                    levels: vec!["red".into(), "blue".into()],
                },
            ],
            label_names: vec!["y".into()],
            labels: Some(vec![1.0, 0.0, f32::NAN].into()),
            label_map: Some(LabelMap::Binary {
                positive: "Yes".into(),
                negative: Some("No".into()),
            }),
            rows: [2u64, 3, 5].into_iter().collect(),
            checksum: Some((120, 77)),
        }
    }

    fn key() -> Key {
        Key {
            format: FORMAT,
            program: "test".into(),
            source: Identity {
                dev: 1,
                ino: 2,
                size: 120,
                mtime_ns: 3,
                ctime_ns: 4,
            },
            spec: "LoadSpec { .. }".into(),
        }
    }

    fn bytes(t: &Table) -> Vec<u8> {
        let mut out = Vec::new();
        encode(t, &key(), 9, (120, 77))
            .unwrap()
            .write_to(&mut out)
            .unwrap();
        out
    }

    /// Tables compared through their `Debug` text, where NaN equals NaN.
    fn same(a: &Table, b: &Table) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn a_table_round_trips_with_its_checksum_and_the_caller_s_origin() {
        let t = table();
        let b = bytes(&t);
        assert_eq!(b.len() % 4, 0);
        let (back, read_at) = decode(&b, None, &key(), "a.csv").unwrap();
        assert!(same(&t, &back), "{back:?}");
        assert_eq!(read_at, 9);
        let (elsewhere, _) = decode(&b, None, &key(), "./a.csv").unwrap();
        assert_eq!(elsewhere.origin, "./a.csv");
        let mut other = key();
        other.source.mtime_ns += 1;
        assert_eq!(
            decode(&b, None, &other, "a.csv").unwrap_err(),
            Unusable::Stale
        );
    }

    #[test]
    fn a_mapped_entry_leaves_its_columns_codes_and_labels_in_the_map() {
        let t = table();
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &bytes(&t)).unwrap();
        // SAFETY: a file of this test's own, unnamed.
        #[allow(unsafe_code)]
        let map = Arc::new(unsafe { memmap2::Mmap::map(&file) }.unwrap());
        let (back, _) = decode(&map, Some(&map), &key(), "a.csv").unwrap();
        assert!(same(&t, &back), "{back:?}");
        let in_map = |v: bool| assert!(v, "{back:?}");
        for c in &back.columns {
            match c {
                Column::Numeric { values, .. } => in_map(matches!(values, Values::Mapped { .. })),
                Column::Categorical { codes, .. } => in_map(matches!(codes, Values::Mapped { .. })),
            }
        }
        in_map(matches!(back.labels, Some(Values::Mapped { .. })));
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_refused_never_a_panic() {
        let b = bytes(&table());
        for len in 0..b.len() {
            assert!(
                matches!(
                    decode(&b[..len], None, &key(), "a"),
                    Err(Unusable::Damaged(_))
                ),
                "truncated to {len}"
            );
        }
        let mut longer = b.clone();
        longer.push(0);
        assert!(decode(&longer, None, &key(), "a").is_err());
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0x41;
            assert!(
                matches!(decode(&bad, None, &key(), "a"), Err(Unusable::Damaged(_))),
                "byte {i}"
            );
        }
    }

    #[test]
    fn a_code_beyond_its_levels_is_damage_even_with_good_checksums() {
        let mut t = table();
        if let Column::Categorical { codes, .. } = &mut t.columns[1] {
            *codes = vec![2, MISSING_CODE, 1].into();
        }
        let err = decode(&bytes(&t), None, &key(), "a").unwrap_err();
        assert!(
            matches!(&err, Unusable::Damaged(w) if w.contains("code 2 for 2 levels")),
            "{err:?}"
        );
    }
}
