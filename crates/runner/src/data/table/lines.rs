//! The loader's fast path: a part of the file with no quote character is whole lines of cells
//! between commas, so it is cut into blocks at line breaks, and each block is split and its
//! numbers parsed in one pass on a worker, each number read where it lies (no record copied).
//! The first block holding a `"` hands the rest of the file to the csv reader, which knows
//! quoting; everything before it is what csv_core would have read, but for the row a record
//! after blank lines is named by (its own line here, the first blank line in csv; the
//! property test compares the two on quote-free text without blank lines).
//!
//! What csv_core does on such text, and this module does too: a record is a line, a field is
//! what lies between commas, an empty line is no record (but still a line), the last line
//! may lack its `\n`. `\r` never reaches here ([`super::UnixLines`]).

use std::io::Read;

use super::cells::parse_number;
use crate::data::DataError;

/// Bytes a block is cut at (at the line break after): big enough that a handful of blocks
/// keep the workers busy, small enough that the blocks in flight stay a few MB. Under test,
/// a few lines, so that small files cross blocks.
#[cfg(not(test))]
const BLOCK: usize = 1 << 20;
#[cfg(test)]
const BLOCK: usize = 64;

/// What the csv reader reads once a quote is found: the block it was found in, then the rest.
pub(super) type Rest<R> = Tail<std::io::Chain<std::io::Cursor<Vec<u8>>, R>>;

/// A reader that remembers how many bytes it gave, the last of them, and whether its source
/// ended: how a record at the very end of a file tells whether a line break ends it
/// ([`super::pipeline::read_record`]).
pub(super) struct Tail<R> {
    inner: R,
    /// Bytes given.
    pub(super) total: u64,
    /// The last byte given.
    pub(super) last: Option<u8>,
    /// The source has ended.
    pub(super) ended: bool,
}

impl<R: Read> Read for Tail<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        match n {
            0 if !buf.is_empty() => self.ended = true,
            0 => {}
            n => {
                self.total += n as u64;
                self.last = Some(buf[n - 1]);
            }
        }
        Ok(n)
    }
}

/// The file after its header, read a block at a time.
pub(super) struct Input<R> {
    reader: R,
    /// Bytes read past the last block's end: the start of a line.
    carry: Vec<u8>,
    /// The reader has ended.
    eof: bool,
    /// The line `carry` starts on (1-based; the header's first line is 1).
    line: u64,
    /// A read that failed after whole lines came in: returned once those lines are given,
    /// so an error in them still comes first.
    failed: Option<std::io::Error>,
    /// Every record through the csv reader: the reference the fast path is tested against.
    #[cfg(test)]
    pub(super) csv_only: bool,
}

/// Whole lines of the file, none of them with a quote.
#[derive(Default)]
pub(super) struct Block {
    /// The lines, from `bytes[0]` to `bytes[len]`; past `len`, spare room.
    bytes: Vec<u8>,
    len: usize,
    /// The line `bytes[0]` starts.
    pub(super) first_line: u64,
    /// At least its number of records: its lines, or fewer when the lines are too short to
    /// be records (blank lines).
    pub(super) lines: usize,
}

impl Block {
    /// The block's lines.
    pub(super) fn text(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// What [`Input::next_block`] found.
pub(super) enum Next {
    /// A block of quote-free lines.
    Block,
    /// A quote in the next lines: the rest of the file is the csv reader's ([`Input::into_csv`]).
    Quoted,
    /// The end of the file.
    End,
}

/// The csv reader the loader reads records with: csv_core's defaults (`,`, `"` doubled
/// inside quotes, no comments), every record's length checked by the loader itself (against
/// the header, also for a reader that starts after it).
fn csv_reader<R: Read>(reader: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(reader)
}

/// `text` without the start of a UTF-8 character its end cuts off (at most three bytes).
pub(super) fn whole_characters(text: &[u8]) -> usize {
    let len = text.len();
    for back in 1..=len.min(4) {
        let b = text[len - back];
        if b & 0xC0 != 0x80 {
            // A lead byte (or ASCII): how long its character is.
            let needs = match b {
                0xF0.. => 4,
                0xE0.. => 3,
                0xC0.. => 2,
                _ => 1,
            };
            return if needs > back { len - back } else { len };
        }
    }
    len
}

/// Reads into `buf[*filled..upto]` until it is full or the reader ends (`eof` then set).
fn fill<R: Read>(
    reader: &mut R,
    buf: &mut [u8],
    filled: &mut usize,
    upto: usize,
    eof: &mut bool,
) -> std::io::Result<()> {
    while *filled < upto && !*eof {
        match reader.read(&mut buf[*filled..upto]) {
            Ok(0) => *eof = true,
            Ok(n) => *filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl<R: Read> Input<R> {
    /// Reads the header (with the csv reader, so quoted names and a byte-order mark are read
    /// as before) and keeps what follows it.
    pub(super) fn open(
        mut reader: R,
        origin: &str,
    ) -> Result<(csv::StringRecord, Self), DataError> {
        let (mut buf, mut filled, mut eof) = (vec![0; BLOCK], 0, false);
        loop {
            let upto = buf.len();
            let io = |source| DataError::Io {
                path: origin.into(),
                source,
            };
            // A read that fails after some bytes came in: the header and whole lines first.
            let failed = match fill(&mut reader, &mut buf, &mut filled, upto, &mut eof) {
                Ok(()) => None,
                Err(e) if filled > 0 => Some(e),
                Err(e) => return Err(io(e)),
            };
            // A name cut in the middle of a character by the end of what was read is not
            // bad UTF-8: it is left for the next, longer look.
            let usable = if eof {
                filled
            } else {
                whole_characters(&buf[..filled])
            };
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(true)
                .from_reader(&buf[..usable]);
            let header = rdr
                .headers()
                .map_err(|e| super::pipeline::malformed(e, origin, 0))?
                .clone();
            let end = rdr.position().byte() as usize;
            // A header that ends where the reading stopped may go on past it (a quoted name
            // with line breaks): read as much again and look again.
            if end < usable || eof {
                let input = Input {
                    reader,
                    carry: buf[end.min(usable)..filled].to_vec(),
                    eof,
                    line: rdr.position().line(),
                    failed,
                    #[cfg(test)]
                    csv_only: false,
                };
                return Ok((header, input));
            }
            if let Some(e) = failed {
                return Err(io(e));
            }
            if filled as u64 > super::LINE_LIMIT {
                return Err(DataError::Malformed {
                    path: origin.to_string(),
                    row: 1,
                    message: format!(
                        "the header runs on for more than {}; does a quote in it never close?",
                        crate::resources::human(super::LINE_LIMIT)
                    ),
                });
            }
            buf.resize(2 * buf.len(), 0);
        }
    }

    /// About how many records a file of `bytes` holds (0: unknown), from the lines read so
    /// far, with a little to spare: a column given that room from the start is never copied
    /// to a larger one while it grows. Never more than two bytes a cell would make (a digit
    /// and a comma: the bound the memory check before reading assumes), so first lines
    /// shorter than the rest cost at most that; the room left unused is given back at the
    /// end ([`crate::data::buffer::Growing::finish`]).
    pub(super) fn rows_in(&self, bytes: u64, fields: usize) -> usize {
        let lines = memchr::memchr_iter(b'\n', &self.carry).count() as u64;
        let estimate = match () {
            _ if self.eof => lines + 1,
            _ if lines == 0 => return 0,
            _ => bytes / (self.carry.len() as u64 / lines).max(1) / 64 * 67,
        };
        let most = bytes / (2 * fields.max(1)) as u64;
        usize::try_from(estimate.min(most)).unwrap_or(0)
    }

    /// Fills `block` with the next lines, or says that a quote or the end comes first.
    pub(super) fn next_block(&mut self, block: &mut Block, fields: usize) -> std::io::Result<Next> {
        let carried = self.carry.len();
        let room = BLOCK.max(2 * carried);
        if block.bytes.len() < room {
            block.bytes.resize(room, 0);
        } else if block.bytes.len() > 4 * room {
            // Grown for a long line: back to a block's size, so the batches in flight do not
            // each keep one of the longest line's size.
            block.bytes.truncate(room);
            block.bytes.shrink_to_fit();
        }
        block.bytes[..carried].copy_from_slice(&self.carry);
        self.carry.clear();
        let mut filled = carried;
        let cut = loop {
            let upto = block.bytes.len();
            // After a failed read nothing more is read: the whole lines carried, then the
            // error.
            let read = match self.failed.take() {
                Some(e) => Err(e),
                None => fill(
                    &mut self.reader,
                    &mut block.bytes,
                    &mut filled,
                    upto,
                    &mut self.eof,
                ),
            };
            let last = memchr::memrchr(b'\n', &block.bytes[..filled]);
            match (read, last) {
                (Err(e), Some(i)) => {
                    // The whole lines first; the error on the next call.
                    self.failed = Some(e);
                    break i + 1;
                }
                (Err(e), None) => return Err(e),
                _ if self.eof => break filled,
                (_, Some(i)) => break i + 1,
                // A line longer than the block ([`super::LINE_LIMIT`] bounds it in a file): more
                // room, while a cell's offset still fits the 32 bits it is kept in.
                (_, None) if filled >= u32::MAX as usize / 2 => return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "a line runs on for more than 2 GB without a line break; is this a CSV file?",
                )),
                (_, None) => block.bytes.resize(2 * filled, 0),
            }
        };
        block.len = filled;
        #[cfg(test)]
        let quoted = self.csv_only && filled > 0;
        #[cfg(not(test))]
        let quoted = false;
        if quoted || memchr::memchr(b'"', &block.bytes[..cut]).is_some() {
            return Ok(Next::Quoted);
        }
        if cut == 0 {
            return Ok(Next::End);
        }
        self.carry.extend_from_slice(&block.bytes[cut..filled]);
        let breaks = memchr::memchr_iter(b'\n', &block.bytes[..cut]).count();
        block.len = cut;
        block.first_line = self.line;
        // At most one record a line, and at most one a `fields` bytes (a record that is
        // kept has `fields - 1` commas and its line break): blank lines make no room.
        block.lines = (breaks + usize::from(block.bytes[cut - 1] != b'\n'))
            .min((cut + 1) / fields.max(1) + 1);
        self.line += breaks as u64;
        Ok(Next::Block)
    }

    /// The csv reader for the rest of the file, from the first line of the block a quote
    /// was found in, with the number to add to the lines it counts.
    pub(super) fn into_csv(self, block: &mut Block) -> (csv::Reader<Rest<R>>, u64) {
        let mut first = std::mem::take(&mut block.bytes);
        first.truncate(block.len);
        let rdr = csv_reader(Tail {
            inner: std::io::Cursor::new(first).chain(self.reader),
            total: 0,
            last: None,
            ended: false,
        });
        (rdr, self.line - 1)
    }
}

/// How a block's fields are read: fixed for the file.
pub(super) struct Layout<'a> {
    /// What each field of a record feeds.
    pub(super) roles: Vec<Role>,
    /// How many text cells a record gives (categorical features, labels).
    pub(super) texts: usize,
    /// The numeric features, in builder order: their field and name, for messages.
    pub(super) numeric: Vec<(usize, &'a str)>,
}

/// What one field of a record feeds.
#[derive(Clone, Default)]
pub(super) enum Role {
    /// Nothing: a column not read.
    #[default]
    Skip,
    /// Numeric feature `k`.
    Number(usize),
    /// Text cell `t` of the record.
    Text(usize),
    /// Several of them (a column named twice).
    Many {
        /// The numeric features it feeds.
        numbers: Vec<usize>,
        /// The text cells it gives.
        texts: Vec<usize>,
    },
}

impl Role {
    /// `self` with numeric feature `k` added.
    pub(super) fn and_number(self, k: usize) -> Role {
        match self {
            Role::Skip => Role::Number(k),
            other => {
                let (mut numbers, texts) = other.into_parts();
                numbers.push(k);
                Role::Many { numbers, texts }
            }
        }
    }

    /// `self` with text cell `t` added.
    pub(super) fn and_text(self, t: usize) -> Role {
        match self {
            Role::Skip => Role::Text(t),
            other => {
                let (numbers, mut texts) = other.into_parts();
                texts.push(t);
                Role::Many { numbers, texts }
            }
        }
    }

    fn into_parts(self) -> (Vec<usize>, Vec<usize>) {
        match self {
            Role::Skip => (vec![], vec![]),
            Role::Number(k) => (vec![k], vec![]),
            Role::Text(t) => (vec![], vec![t]),
            Role::Many { numbers, texts } => (numbers, texts),
        }
    }
}

/// What a worker made of a block.
#[derive(Default)]
pub(super) struct Split {
    /// Each record's line.
    pub(super) rows: Vec<u64>,
    /// Record `i`'s text cell `t` is `text[cells[i * texts + t]]` (start, end).
    pub(super) cells: Vec<(u32, u32)>,
    /// Numeric feature `k` of record `i` is `values[k * stride + i]`.
    pub(super) values: Vec<f32>,
    /// Room for records a numeric feature has in `values` (the block's bound on its records).
    pub(super) stride: usize,
}

/// The end of the field at `from`: its comma, its line break, or the block's end.
fn field_end(text: &[u8], from: usize) -> usize {
    memchr::memchr2(b',', b'\n', &text[from..]).map_or(text.len(), |i| from + i)
}

/// A number at `*pos`: read where it lies when it is a plain finite number that ends the
/// field (nearly every cell), else through [`parse_number`] like every other cell. `None`:
/// the cell is not a number the loader takes.
#[inline(always)]
fn number(text: &[u8], pos: &mut usize) -> Option<f32> {
    let rest = &text[*pos..];
    if let Some((v, used)) = super::cells::plain_decimal(rest) {
        if matches!(rest.get(used), None | Some(b',' | b'\n')) {
            // Within the text: `used` bytes of it were read.
            *pos = pos.wrapping_add(used);
            return Some(v);
        }
    }
    number_slow(text, pos)
}

/// [`number`] for the cells its fast path leaves, kept out of line so that the fast path
/// is a few instructions in its caller's loop.
#[cold]
#[inline(never)]
fn number_slow(text: &[u8], pos: &mut usize) -> Option<f32> {
    let rest = &text[*pos..];
    if let Ok((v, used)) = fast_float2::parse_partial::<f32, _>(rest) {
        if v.is_finite() && matches!(rest.get(used), None | Some(b',' | b'\n')) {
            *pos += used;
            return Some(v);
        }
    }
    let end = field_end(text, *pos);
    let v = parse_number(&text[*pos..end], 0, "", "").ok()?;
    *pos = end;
    Some(v)
}

/// Splits `block` into `out`, parsing its numbers; stops at the first record that is not
/// right (a wrong number of fields, a cell that is not a number), with its index and error.
pub(super) fn split(
    block: &Block,
    layout: &Layout,
    fields: usize,
    out: &mut Split,
    origin: &str,
) -> Option<(usize, DataError)> {
    let text = block.text();
    let stride = block.lines;
    out.rows.clear();
    out.stride = stride;
    let (k, t) = (layout.numeric.len(), layout.texts);
    if out.values.len() < k * stride {
        out.values.resize(k * stride, 0.0);
    }
    if out.cells.len() < t * stride {
        out.cells.resize(t * stride, (0, 0));
    }
    let (mut pos, mut line) = (0, block.first_line);
    while pos < text.len() {
        if text[pos] == b'\n' {
            // An empty line: no record.
            (pos, line) = (pos + 1, line + 1);
            continue;
        }
        let (start, i) = (pos, out.rows.len());
        if record(text, &mut pos, layout, fields, i, out).is_none() {
            let end = memchr::memchr(b'\n', &text[start..]).map_or(text.len(), |e| start + e);
            return Some((i, wrong(&text[start..end], line, layout, fields, origin)));
        }
        out.rows.push(line);
        (pos, line) = (pos + 1, line + 1);
    }
    None
}

/// Reads record `i` at `*pos` into `out`, leaving `*pos` at its line break (or the block's
/// end); `None` when it is not right ([`wrong`] says how).
#[inline]
fn record(
    text: &[u8],
    pos: &mut usize,
    layout: &Layout,
    fields: usize,
    i: usize,
    out: &mut Split,
) -> Option<()> {
    let (stride, texts) = (out.stride, layout.texts);
    for (j, role) in layout.roles.iter().enumerate() {
        match role {
            // Wrapping: a position in `values`, which the index checks.
            Role::Number(k) => {
                out.values[k.wrapping_mul(stride).wrapping_add(i)] = number(text, pos)?
            }
            Role::Skip => *pos = field_end(text, *pos),
            Role::Text(t) => {
                let end = field_end(text, *pos);
                out.cells[i * texts + t] = (*pos as u32, end as u32);
                *pos = end;
            }
            Role::Many { numbers, texts: ts } => {
                let start = *pos;
                let end = field_end(text, start);
                if !numbers.is_empty() {
                    let v = number(text, pos)?;
                    for k in numbers {
                        out.values[k * stride + i] = v;
                    }
                }
                for t in ts {
                    out.cells[i * texts + t] = (start as u32, end as u32);
                }
                *pos = end;
            }
        }
        let last = j + 1 == fields;
        match text.get(*pos) {
            Some(b',') if !last => *pos += 1,
            None | Some(b'\n') if last => {}
            _ => return None,
        }
    }
    Some(())
}

/// What is wrong with a record [`record`] refused, as the csv path says it: its number of
/// fields first, then its numeric cells in builder order.
fn wrong(line: &[u8], row: u64, layout: &Layout, fields: usize, origin: &str) -> DataError {
    let cells: Vec<&[u8]> = line.split(|&b| b == b',').collect();
    if cells.len() != fields {
        return super::pipeline::wrong_length(cells.len(), fields, row, origin);
    }
    for &(field, name) in &layout.numeric {
        if let Err(e) = parse_number(cells[field], row, name, origin) {
            return e;
        }
    }
    // Not reached: `record` refuses a line only for one of the above.
    DataError::Malformed {
        path: origin.to_string(),
        row,
        message: "could not be split into its fields".to_string(),
    }
}
