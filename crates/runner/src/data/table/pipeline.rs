//! The loader's three stages: one thread cuts the file into blocks of whole lines (or, from
//! the first quote on, splits it into records with csv_core), a few workers split the blocks
//! and parse the numeric cells (most of the work), and the calling thread puts the batches
//! back in file order, interning categorical cells and labels as it goes (so codes follow
//! first appearance and the first error in the file wins). Batches and their buffers go round
//! and come back, so nothing is allocated per record.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use super::cells::parse_number;
use super::columns::ColumnBuilder;
use super::header::Fields;
use super::label::LabelBuilder;
use super::lines::{self, Input, Layout, Next, Role};
use crate::data::DataError;

/// Records per batch on the csv path.
const BATCH: usize = 1024;

/// What the calling thread builds from the records, in file order.
pub(super) struct Sink<'a> {
    /// One per feature, in `fields.features` order.
    pub(crate) builders: Vec<ColumnBuilder>,
    /// Each label column's cells, in `fields.labels` order.
    pub(crate) labels: Vec<LabelBuilder>,
    /// Each row's line in the source.
    pub(crate) rows: crate::data::RowNumbers,
    /// Where each column's cells are.
    pub(crate) fields: &'a Fields,
    /// `data.label`'s columns, for messages.
    pub(crate) label_names: &'a [String],
    /// The private folder numeric columns are kept in, for a table larger than memory.
    pub(crate) spill: Option<&'a std::path::Path>,
}

/// A csv error as the loader reports it: the row (`offset` added to csv's line, for a
/// reader that starts inside the file), and the problem in the user's words.
pub(super) fn malformed(e: csv::Error, origin: &str, offset: u64) -> DataError {
    if e.is_io_error() {
        // A read that failed (or a line past the limit): about the file, not a row.
        return match e.into_kind() {
            csv::ErrorKind::Io(source) => DataError::Io {
                path: origin.into(),
                source,
            },
            other => DataError::Malformed {
                path: origin.to_string(),
                row: 0,
                message: format!("{other:?}"),
            },
        };
    }
    let row = e.position().map_or(0, |p| p.line() + offset);
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_string(),
        _ => e.to_string(),
    };
    DataError::Malformed {
        path: origin.to_string(),
        row,
        message,
    }
}

/// A record of line `row` with `len` fields where the header has `expected`.
pub(super) fn wrong_length(len: usize, expected: usize, row: u64, origin: &str) -> DataError {
    DataError::Malformed {
        path: origin.to_string(),
        row,
        message: format!("has {len} fields but the header has {expected}"),
    }
}

/// A record whose field count is wrong, most often because a quote was never closed: the
/// field ran on over the following lines, which the record shows.
fn unequal(record: &csv::ByteRecord, expected: usize, row: u64, origin: &str) -> DataError {
    let Some((i, field)) = record.iter().enumerate().find(|(_, f)| f.contains(&b'\n')) else {
        return wrong_length(record.len(), expected, row, origin);
    };
    let lines = field.iter().filter(|&&b| b == b'\n').count();
    DataError::Malformed {
        path: origin.to_string(),
        row,
        message: format!(
            "field {} opens a quote that runs on over the next {lines} lines; is a closing `\"` missing?",
            i + 1
        ),
    }
}

/// Reads every record after the header of `input` into `sink`.
pub(super) fn read<R: Read + Send>(
    input: Input<R>,
    origin: &str,
    sink: &mut Sink,
) -> Result<(), DataError> {
    let fields = sink.fields;
    let mut roles = vec![Role::Skip; fields.header.len()];
    let mut numeric = Vec::new();
    let mut targets = Vec::new();
    for (b, builder) in sink.builders.iter().enumerate() {
        let field = fields.features[b];
        let role = std::mem::take(&mut roles[field]);
        roles[field] = if builder.is_numeric() {
            numeric.push(Numeric {
                builder: b,
                field,
                name: &fields.header[field],
            });
            role.and_number(numeric.len() - 1)
        } else {
            targets.push((Target::Builder(b), field));
            role.and_text(targets.len() - 1)
        };
    }
    for (l, &field) in fields.labels.iter().enumerate() {
        let role = std::mem::take(&mut roles[field]);
        targets.push((Target::Label(l), field));
        roles[field] = role.and_text(targets.len() - 1);
    }
    let layout = Layout {
        roles,
        texts: targets.len(),
        numeric: numeric.iter().map(|c| (c.field, c.name)).collect(),
    };
    let shape = Shape {
        fields: fields.header.len(),
        numeric: &numeric,
        layout: &layout,
        targets: &targets,
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let (work_tx, work_rx) = sync_channel::<Batch>(2 * workers);
    // Owned by the workers alone: when they have all stopped, the splitter's send fails.
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = channel::<Batch>();
    let (empty_tx, empty_rx) = channel::<Batch>();
    // The pipeline's threads compute like the caller: `spawn_scoped` gives them its subnormal
    // setting (`backend.flush_denormals`).
    std::thread::scope(|scope| {
        let fields = shape.fields;
        burnfit_fpenv::spawn_scoped(scope, move || {
            let mut splitter = Splitter {
                origin,
                fields,
                most: 4 * workers,
                made: 0,
                seq: 0,
                work_tx: &work_tx,
                empty_rx: &empty_rx,
            };
            splitter.run(input)
        });
        for _ in 0..workers {
            let (work_rx, done_tx, shape) = (work_rx.clone(), done_tx.clone(), &shape);
            burnfit_fpenv::spawn_scoped(scope, move || loop {
                let Ok(mut batch) = work_rx
                    .lock()
                    .map_err(drop)
                    .and_then(|rx| rx.recv().map_err(drop))
                else {
                    return;
                };
                batch.parse_or_fail(shape, origin);
                if done_tx.send(batch).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        drop(work_rx);
        // Moved in, so that returning early (an error) drops it and a splitter waiting for a
        // batch to come back stops too.
        reorder(done_rx, empty_tx, &shape, sink, origin)
    })
}

/// The splitter's state: batches are made in file order, at most `most` of them; beyond it,
/// it waits for one to come back. The calling thread takes them in that order, so the
/// oldest one in flight always gets through and the wait always ends.
struct Splitter<'a> {
    /// The file, for messages.
    origin: &'a str,
    /// The header's number of fields: every record's.
    fields: usize,
    /// The most batches there may be, and how many there are.
    most: usize,
    made: usize,
    /// The next batch's place in file order.
    seq: usize,
    /// To the workers.
    work_tx: &'a SyncSender<Batch>,
    /// Back from the calling thread, emptied.
    empty_rx: &'a Receiver<Batch>,
}

impl Splitter<'_> {
    /// An empty batch: one come back, or a new one; `None` when the calling thread stopped.
    fn batch(&mut self) -> Option<Batch> {
        let mut batch = match self.empty_rx.try_recv() {
            Ok(batch) => batch,
            Err(_) if self.made < self.most => {
                self.made += 1;
                Batch::default()
            }
            Err(_) => self.empty_rx.recv().ok()?,
        };
        batch.seq = self.seq;
        batch.ended = None;
        batch.failed = None;
        let records = std::mem::take(&mut batch.records);
        batch.spare.extend(records);
        batch.count = 0;
        self.seq += 1;
        Some(batch)
    }

    /// Sends blocks of lines until the end, an error, or a quote (then the csv path).
    fn run<R: Read>(&mut self, mut input: Input<R>) {
        loop {
            let Some(mut batch) = self.batch() else {
                return;
            };
            match input.next_block(&mut batch.block, self.fields) {
                Ok(Next::Block) => {
                    batch.kind = Kind::Lines;
                    if self.work_tx.send(batch).is_err() {
                        return;
                    }
                }
                Ok(Next::End) => return,
                Ok(Next::Quoted) => {
                    // This batch is never sent: its place in file order and its count go to
                    // the first batch of records (it held the block the csv reader now reads).
                    self.seq -= 1;
                    let (mut rdr, offset) = input.into_csv(&mut batch.block);
                    drop(batch);
                    self.made -= 1;
                    return self.records(&mut rdr, offset);
                }
                Err(source) => {
                    batch.kind = Kind::Records;
                    batch.ended = Some(DataError::Io {
                        path: self.origin.into(),
                        source,
                    });
                    let _ = self.work_tx.send(batch);
                    return;
                }
            }
        }
    }

    /// Fills batches with csv records until the end or the first malformed record, whose
    /// error ends the file; `offset` is added to the lines csv counts.
    fn records<R: Read>(&mut self, rdr: &mut csv::Reader<lines::Rest<R>>, offset: u64) {
        loop {
            let Some(mut batch) = self.batch() else {
                return;
            };
            batch.kind = Kind::Records;
            batch.offset = offset;
            let records = &mut batch.records;
            let mut failed = None;
            while records.len() < BATCH {
                let mut record = batch.spare.pop().unwrap_or_default();
                match read_record(rdr, &mut record) {
                    Ok(true) if record.len() == self.fields => records.push(record),
                    Ok(true) => {
                        let row = line(&record) + offset;
                        failed = Some(unequal(&record, self.fields, row, self.origin));
                        break;
                    }
                    Ok(false) => {
                        batch.spare.push(record);
                        break;
                    }
                    Err(e) => {
                        failed = Some(malformed(e, self.origin, offset));
                        break;
                    }
                }
            }
            let last = records.len() < BATCH || failed.is_some();
            batch.ended = failed;
            if (!records.is_empty() || batch.ended.is_some()) && self.work_tx.send(batch).is_err() {
                return;
            }
            if last {
                return;
            }
        }
    }
}

/// The calling thread's stage: takes parsed batches in file order into `sink` and sends their
/// buffers back to the splitter.
fn reorder(
    done_rx: Receiver<Batch>,
    empty_tx: Sender<Batch>,
    shape: &Shape,
    sink: &mut Sink,
    origin: &str,
) -> Result<(), DataError> {
    let mut pending = BTreeMap::new();
    let mut next = 0;
    for batch in done_rx {
        pending.insert(batch.seq, batch);
        while let Some(mut batch) = pending.remove(&next) {
            next += 1;
            // Rows before a bad number are interned first: their label errors come first.
            let good = batch.failed.as_ref().map_or(batch.count, |(i, _)| *i);
            for i in 0..good {
                let row = batch.row(i);
                for (t, &(target, field)) in shape.targets.iter().enumerate() {
                    sink.push(
                        target,
                        batch.cell(i, t, shape.targets.len(), field),
                        row,
                        origin,
                    )?;
                }
                sink.rows.push(row);
            }
            if let Some((_, e)) = batch.failed.take() {
                return Err(e);
            }
            let (n, stride) = (batch.count, batch.stride());
            for (k, c) in shape.numeric.iter().enumerate() {
                sink.builders[c.builder]
                    .extend(&batch.split.values[k * stride..k * stride + n])
                    .map_err(|source| super::spilled(origin, sink.spill, source))?;
            }
            if let Some(e) = batch.ended.take() {
                return Err(e);
            }
            let _ = empty_tx.send(batch);
        }
    }
    Ok(())
}

impl Sink<'_> {
    /// A record's text cell for `target`, of line `row`.
    fn push(
        &mut self,
        target: Target,
        cell: &[u8],
        row: u64,
        origin: &str,
    ) -> Result<(), DataError> {
        match target {
            Target::Builder(b) => self.builders[b].push_text(cell, row, origin),
            Target::Label(l) => self.labels[l].push(cell, row, origin, &self.label_names[l]),
        }
    }
}

/// The 1-based line a record starts on, as csv counts it.
pub(super) fn line(record: &csv::ByteRecord) -> u64 {
    record.position().map_or(0, |p| p.line())
}

/// Reads the next record of `rdr` into `record`, as `read_byte_record`, with the line the
/// record starts on as its position's line. csv gives a record after blank lines the line of
/// the first of them; its own is where the reader stands after it, less the line breaks
/// inside its fields and its own (none at the end of a file that has no last line break).
pub(super) fn read_record<R: Read>(
    rdr: &mut csv::Reader<lines::Rest<R>>,
    record: &mut csv::ByteRecord,
) -> csv::Result<bool> {
    if !rdr.read_byte_record(record)? {
        return Ok(false);
    }
    let inside = memchr::memchr_iter(b'\n', record.as_slice()).count() as u64;
    let tail = rdr.get_ref();
    let at_end = tail.ended && rdr.position().byte() == tail.total;
    let end = u64::from(!at_end || tail.last == Some(b'\n'));
    let own = rdr.position().line().saturating_sub(inside + end);
    if let Some(at) = record.position().filter(|p| p.line() < own) {
        let mut at = at.clone();
        at.set_line(own);
        record.set_position(Some(at));
    }
    Ok(true)
}

/// A numeric feature column: where its builder is and which field feeds it.
struct Numeric<'a> {
    builder: usize,
    field: usize,
    name: &'a str,
}

/// Where a text cell goes, in the order a record's cells are interned (the categorical
/// features in selection order, then the labels; the order the first error is found in).
#[derive(Clone, Copy)]
enum Target {
    Builder(usize),
    Label(usize),
}

/// What every batch is read through.
struct Shape<'a> {
    /// The header's number of fields.
    fields: usize,
    numeric: &'a [Numeric<'a>],
    layout: &'a Layout<'a>,
    /// Each text cell of a record: where it goes and its field.
    targets: &'a [(Target, usize)],
}

/// Which of a batch's two forms holds its records.
#[derive(Default, Clone, Copy, PartialEq)]
enum Kind {
    /// `block`: lines with no quote.
    #[default]
    Lines,
    /// `records`: split by csv.
    Records,
}

/// Records on their way from the splitter to a worker, to the calling thread and back.
#[derive(Default)]
struct Batch {
    seq: usize,
    kind: Kind,
    block: lines::Block,
    records: Vec<csv::ByteRecord>,
    /// Records kept from an earlier round, to read into without allocating.
    spare: Vec<csv::ByteRecord>,
    /// Added to csv's lines for `records`.
    offset: u64,
    /// The numbers parsed (and, for a block, where its text cells and rows are).
    split: lines::Split,
    /// How many records were read.
    count: usize,
    /// The first record that is not right: its index, and the error.
    failed: Option<(usize, DataError)>,
    /// The error that ends the file after these records.
    ended: Option<DataError>,
}

impl Batch {
    /// [`parse`](Self::parse), where a panic (a bug, not the data) becomes the batch's error at
    /// its first line: the calling thread then stops with a message where it would have waited
    /// forever for a batch the dead worker held (and the splitter for its buffers).
    fn parse_or_fail(&mut self, shape: &Shape, origin: &str) {
        let parsed =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.parse(shape, origin)));
        if parsed.is_err() {
            let row = match self.kind {
                Kind::Lines => self.block.first_line,
                Kind::Records => self.records.first().map_or(0, |r| line(r) + self.offset),
            };
            self.count = 0;
            self.ended = None;
            self.failed = Some((
                0,
                DataError::Malformed {
                    path: origin.to_string(),
                    row,
                    message: "reading the lines from here failed inside burnfit (a bug, not \
                              the data; please report it)"
                        .to_string(),
                },
            ));
        }
    }

    /// Record `i`'s line.
    fn row(&self, i: usize) -> u64 {
        match self.kind {
            Kind::Lines => self.split.rows[i],
            Kind::Records => line(&self.records[i]) + self.offset,
        }
    }

    /// Record `i`'s text cell `t` (of `texts` a record), of field `field`.
    fn cell(&self, i: usize, t: usize, texts: usize, field: usize) -> &[u8] {
        match self.kind {
            Kind::Lines => {
                let (s, e) = self.split.cells[i * texts + t];
                &self.block.text()[s as usize..e as usize]
            }
            Kind::Records => &self.records[i][field],
        }
    }

    /// The distance between two numeric columns in `split.values`.
    fn stride(&self) -> usize {
        match self.kind {
            Kind::Lines => self.split.stride,
            Kind::Records => self.count,
        }
    }

    /// Parses the batch's numbers (and, for a block, splits it into records first).
    fn parse(&mut self, shape: &Shape, origin: &str) {
        match self.kind {
            Kind::Lines => {
                self.failed = lines::split(
                    &self.block,
                    shape.layout,
                    shape.fields,
                    &mut self.split,
                    origin,
                );
                self.count = self.split.rows.len();
            }
            Kind::Records => {
                let n = self.records.len();
                self.count = n;
                let values = &mut self.split.values;
                if values.len() < shape.numeric.len() * n {
                    values.resize(shape.numeric.len() * n, 0.0);
                }
                'records: for (i, record) in self.records.iter().enumerate() {
                    let row = line(record) + self.offset;
                    for (k, c) in shape.numeric.iter().enumerate() {
                        match parse_number(&record[c.field], row, c.name, origin) {
                            Ok(v) => values[k * n + i] = v,
                            Err(e) => {
                                self.failed = Some((i, e));
                                break 'records;
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker that panics (here: a shape naming a field the record does not have, which the
    /// loader never makes) leaves its batch as an error at the batch's first line, which the
    /// calling thread stops on, not a batch that never comes back.
    #[test]
    fn a_panic_while_parsing_is_an_error_at_the_batch_s_first_line() {
        let numeric = [Numeric {
            builder: 0,
            field: 7,
            name: "a",
        }];
        let layout = Layout {
            roles: vec![],
            texts: 0,
            numeric: vec![],
        };
        let shape = Shape {
            fields: 2,
            numeric: &numeric,
            layout: &layout,
            targets: &[],
        };
        let mut record = csv::ByteRecord::from(vec!["1", "2"]);
        let mut at = csv::Position::new();
        at.set_line(5);
        record.set_position(Some(at));
        let mut batch = Batch {
            kind: Kind::Records,
            records: vec![record],
            offset: 10,
            ..Batch::default()
        };
        batch.parse_or_fail(&shape, "f.csv");
        let (i, e) = batch.failed.expect("the panic as an error");
        assert_eq!((i, batch.count), (0, 0));
        assert!(e.to_string().starts_with("f.csv: row 15: "), "{e}");
    }
}
