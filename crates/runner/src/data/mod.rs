//! From a CSV file or the built-in generator to normalized, split, row-major matrices.
//!
//! The stages, each in its own file: [`table`] streams a CSV into typed columns, [`synthetic`]
//! generates one, [`split`] divides rows, and [`preprocess`] fits missing-value fills, one-hot
//! vocabularies and scaling on the training rows and applies them to any table.

pub mod error;
pub mod preprocess;
pub mod profile;
pub mod split;
pub mod synthetic;
pub mod table;

pub use error::DataError;
pub use preprocess::{Matrix, Preprocessor};
pub use table::{Column, LabelColumn, LabelMap, LabelRule, LoadSpec, Selection, Table};
