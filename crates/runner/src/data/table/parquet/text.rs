//! A Parquet file as CSV text, header first: what a second read of a data file takes (the
//! `--keep` columns of `predict`, the scan that names every text column in an error).

use std::io::Read;
use std::path::Path;

use super::{unreadable, Columns};
use crate::data::DataError;

/// The file's columns as CSV text, header first: a [`Read`] that the CSV loader consumes.
/// Memory is one chunk's text at a time.
pub(crate) struct ParquetText {
    columns: Columns,
    /// Text not yet handed out, from `at`.
    buffer: Vec<u8>,
    at: usize,
    /// Where the text goes through the csv crate's quoting.
    writer: csv::Writer<Vec<u8>>,
    /// Set once the rows are exhausted.
    done: bool,
}

impl ParquetText {
    /// Opens `path` with every column decoded, and writes the header (every column's name).
    pub(crate) fn open(path: &Path) -> Result<Self, DataError> {
        let columns = Columns::open(path, &|_| true, &|_| false)?;
        let mut writer = writer(Vec::new());
        writer
            .write_record(&columns.names)
            .map_err(|e| unreadable(path, e))?;
        let mut me = Self {
            columns,
            buffer: Vec::new(),
            at: 0,
            writer,
            done: false,
        };
        me.flush()?;
        Ok(me)
    }

    /// Moves the writer's text into the buffer.
    fn flush(&mut self) -> Result<(), DataError> {
        // The handed-out buffer goes back to a new writer, so refills reuse one allocation.
        let spare = std::mem::take(&mut self.buffer);
        let old = std::mem::replace(&mut self.writer, writer(spare));
        self.buffer = old
            .into_inner()
            .map_err(|e| unreadable(&self.columns.path, e.error()))?;
        self.at = 0;
        Ok(())
    }

    /// Converts the next chunk of rows into text.
    fn refill(&mut self) -> Result<(), DataError> {
        let Some(n) = self.columns.next_chunk()? else {
            self.done = true;
            return self.flush();
        };
        let Columns {
            columns,
            decoders,
            path,
            ..
        } = &self.columns;
        for i in 0..n {
            for column in columns {
                let cell = column.map_or(&b""[..], |d| decoders[d].cell(i));
                self.writer
                    .write_field(cell)
                    .map_err(|e| unreadable(path, e))?;
            }
            self.writer
                .write_record(None::<&[u8]>)
                .map_err(|e| unreadable(path, e))?;
        }
        self.flush()
    }
}

impl Read for ParquetText {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.buffer.len() {
            if self.done {
                return Ok(0);
            }
            // The loader names the file itself: pass on only the cause.
            self.refill().map_err(|e| match e {
                DataError::Io { source, .. } => source,
                other => std::io::Error::other(other.to_string()),
            })?;
        }
        let n = buf.len().min(self.buffer.len() - self.at);
        buf[..n].copy_from_slice(&self.buffer[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A CSV writer into `buffer`, emptied first.
fn writer(mut buffer: Vec<u8>) -> csv::Writer<Vec<u8>> {
    buffer.clear();
    csv::WriterBuilder::new().from_writer(buffer)
}
