//! The loader's three stages: one thread splits the file into records (csv_core, about a
//! quarter of the work), a few workers parse the numeric cells of whole batches (about two
//! thirds), and the calling thread puts the batches back in file order, interning categorical
//! cells and labels as it goes (so codes follow first appearance and the first error in the
//! file wins). Batches and their value buffers go round and come back emptied, so nothing is
//! allocated per record.

use std::collections::BTreeMap;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use super::cells::parse_number;
use super::columns::ColumnBuilder;
use super::header::Fields;
use super::label::LabelBuilder;
use crate::data::DataError;

/// Records per batch.
const BATCH: usize = 1024;

/// A batch's records and its values buffer, on their way back to the splitter.
type Recycled = (Vec<csv::ByteRecord>, Vec<f32>);

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

/// A csv error as the loader reports it: the row, and the problem in the user's words.
pub(super) fn malformed(e: csv::Error, origin: &str) -> DataError {
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
    let row = e.position().map_or(0, |p| p.line());
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("has {len} fields but the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_string(),
        _ => e.to_string(),
    };
    DataError::Malformed {
        path: origin.to_string(),
        row,
        message,
    }
}

/// A record whose field count is wrong because a quote was never closed: the field ran on over
/// the following lines. csv only sees the count; the record it read shows the newlines.
fn unterminated(record: &csv::ByteRecord, origin: &str, e: &csv::Error) -> Option<DataError> {
    if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) {
        return None;
    }
    let (i, field) = record
        .iter()
        .enumerate()
        .find(|(_, f)| f.contains(&b'\n'))?;
    let lines = field.iter().filter(|&&b| b == b'\n').count();
    Some(DataError::Malformed {
        path: origin.to_string(),
        row: e.position().map_or(0, |p| p.line()),
        message: format!(
            "field {} opens a quote that runs on over the next {lines} lines; is a closing `\"` missing?",
            i + 1
        ),
    })
}

/// Reads every record of `rdr` (its header already read) into `sink`.
pub(super) fn read<R: std::io::Read + Send>(
    mut rdr: csv::Reader<R>,
    origin: &str,
    sink: &mut Sink,
) -> Result<(), DataError> {
    let fields = sink.fields;
    let numeric: Vec<Numeric> = sink
        .builders
        .iter()
        .enumerate()
        .filter(|(_, b)| b.is_numeric())
        .map(|(b, _)| {
            let field = fields.features[b];
            Numeric {
                builder: b,
                field,
                name: &fields.header[field],
            }
        })
        .collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let (work_tx, work_rx) = sync_channel::<Batch>(2 * workers);
    // Owned by the workers alone: when they have all stopped, the splitter's send fails.
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = channel::<Parsed>();
    let (empty_tx, empty_rx) = channel::<Recycled>();
    // The pipeline's threads compute like the caller: `spawn_scoped` gives them its subnormal
    // setting (`backend.flush_denormals`).
    std::thread::scope(|scope| {
        burnfit_fpenv::spawn_scoped(scope, move || {
            split(&mut rdr, origin, 4 * workers, &work_tx, &empty_rx)
        });
        for _ in 0..workers {
            let (work_rx, done_tx, numeric) = (work_rx.clone(), done_tx.clone(), &numeric);
            burnfit_fpenv::spawn_scoped(scope, move || loop {
                let Ok(batch) = work_rx
                    .lock()
                    .map_err(drop)
                    .and_then(|rx| rx.recv().map_err(drop))
                else {
                    return;
                };
                if done_tx.send(batch.parse(numeric, origin)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        drop(work_rx);
        // Moved in, so that returning early (an error) drops it and a splitter waiting for a
        // batch to come back stops too.
        reorder(done_rx, empty_tx, &numeric, sink, origin)
    })
}

/// The splitter: fills batches of records in file order and sends them to the workers; a
/// malformed record ends the file with its error. At most `most` batches exist: beyond it, it
/// waits for one to come back. Batches are made in file order and the calling thread takes
/// them in that order, so the oldest one in flight always gets through and the wait always ends.
fn split<R: std::io::Read>(
    rdr: &mut csv::Reader<R>,
    origin: &str,
    most: usize,
    work_tx: &SyncSender<Batch>,
    empty_rx: &Receiver<Recycled>,
) {
    let (mut seq, mut made) = (0, 0);
    loop {
        let (mut batch, values) = match empty_rx.try_recv() {
            Ok(recycled) => recycled,
            Err(_) if made < most => {
                made += 1;
                let records = (0..BATCH).map(|_| csv::ByteRecord::new()).collect();
                (records, Vec::new())
            }
            Err(_) => match empty_rx.recv() {
                Ok(recycled) => recycled,
                Err(_) => return, // the calling thread stopped (an error)
            },
        };
        let mut filled = 0;
        let mut failed = None;
        while filled < batch.len() {
            match rdr.read_byte_record(&mut batch[filled]) {
                Ok(true) => filled += 1,
                Ok(false) => break,
                Err(e) => {
                    failed = Some(unterminated(&batch[filled], origin, &e))
                        .flatten()
                        .or_else(|| Some(malformed(e, origin)));
                    break;
                }
            }
        }
        // Only the last batch is short; its unused records are dropped.
        batch.truncate(filled);
        let last = filled < BATCH || failed.is_some();
        if filled > 0 {
            let records = Ok(batch);
            let sent = work_tx.send(Batch {
                seq,
                records,
                values,
            });
            if sent.is_err() {
                return;
            }
            seq += 1;
        }
        if let Some(e) = failed {
            let (records, values) = (Err(e), Vec::new());
            let _ = work_tx.send(Batch {
                seq,
                records,
                values,
            });
        }
        if last {
            return;
        }
    }
}

/// The calling thread's stage: takes parsed batches in file order into `sink` and sends their
/// buffers back to the splitter.
fn reorder(
    done_rx: Receiver<Parsed>,
    empty_tx: Sender<Recycled>,
    numeric: &[Numeric],
    sink: &mut Sink,
    origin: &str,
) -> Result<(), DataError> {
    let mut pending = BTreeMap::new();
    let mut next = 0;
    for parsed in done_rx {
        pending.insert(parsed.seq, parsed);
        while let Some(parsed) = pending.remove(&next) {
            next += 1;
            let records = parsed.records?;
            // Rows before a bad number are interned first: their label errors come first.
            let good = parsed.failed.as_ref().map_or(records.len(), |(i, _)| *i);
            for record in &records[..good] {
                sink.intern(record, origin)?;
            }
            if let Some((_, e)) = parsed.failed {
                return Err(e);
            }
            let n = records.len();
            for (k, c) in numeric.iter().enumerate() {
                sink.builders[c.builder]
                    .extend(&parsed.values[k * n..(k + 1) * n])
                    .map_err(|source| super::spilled(origin, sink.spill, source))?;
            }
            let _ = empty_tx.send((records, parsed.values));
        }
    }
    Ok(())
}

impl Sink<'_> {
    /// A record's row number, categorical cells and label.
    fn intern(&mut self, record: &csv::ByteRecord, origin: &str) -> Result<(), DataError> {
        let row = line(record);
        for (b, &i) in self.builders.iter_mut().zip(&self.fields.features) {
            b.push_text(&record[i], row, origin)?;
        }
        for ((b, &li), name) in self
            .labels
            .iter_mut()
            .zip(&self.fields.labels)
            .zip(self.label_names)
        {
            b.push(&record[li], row, origin, name)?;
        }
        self.rows.push(row);
        Ok(())
    }
}

/// The 1-based line a record starts on (the header is line 1).
pub(super) fn line(record: &csv::ByteRecord) -> u64 {
    record.position().map_or(0, |p| p.line())
}

/// A numeric feature column: where its builder is and which field feeds it.
struct Numeric<'a> {
    builder: usize,
    field: usize,
    name: &'a str,
}

/// Records split from the file, in file order by `seq`, on their way to a worker.
struct Batch {
    seq: usize,
    records: Result<Vec<csv::ByteRecord>, DataError>,
    /// A recycled buffer for the parsed values.
    values: Vec<f32>,
}

/// A batch with its numeric cells parsed.
struct Parsed {
    seq: usize,
    records: Result<Vec<csv::ByteRecord>, DataError>,
    /// Column-major: the values of numeric column `k` are `values[k * n..(k + 1) * n]`.
    values: Vec<f32>,
    /// The first bad cell: its record's index in the batch, and the error.
    failed: Option<(usize, DataError)>,
}

impl Batch {
    fn parse(self, numeric: &[Numeric], origin: &str) -> Parsed {
        let Batch {
            seq,
            records,
            mut values,
        } = self;
        let mut failed = None;
        if let Ok(records) = &records {
            let n = records.len();
            values.clear();
            values.resize(numeric.len() * n, 0.0);
            'records: for (i, record) in records.iter().enumerate() {
                for (k, c) in numeric.iter().enumerate() {
                    match parse_number(&record[c.field], line(record), c.name, origin) {
                        Ok(v) => values[k * n + i] = v,
                        Err(e) => {
                            failed = Some((i, e));
                            break 'records;
                        }
                    }
                }
            }
        }
        Parsed {
            seq,
            records,
            values,
            failed,
        }
    }
}
