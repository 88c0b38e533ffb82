//! From a CSV file or the built-in generator to normalized, split, row-major matrices.
//!
//! The stages, each in its own file: [`table`] streams a CSV into typed columns, [`cache`] keeps
//! them for the next read of the same file, [`synthetic`] generates one, [`split`] divides rows,
//! and [`preprocess`] fits missing-value fills, one-hot vocabularies and scaling on the training
//! rows and applies them to any table.

pub(crate) mod buffer;
pub(crate) mod cache;
pub(crate) mod error;
pub(crate) mod preprocess;
pub(crate) mod profile;
pub(crate) mod rows;
pub(crate) mod split;
pub(crate) mod synthetic;
pub(crate) mod table;

pub(crate) use error::DataError;
pub(crate) use preprocess::{Matrix, Preprocessor};
pub(crate) use rows::RowNumbers;
pub(crate) use table::{Column, LabelColumn, LabelMap, LabelRule, LoadSpec, Selection, Table};
