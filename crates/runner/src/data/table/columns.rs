//! Builders that grow one feature column while the file streams in.

use std::collections::HashMap;

use super::cells::{is_missing, trim, utf8};
use super::{Column, MISSING_CODE};
use crate::data::buffer::{Growing, Pile};
use crate::data::DataError;

/// One feature column under construction.
pub(super) enum ColumnBuilder {
    /// Numbers, filled a batch at a time from the parsing workers.
    Numeric {
        /// Header name.
        name: String,
        /// One value per row so far: in memory, or in a file of its own.
        values: Growing,
    },
    /// Text, interned on the calling thread in file order, so codes follow first appearance.
    Categorical {
        /// Header name.
        name: String,
        /// One code per row so far (in a file past [`crate::data::buffer::SPILL_ABOVE`]).
        codes: Pile<u32>,
        /// Distinct values in order of first appearance.
        levels: Vec<String>,
        /// Each level's code, by its bytes.
        index: HashMap<Vec<u8>, u32>,
    },
}

impl ColumnBuilder {
    /// An empty column; a numeric one kept in a file of its own in `spill`'s folder when
    /// given (with how many numeric columns share the parse), else in memory with room for
    /// `rows`.
    pub(super) fn new(
        name: String,
        categorical: bool,
        spill: Option<(&std::path::Path, usize)>,
        rows: usize,
    ) -> std::io::Result<Self> {
        Ok(if categorical {
            ColumnBuilder::Categorical {
                name,
                codes: Pile::new("a text column's codes"),
                levels: Vec::new(),
                index: HashMap::new(),
            }
        } else {
            let values = match spill {
                Some((dir, columns)) => Growing::in_file(dir, columns)?,
                None => Growing::Memory(Vec::with_capacity(rows)),
            };
            ColumnBuilder::Numeric { name, values }
        })
    }

    /// Interns a categorical cell of line `row`; numeric columns are filled by
    /// [`extend`](Self::extend). A new value that is not UTF-8 is an error naming the cell.
    pub(super) fn push_text(
        &mut self,
        cell: &[u8],
        row: u64,
        origin: &str,
    ) -> Result<(), DataError> {
        if let ColumnBuilder::Categorical {
            name,
            codes,
            levels,
            index,
        } = self
        {
            let cell = trim(cell);
            let code = if is_missing(cell) {
                MISSING_CODE
            } else if let Some(&c) = index.get(cell) {
                c
            } else {
                let c = levels.len() as u32;
                levels.push(utf8(cell, row, name, origin)?.to_string());
                index.insert(cell.to_vec(), c);
                c
            };
            codes.push(code)?;
        }
        Ok(())
    }

    /// Appends parsed numbers to a numeric column.
    pub(super) fn extend(&mut self, parsed: &[f32]) -> std::io::Result<()> {
        match self {
            ColumnBuilder::Numeric { values, .. } => values.extend(parsed),
            ColumnBuilder::Categorical { .. } => Ok(()),
        }
    }

    pub(super) fn is_numeric(&self) -> bool {
        matches!(self, ColumnBuilder::Numeric { .. })
    }

    /// The column; `spilled` makes the error of a numeric column's file.
    pub(super) fn finish(
        self,
        spilled: impl Fn(std::io::Error) -> DataError,
    ) -> Result<Column, DataError> {
        Ok(match self {
            ColumnBuilder::Numeric { name, values } => Column::Numeric {
                name,
                values: values.finish().map_err(spilled)?,
            },
            ColumnBuilder::Categorical {
                name,
                codes,
                levels,
                ..
            } => Column::Categorical {
                name,
                codes: codes.finish()?.into(),
                levels,
            },
        })
    }
}
