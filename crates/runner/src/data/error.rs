//! Data errors. Each names the file, and where it applies the row (1-based, as a spreadsheet
//! counts them with the header as row 1) and the column.

use std::path::PathBuf;

/// What can go wrong between a file and a matrix.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DataError {
    /// The file cannot be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Parquet columns of types burnfit does not read (a timestamp, a date, a list...), each
    /// with what it holds: all of them, so one run names every column to set aside.
    #[error("cannot read {path}: {}", unreadable_columns(columns))]
    UnreadableColumns {
        /// The file.
        path: PathBuf,
        /// Each column and what it holds, in words.
        columns: Vec<(String, String)>,
    },
    /// The label column is of a type burnfit does not read: setting it aside is no fix.
    #[error("cannot read {path}: the label column `{column}` holds {what}, which burnfit does not read; convert it to numbers or text")]
    UnreadableLabel {
        /// The file.
        path: PathBuf,
        /// The label column.
        column: String,
        /// What it holds, in words.
        what: String,
    },
    /// A column of a table larger than a run keeps in memory could not be kept in its file.
    #[error("cannot keep the parsed columns of {origin} in {dir} (the table is more than a run keeps in memory): {source}")]
    Spill {
        /// The file being read.
        origin: String,
        /// The private folder the columns go to.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A per-row vector too large for memory could not be kept in its mapped file.
    #[error("cannot keep {what} in a mapped file in {dir}: {source}; free disk there, or set data.cache_dir to a folder on a larger disk")]
    Scratch {
        /// The vector, in words.
        what: String,
        /// The private folder the file goes to.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The CSV is malformed at a row (e.g. a row with more or fewer fields than the header).
    #[error("{path}: row {row}: {message}")]
    Malformed {
        /// The file.
        path: String,
        /// The row.
        row: u64,
        /// What is wrong.
        message: String,
    },
    /// The file has no header row at all.
    #[error("{path}: the file is empty; a header row naming the columns is required")]
    Empty {
        /// The file.
        path: String,
    },
    /// The file has a header but no data rows.
    #[error("{path}: the file has a header row but no data rows")]
    NoRows {
        /// The file.
        path: String,
    },
    /// Two columns share a name.
    #[error("{path}: column `{name}` appears twice in the header (columns {first} and {second})")]
    DuplicateHeader {
        /// The file.
        path: String,
        /// The repeated name.
        name: String,
        /// 1-based position of the first.
        first: usize,
        /// 1-based position of the second.
        second: usize,
    },
    /// A column the run needs is not in the file.
    #[error("{path}: no column `{column}` ({role}); the columns are: {available}")]
    MissingColumn {
        /// The file.
        path: String,
        /// The missing column.
        column: String,
        /// Why it is needed (`data.label`, a feature of the trained model, ...).
        role: String,
        /// The header, comma-separated.
        available: String,
    },
    /// A text cell (a categorical value or a label) whose bytes are not UTF-8. Read as text
    /// with replacement characters, two different values could become one string and merge.
    #[error(
        "{path}: row {row}, column `{column}`: `{value}` is not valid UTF-8 (bytes {bytes}); \
         save the file as UTF-8 (text in another encoding could make two values read alike)"
    )]
    NotUtf8 {
        /// The file.
        path: String,
        /// The row.
        row: u64,
        /// The column.
        column: String,
        /// The cell, with replacement characters where its bytes are not UTF-8.
        value: String,
        /// Its first bytes in hex.
        bytes: String,
    },
    /// A text cell longer than any category or label could be (1 MiB, the loader's `CELL_LIMIT`).
    #[error(
        "{path}: row {row}, column `{column}`: the cell `{value}` is longer than the {limit} a \
         category or label may be; is the file's delimiter or quoting what the reader expects \
         (an unclosed quote runs on to the next one)?"
    )]
    CellTooLong {
        /// The file.
        path: String,
        /// The row.
        row: u64,
        /// The column.
        column: String,
        /// Its start.
        value: String,
        /// The limit, in words.
        limit: String,
    },
    /// A cell of a numeric column that is not a number.
    #[error(
        "{path}: row {row}, column `{column}`: `{value}` is not a number; \
         list the column in data.categorical (`categorical = [{column:?}]` under [data]) to \
         one-hot encode it, or in data.exclude to drop it"
    )]
    NotNumeric {
        /// The file.
        path: String,
        /// The row.
        row: u64,
        /// The column.
        column: String,
        /// The cell.
        value: String,
    },
    /// Several numeric columns hold text: all of them, so one edit fixes the file.
    #[error(
        "{path}: {count} columns hold text, not numbers: {columns}; add `{line}` under [data] \
         to one-hot encode them, or list them in data.exclude to drop them"
    )]
    TextColumns {
        /// The file.
        path: String,
        /// How many columns.
        count: usize,
        /// Each column with its first text cell and row.
        columns: String,
        /// The `categorical = [...]` line that reads them all as categories.
        line: String,
    },
    /// An infinite value in a feature or label.
    #[error("{path}: row {row}, column `{column}`: `{value}` is infinite; only finite numbers or missing cells are accepted")]
    Infinite {
        /// The file.
        path: String,
        /// The row.
        row: u64,
        /// The column.
        column: String,
        /// The cell.
        value: String,
    },
    /// A binary label column with a third distinct value.
    #[error("{path}: row {row}, column `{column}`: a third label value `{value}` (already seen {seen}); binary cross-entropy needs exactly two classes{hint}")]
    ThirdLabel {
        /// What to write instead, when the values say (numbers: a regression with MSE).
        hint: String,
        /// The file.
        path: String,
        /// The row.
        row: u64,
        /// The label column.
        column: String,
        /// The third value.
        value: String,
        /// The two values seen before.
        seen: String,
    },
    /// A class the trained model's classes do not include.
    #[error("{path}: row {row}, column `{column}`: class `{value}` is not one the model was trained on ({classes})")]
    UnknownClass {
        /// The file.
        path: String,
        /// The row.
        row: u64,
        /// The label column.
        column: String,
        /// The value.
        value: String,
        /// The trained classes, listed.
        classes: String,
    },
    /// A numeric target's cell that is not a number.
    #[error("{path}: row {row}, column `{column}`: `{value}` is not a number; a numeric target (train.loss = \"mse\") needs a number in every labelled row (for yes/no labels set train.loss = \"bce\", for one of several classes \"cross_entropy\")")]
    NotATarget {
        /// The file.
        path: String,
        /// The row.
        row: u64,
        /// The label column.
        column: String,
        /// The value.
        value: String,
    },
    /// A cell of one of several label columns (multi-label) that is not yes or no.
    #[error("{path}: row {row}, column `{column}`: `{value}` is not a yes/no label; with several label columns and train.loss = \"bce\" each column holds 0/1, true/false or yes/no (for several numeric targets set train.loss = \"mse\"; for one of several classes, one label column and train.loss = \"cross_entropy\")")]
    NotYesNo {
        /// The file.
        path: String,
        /// The row.
        row: u64,
        /// The label column.
        column: String,
        /// The value.
        value: String,
    },
    /// A softmax label column holding fractional numbers.
    #[error("{path}: column `{column}` holds `{value}`, a number with a fraction: cross-entropy needs classes (text or whole numbers); for a numeric target set train.loss = \"mse\"")]
    NotClasses {
        /// The file.
        path: String,
        /// The label column.
        column: String,
        /// The first fractional value.
        value: String,
    },
    /// A class column with more distinct values than a softmax head is made for.
    #[error("{path}: row {row}, column `{column}`: more than {max} distinct classes; is it an identifier or a number? (a numeric target trains with train.loss = \"mse\")")]
    TooManyClasses {
        /// The file.
        path: String,
        /// The row of the first class over the limit.
        row: u64,
        /// The label column.
        column: String,
        /// The limit.
        max: usize,
    },
    /// A label value that the trained model's label mapping does not know.
    #[error("{path}: row {row}, column `{column}`: label `{value}` is neither the positive class `{positive}` nor the negative {negative}")]
    UnknownLabel {
        /// The file.
        path: String,
        /// The row.
        row: u64,
        /// The label column.
        column: String,
        /// The value.
        value: String,
        /// The positive class.
        positive: String,
        /// The negative class, quoted, or a note that none was seen.
        negative: String,
    },
    /// Two string classes and no way to tell which one is positive.
    #[error(
        "{path}: column `{column}` holds {values}; set data.positive to the one that means class 1"
    )]
    AmbiguousPositive {
        /// The file.
        path: String,
        /// The label column.
        column: String,
        /// The values found.
        values: String,
    },
    /// `data.positive` names a value the label column does not hold.
    #[error("{path}: data.positive = `{positive}` but column `{column}` holds only {values}")]
    PositiveNotFound {
        /// The file.
        path: String,
        /// The label column.
        column: String,
        /// The configured positive class.
        positive: String,
        /// The values found.
        values: String,
    },
    /// The missing-value rule removed every row.
    #[error("{path}: every one of its {rows} rows has a missing value, so data.missing = \"drop\" leaves nothing; use \"mean\" or \"constant\", or exclude the sparse columns")]
    AllRowsDropped {
        /// The file.
        path: String,
        /// How many rows there were.
        rows: usize,
    },
    /// Too few rows to split.
    #[error("{path}: {rows} usable rows cannot be split into training and validation parts (need at least 2)")]
    TooFewRows {
        /// The file.
        path: String,
        /// Usable rows.
        rows: usize,
    },
    /// The stratified split needs binary labels.
    #[error("{what}")]
    Invalid {
        /// What is wrong.
        what: String,
    },
    /// A categorical column with more distinct values than `data.max_levels`: one-hot encoding
    /// it would make one input per value (an ID column, usually).
    #[error("{path}: categorical column `{column}` has {levels} distinct values in the training rows, more than data.max_levels = {max}; exclude it (data.exclude) if it is an identifier, or raise data.max_levels")]
    TooManyLevels {
        /// The file.
        path: String,
        /// The column.
        column: String,
        /// Its distinct values in the training rows.
        levels: usize,
        /// The cap.
        max: usize,
    },
    /// The data would not fit in memory.
    #[error(transparent)]
    TooBig(#[from] crate::resources::TooBig),
    /// The training rows hold one class only: a classifier cannot learn from them.
    #[error(
        "{path}: {detail}; binary cross-entropy needs both classes in the training rows{hint}"
    )]
    OneClass {
        /// The file.
        path: String,
        /// What was counted, e.g. ``column `y` holds one value, `No`, in all 40 labelled rows``.
        detail: String,
        /// What to change, with its leading `; `, or empty.
        hint: String,
    },
    /// A row weight (`data.weight`) that cannot weigh a row.
    #[error("{path}: row {row}, column `{column}` (data.weight): {message}")]
    Weight {
        /// The file.
        path: String,
        /// The row, 1-based with the header as row 1.
        row: u64,
        /// The weight column.
        column: String,
        /// What is wrong with the cell.
        message: String,
    },
    /// A finite number too large for the 32-bit floats the network computes in.
    #[error("{path}: row {row}, column `{column}`: `{value}` is beyond the range of a 32-bit float (±3.4e38); rescale the column")]
    TooLarge {
        /// The file.
        path: String,
        /// The row.
        row: u64,
        /// The column.
        column: String,
        /// The cell.
        value: String,
    },
    /// A header cell with no name.
    #[error("{path}: column {position} of the header has no name; every column needs one")]
    BlankHeader {
        /// The file.
        path: String,
        /// 1-based position.
        position: usize,
    },
    /// A header that reads as one column holding separators: not a comma-separated file.
    #[error("{path}: the header is one column, `{header}`; the file looks separated by {separator}, but burnfit reads comma-separated files")]
    Separator {
        /// The file.
        path: String,
        /// The header as read.
        header: String,
        /// The separator seen, in words.
        separator: String,
    },
}

/// Unreadable columns as one sentence, with the `data.exclude` line that sets them aside.
fn unreadable_columns(columns: &[(String, String)]) -> String {
    let names: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
    let exclude = crate::data::table::toml_list(&names);
    match columns {
        [(column, what)] => format!(
            "column `{column}` holds {what}, which burnfit does not read; set it aside with `data.exclude = {exclude}`, or convert it to numbers or text"
        ),
        _ => format!(
            "columns {} hold values burnfit does not read; set them aside with `data.exclude = {exclude}`, or convert them to numbers or text",
            columns
                .iter()
                .map(|(c, what)| format!("`{c}` ({what})"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
