//! Missing-value fills, one-hot encoding and scaling: fit on the training rows, saved with the
//! model, and applied unchanged at evaluate and predict time.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::buffer::Buffer;
use super::table::{
    Column, LabelColumn, LabelMap, LabelRule, LoadSpec, Selection, Table, MISSING_CODE,
};
use super::DataError;
use crate::config::{LabelColumns, Missing, Normalize};

/// One source column's transformation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum FeatureSpec {
    /// `(fill_if_missing(x) − shift) / scale`.
    Numeric {
        /// Column name.
        name: String,
        /// The value a missing cell takes.
        fill: f64,
        /// Subtracted first.
        shift: f64,
        /// Divided by next (never 0).
        scale: f64,
    },
    /// One output per level; a missing or unseen value is an all-zero row.
    Categorical {
        /// Column name.
        name: String,
        /// The training split's levels, in order of first appearance.
        levels: Vec<String>,
    },
}

impl FeatureSpec {
    fn name(&self) -> &str {
        match self {
            FeatureSpec::Numeric { name, .. } | FeatureSpec::Categorical { name, .. } => name,
        }
    }
}

/// Everything needed to turn a raw table into the network's input, saved as
/// `preprocess.json` in the run folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Preprocessor {
    /// The label column, or columns.
    pub(crate) label: LabelColumns,
    /// Its mapping.
    pub(crate) labels: LabelMap,
    /// Source columns, in input order.
    pub(crate) features: Vec<FeatureSpec>,
    /// The missing-value rule used in training.
    pub(crate) missing: Missing,
    /// The scaling used in training.
    pub(crate) normalize: Normalize,
}

/// Row-major network input with labels and source row numbers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Matrix {
    /// `rows × width`, row-major: in memory, or in a mapped file when larger than the memory
    /// available.
    pub(crate) x: crate::data::buffer::Buffer,
    /// `y_width` label values per row, row-major (empty when the source had no label
    /// column); in a mapped file past [`crate::data::buffer::SPILL_ABOVE`].
    pub(crate) y: Buffer,
    /// Label values per row: one (a 0/1 label, a class index, a number), or one per label
    /// column of several.
    pub(crate) y_width: usize,
    /// Number of rows.
    pub(crate) rows: usize,
    /// Number of input columns (after one-hot).
    pub(crate) width: usize,
    /// Each row's number in its source file.
    pub(crate) source_rows: crate::data::RowNumbers,
}

impl Matrix {
    /// Readies a mapped matrix for rows read in a random order (a shuffled epoch), or back in
    /// order: the kernel's read-around (up to `read_ahead_kb`, 8 MB on some disks, around each
    /// page fault) reads megabytes for each 400-byte row of a random order; off, a row costs
    /// its page. Nothing for a matrix in memory.
    pub(crate) fn read_at_random(&self, random: bool) {
        let advice = if random {
            memmap2::Advice::Random
        } else {
            memmap2::Advice::Normal
        };
        self.x.advise(advice, 0..self.rows * self.width);
    }

    /// Asks the kernel to read rows `rows` of a mapped matrix ahead, while the step before them
    /// runs (the next batch of a shuffled epoch); nothing for a matrix in memory.
    pub(crate) fn prefetch(&self, rows: &[usize]) {
        if self.x.is_spilled() {
            for &r in rows {
                self.x.advise(
                    memmap2::Advice::WillNeed,
                    r * self.width..(r + 1) * self.width,
                );
            }
        }
    }

    /// Rows `rows` of `x`, in that order, as one new row-major buffer (a batch, or the rows a
    /// report explains).
    pub(crate) fn gather(&self, rows: &[usize]) -> Vec<f32> {
        let w = self.width;
        let mut x = Vec::with_capacity(rows.len() * w);
        for &r in rows {
            x.extend_from_slice(&self.x[r * w..(r + 1) * w]);
        }
        x
    }

    /// The labels of rows `rows`, in that order, `y_width` each.
    pub(crate) fn gather_y(&self, rows: &[usize]) -> Vec<f32> {
        let w = self.y_width;
        let mut y = Vec::with_capacity(rows.len() * w);
        for &r in rows {
            y.extend_from_slice(&self.y[r * w..(r + 1) * w]);
        }
        y
    }

    /// Row `r`'s labels.
    pub(crate) fn labels_of(&self, r: usize) -> &[f32] {
        &self.y[r * self.y_width..(r + 1) * self.y_width]
    }
}

/// Room for `n` rows of `width` inputs: in memory, or (more than
/// [`crate::resources::resident_room`]) in a
/// mapped file in the parsed-data cache's private folder, where the page cache holds what the
/// rows in use need; refused with the numbers when neither memory nor that folder's disk has
/// room.
fn matrix_buffer(origin: &str, n: usize, width: usize) -> Result<Buffer, DataError> {
    // One f32 per row and input (one-hot widens): the largest allocation of the data stage.
    let bytes = crate::resources::product(&[n as u64, width as u64, 4]);
    let what = format!("the input matrix of {origin}");
    let cause = Some(format!("{n} rows x {width} inputs as f32"));
    let hint = "use fewer rows or columns, or fewer categorical levels (data.max_levels)";
    // Half of what is free at most: the validation rows' matrix and the training loop come
    // after.
    if bytes <= crate::resources::resident_room() {
        return Ok(vec![0f32; n * width].into());
    }
    let Some(dir) = crate::data::cache::private_folder() else {
        let hint = format!("{hint}, {}", crate::data::cache::NO_FOLDER);
        crate::resources::check(&what, bytes, cause, &hint)?;
        return Ok(vec![0f32; n * width].into());
    };
    let made = crate::resources::check_disk(&dir, bytes, "free disk there")
        .map_err(|e| e.to_string())
        .and_then(|()| Buffer::spilled(&dir, n * width).map_err(|e| e.to_string()));
    match made {
        Ok(x) => {
            say!(
                "note: {what} ({}) is more than a run keeps in memory ({}); it is kept in a mapped file in {}",
                crate::resources::human(bytes),
                crate::resources::resident_words(),
                dir.display()
            );
            Ok(x)
        }
        Err(why) => {
            // In memory after all, where it fits.
            let hint = format!("{hint}; or free disk in {0}, or set data.cache_dir to a folder on another disk ({why})", dir.display());
            crate::resources::check(&what, bytes, cause, &hint)?;
            say!(
                "note: {what} cannot be kept in {} ({why}); it is held in memory",
                dir.display()
            );
            Ok(vec![0f32; n * width].into())
        }
    }
}

/// A value seen at transform time that the training split never had.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unseen {
    /// The column.
    pub(crate) column: String,
    /// The value.
    pub(crate) value: String,
    /// How many rows had it.
    pub(crate) count: usize,
}

/// Training rows a part of a column's statistics covers: small enough that its values stay
/// in the cache for the part's second look, large enough that merging parts costs nothing.
const PART: usize = 4096;

/// Statistics of the non-missing cells of a column's rows so far, gathered a part at a time
/// and merged: one pass over the column whatever its size (a column kept on disk is read
/// once), each part looked at twice while it is in the cache.
#[derive(Clone, Copy)]
struct Moments {
    count: usize,
    /// Running sums in row order (the mean fill and L2 come from them).
    sum: f64,
    squares: f64,
    lo: f64,
    hi: f64,
    /// The sum of squared deviations from the running mean: each part's around its own mean
    /// (the second look), merged with Chan, Golub and LeVeque's update, which stays accurate
    /// where the sum of squares less n·mean² would cancel.
    m2: f64,
}

impl Moments {
    const EMPTY: Moments = Moments {
        count: 0,
        sum: 0.0,
        squares: 0.0,
        lo: f64::INFINITY,
        hi: f64::NEG_INFINITY,
        m2: 0.0,
    };

    /// `self` with the non-missing cells of `rows` added.
    fn add(&mut self, values: &[f32], rows: &[usize]) {
        let (before, before_sum) = (self.count, self.sum);
        let (mut count, mut sum) = (0usize, 0f64);
        for &r in rows {
            let v = values[r] as f64;
            if !v.is_nan() {
                count += 1;
                sum += v;
                self.sum += v;
                self.squares += v * v;
                self.lo = self.lo.min(v);
                self.hi = self.hi.max(v);
            }
        }
        if count == 0 {
            return;
        }
        let mean = sum / count as f64;
        let m2 = rows
            .iter()
            .map(|&r| values[r] as f64)
            .filter(|v| !v.is_nan())
            .map(|v| (v - mean) * (v - mean))
            .sum::<f64>();
        if before == 0 {
            self.m2 = m2;
        } else {
            let (a, b) = (before as f64, count as f64);
            let delta = mean - before_sum / a;
            self.m2 += m2 + delta * delta * a * b / (a + b);
        }
        self.count += count;
    }
}

/// Fits one numeric column's fill, shift and scale in one pass over the training rows.
fn fit_numeric(
    values: &[f32],
    train: &[usize],
    missing: Missing,
    fill_value: f64,
    normalize: Normalize,
) -> NumericFit {
    let mut moments = Moments::EMPTY;
    for part in train.chunks(PART) {
        moments.add(values, part);
    }
    let Moments {
        count,
        sum,
        squares,
        mut lo,
        mut hi,
        m2,
    } = moments;
    let mean = if count == 0 { 0.0 } else { sum / count as f64 };
    let fill = if missing == Missing::Constant {
        fill_value
    } else {
        mean
    };
    // The statistics are those of the filled column: each missing cell counts as `fill`.
    let filled = (train.len() - count) as f64;
    if filled > 0.0 {
        lo = lo.min(fill);
        hi = hi.max(fill);
    }
    let n = train.len().max(1) as f64;
    let nonzero = |s: f64| if s > 0.0 && s.is_finite() { s } else { 1.0 };
    let (shift, scale) = match normalize {
        Normalize::None => (0.0, 1.0),
        Normalize::L2 => (0.0, nonzero((squares + filled * fill * fill).sqrt())),
        Normalize::Zscore => {
            let m = (sum + filled * fill) / n;
            // Around the filled column's mean: the cells' own spread, their mean's distance
            // from it, and the filled cells' distance from it.
            let var =
                (m2 + count as f64 * (mean - m) * (mean - m) + filled * (fill - m) * (fill - m))
                    / n;
            (m, nonzero(var.sqrt()))
        }
        Normalize::Minmax => (if lo.is_finite() { lo } else { 0.0 }, nonzero(hi - lo)),
    };
    NumericFit { fill, shift, scale }
}

/// What [`fit_numeric`] learns.
struct NumericFit {
    fill: f64,
    shift: f64,
    scale: f64,
}

/// A resolved feature and the offset of its first input.
type Placed<'a> = (usize, Source<'a>);

/// One saved feature, resolved against a table's column.
enum Source<'a> {
    /// `(fill_if_missing(x) − shift) / scale`.
    Numeric {
        values: &'a [f32],
        fill: f64,
        shift: f64,
        scale: f64,
    },
    /// One-hot: this table's codes mapped to the training vocabulary's positions.
    Categorical {
        codes: &'a [u32],
        map: Vec<Option<usize>>,
    },
}

impl Source<'_> {
    /// Writes the inputs of `block`'s rows into `out` (row-major, `width` wide) at `offset`.
    fn fill(&self, out: &mut [f32], block: &[usize], width: usize, offset: usize) {
        match self {
            Source::Numeric {
                values,
                fill,
                shift,
                scale,
            } => {
                for (i, &r) in block.iter().enumerate() {
                    let v = values[r] as f64;
                    let v = if v.is_nan() { *fill } else { v };
                    out[i * width + offset] = ((v - shift) / scale) as f32;
                }
            }
            Source::Categorical { codes, map } => {
                for (i, &r) in block.iter().enumerate() {
                    let c = codes[r];
                    if c == MISSING_CODE {
                        continue;
                    }
                    if let Some(j) = map[c as usize] {
                        out[i * width + offset + j] = 1.0;
                    }
                }
            }
        }
    }
}

impl Preprocessor {
    /// Fits fills, vocabularies and scaling on `train` rows of `table`, which must have been
    /// read with its label column (its label mapping is saved with the rest).
    pub(crate) fn fit(
        table: &Table,
        train: &[usize],
        missing: Missing,
        fill_value: f64,
        normalize: Normalize,
    ) -> Result<Self, DataError> {
        let labels = table
            .label_map
            .clone()
            .ok_or_else(|| DataError::MissingColumn {
                path: table.origin.clone(),
                column: table.label_names.join(", "),
                role: "data.label".into(),
                available: table.header.join(", "),
            })?;
        // Columns are independent: fit them in parallel.
        let features = table
            .columns
            .par_iter()
            .map(|column| match column {
                Column::Numeric { name, values } => {
                    let NumericFit { fill, shift, scale } =
                        fit_numeric(values, train, missing, fill_value, normalize);
                    FeatureSpec::Numeric {
                        name: name.clone(),
                        fill,
                        shift,
                        scale,
                    }
                }
                Column::Categorical {
                    name,
                    codes,
                    levels,
                } => {
                    let mut used = vec![false; levels.len()];
                    let mut ordered = Vec::new();
                    for &r in train {
                        let c = codes[r];
                        if c != MISSING_CODE && !used[c as usize] {
                            used[c as usize] = true;
                            ordered.push(levels[c as usize].clone());
                        }
                    }
                    FeatureSpec::Categorical {
                        name: name.clone(),
                        levels: ordered,
                    }
                }
            })
            .collect();
        Ok(Preprocessor {
            label: LabelColumns::many(table.label_names.clone()),
            labels,
            features,
            missing,
            normalize,
        })
    }

    /// Refuses a categorical column with more than `max` levels in the training rows, before
    /// its one-hot inputs are made.
    pub(crate) fn check_levels(&self, origin: &str, max: usize) -> Result<(), DataError> {
        for f in &self.features {
            if let FeatureSpec::Categorical { name, levels } = f {
                if levels.len() > max {
                    return Err(DataError::TooManyLevels {
                        path: origin.to_string(),
                        column: name.clone(),
                        levels: levels.len(),
                        max,
                    });
                }
            }
        }
        Ok(())
    }

    /// The network's input width.
    pub(crate) fn width(&self) -> usize {
        self.features
            .iter()
            .map(|f| match f {
                FeatureSpec::Numeric { .. } => 1,
                FeatureSpec::Categorical { levels, .. } => levels.len(),
            })
            .sum()
    }

    /// The name of each input column: numeric columns by name, one-hot ones as `column=level`.
    pub(crate) fn input_names(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.width());
        for f in &self.features {
            match f {
                FeatureSpec::Numeric { name, .. } => out.push(name.clone()),
                FeatureSpec::Categorical { name, levels } => {
                    out.extend(levels.iter().map(|l| format!("{name}={l}")))
                }
            }
        }
        out
    }

    /// What to read from a new file so that [`transform`](Self::transform) can apply.
    pub(crate) fn load_spec(&self, label_column: LabelColumn) -> LoadSpec {
        LoadSpec {
            labels: self.label.names().to_vec(),
            label_column,
            label_rule: LabelRule::Known(self.labels.clone()),
            selection: Selection::Only(
                self.features.iter().map(|f| f.name().to_string()).collect(),
            ),
            categorical: self
                .features
                .iter()
                .filter(|f| matches!(f, FeatureSpec::Categorical { .. }))
                .map(|f| f.name().to_string())
                .collect(),
        }
    }

    /// Applies the fitted transformation to `rows` of `table`; also reports categorical values
    /// the training split never had (they become all-zero rows).
    pub(crate) fn transform(
        &self,
        table: &Table,
        rows: &[usize],
    ) -> Result<(Matrix, Vec<Unseen>), DataError> {
        let width = self.width();
        let n = rows.len();
        let mut x = matrix_buffer(&table.origin, n, width)?;
        let (sources, unseen) = self.sources(table, rows)?;
        // Fill the row-major matrix in blocks of rows: a block's output stays in cache while
        // each column writes its slot, instead of one strided pass over the whole matrix per
        // column.
        const BLOCK: usize = 256;
        // A mapped matrix is filled a part at a time, each written back to its file before the
        // next: the kernel cannot drop a changed page until it is written, and a memory limit
        // (a cgroup's) would otherwise fill with them.
        let part = x.rows_per_part(width);
        // A mapped column read a block of rows at a time, as here, defeats the kernel's
        // read-around: each fault reads up to `read_ahead_kb` (8 MB on some disks) around it,
        // for each of a hundred columns, and a memory cgroup of 1 GB evicts one column's pages
        // before they are used to read another's (100 GB read for 8 GB of columns). So no
        // read-around, and each part's rows asked for ahead, column by column.
        let mapped: Vec<&crate::data::buffer::Values> = table
            .columns
            .iter()
            .filter_map(|c| match c {
                Column::Numeric { values, .. } => Some(values),
                Column::Categorical { .. } => None,
            })
            .filter(|v| matches!(v, crate::data::buffer::Values::Mapped { .. }))
            .collect();
        let whole = 0..table.len();
        for v in &mapped {
            v.advise(memmap2::Advice::Random, whole.clone());
        }
        let mut at = 0;
        while at < n {
            // A part's rows also span at most `part` rows of the table, so what is asked for
            // ahead stays as small as the part (validation rows lie a few apart).
            let span = |s: &[usize]| match (s.iter().min(), s.iter().max()) {
                (Some(&lo), Some(&hi)) => Some((lo, hi)),
                _ => None,
            };
            let mut end = at.saturating_add(part).min(n);
            while end - at > 1 && span(&rows[at..end]).is_some_and(|(lo, hi)| hi - lo >= part) {
                end = at + (end - at) / 2;
            }
            let part_rows = &rows[at..end];
            if let Some((first, last)) = span(part_rows) {
                for v in &mapped {
                    v.advise(memmap2::Advice::WillNeed, first..last + 1);
                }
            }
            let lo = at * width;
            let out = &mut x[lo..lo + part_rows.len() * width];
            let blocks = out
                .par_chunks_mut(BLOCK * width.max(1))
                .zip(part_rows.par_chunks(BLOCK));
            blocks.for_each(|(out, block)| {
                for (offset, source) in &sources {
                    source.fill(out, block, width, *offset);
                }
            });
            x.write_back(lo, part_rows.len() * width)
                .map_err(|source| DataError::Io {
                    path: "the input matrix's mapped file".into(),
                    source,
                })?;
            at = end;
        }
        for v in &mapped {
            v.advise(memmap2::Advice::Normal, whole.clone());
        }
        let y_width = self.labels.width();
        let y = match &table.labels {
            Some(l) => {
                let mut y = Buffer::for_rows("the rows' labels", n * y_width);
                for (place, &r) in y.chunks_mut(y_width.max(1)).zip(rows) {
                    place.copy_from_slice(&l[r * y_width..(r + 1) * y_width]);
                }
                y
            }
            None => Buffer::Owned(Vec::new()),
        };
        let source_rows = table.rows.gather(rows);
        Ok((
            Matrix {
                x,
                y,
                y_width,
                rows: n,
                width,
                source_rows,
            },
            unseen,
        ))
    }

    /// Each saved feature resolved against `table` once, with its first input's offset; the
    /// categorical values training never saw, counted over `rows`.
    fn sources<'a>(
        &self,
        table: &'a Table,
        rows: &[usize],
    ) -> Result<(Vec<Placed<'a>>, Vec<Unseen>), DataError> {
        let mut unseen = Vec::new();
        let mut sources = Vec::with_capacity(self.features.len());
        let mut offset = 0;
        for spec in &self.features {
            let column = table
                .column(spec.name())
                .ok_or_else(|| DataError::MissingColumn {
                    path: table.origin.clone(),
                    column: spec.name().to_string(),
                    role: "a feature of the trained model".into(),
                    available: table.header.join(", "),
                })?;
            match (spec, column) {
                (
                    FeatureSpec::Numeric {
                        fill, shift, scale, ..
                    },
                    Column::Numeric { values, .. },
                ) => {
                    let (fill, shift, scale) = (*fill, *shift, *scale);
                    let source = Source::Numeric {
                        values,
                        fill,
                        shift,
                        scale,
                    };
                    sources.push((offset, source));
                    offset += 1;
                }
                (
                    FeatureSpec::Categorical { levels, name },
                    Column::Categorical {
                        codes,
                        levels: seen,
                        ..
                    },
                ) => {
                    // Map this table's codes to the training vocabulary once, not per row.
                    let map: Vec<Option<usize>> = seen
                        .iter()
                        .map(|s| levels.iter().position(|l| l == s))
                        .collect();
                    let mut counts = vec![0usize; seen.len()];
                    for &r in rows {
                        let c = codes[r];
                        if c != MISSING_CODE && map[c as usize].is_none() {
                            counts[c as usize] += 1;
                        }
                    }
                    for (c, &count) in counts.iter().enumerate().filter(|(_, &n)| n > 0) {
                        unseen.push(Unseen {
                            column: name.clone(),
                            value: seen[c].clone(),
                            count,
                        });
                    }
                    sources.push((offset, Source::Categorical { codes, map }));
                    offset += levels.len();
                }
                _ => {
                    return Err(DataError::Invalid {
                        what: format!(
                            "{}: column `{}` changed type since training",
                            table.origin,
                            spec.name()
                        ),
                    })
                }
            }
        }
        Ok((sources, unseen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::LoadSpec;

    fn load(csv: &str, categorical: &[&str]) -> Table {
        Table::from_reader(
            csv.as_bytes(),
            "fixture.csv",
            &LoadSpec {
                labels: vec!["y".into()],
                label_column: crate::data::LabelColumn::Required,
                label_rule: LabelRule::InferBinary { positive: None },
                selection: Selection::AllExcept(vec![]),
                categorical: categorical.iter().map(|s| s.to_string()).collect(),
            },
        )
        .unwrap()
    }

    fn fit(table: &Table, rows: &[usize], missing: Missing, normalize: Normalize) -> Preprocessor {
        Preprocessor::fit(table, rows, missing, 0.0, normalize).unwrap()
    }

    #[test]
    fn l2_matches_numpy_per_column() {
        let t = load("a,b,y\n3,1,0\n4,2,1\n0,2,0\n", &[]);
        let p = fit(&t, &[0, 1, 2], Missing::Drop, Normalize::L2);
        let (m, _) = p.transform(&t, &[0, 1, 2]).unwrap();
        // numpy: X = np.array([[3,1],[4,2],[0,2]]); X / np.linalg.norm(X, axis=0)
        //   norms [5, 3] -> [[0.6, 0.3333], [0.8, 0.6667], [0, 0.6667]]
        let expected = [0.6, 1.0 / 3.0, 0.8, 2.0 / 3.0, 0.0, 2.0 / 3.0];
        for (a, e) in m.x.iter().zip(expected) {
            assert!((*a as f64 - e).abs() < 1e-6, "{:?}", m.x);
        }
    }

    #[test]
    fn zscore_and_minmax_statistics_come_from_the_train_rows_only() {
        let t = load("a,y\n1,0\n3,1\n100,0\n", &[]);
        let p = fit(&t, &[0, 1], Missing::Drop, Normalize::Zscore);
        // train rows 1 and 3: mean 2, population std 1; the 100 in row 3 is not seen.
        assert_eq!(
            p.features[0],
            FeatureSpec::Numeric {
                name: "a".into(),
                fill: 2.0,
                shift: 2.0,
                scale: 1.0
            }
        );
        let (m, _) = p.transform(&t, &[2]).unwrap();
        assert_eq!(m.x.to_vec(), vec![98.0]);
        let p = fit(&t, &[0, 1], Missing::Drop, Normalize::Minmax);
        let (m, _) = p.transform(&t, &[0, 1, 2]).unwrap();
        assert_eq!(m.x.to_vec(), vec![0.0, 1.0, 49.5]);
    }

    /// The one-pass statistics, merged over many parts, equal two passes over the whole
    /// column: far from zero (where a sum of squares would cancel), with missing cells.
    #[test]
    fn zscore_over_many_parts_matches_two_passes() {
        let mut text = String::from("a,y\n");
        for i in 0..50_000u64 {
            let noise = (i.wrapping_mul(2_654_435_761) % 1000) as f64 / 1000.0;
            if i % 17 == 0 {
                text.push_str("NA,0\n");
            } else {
                text.push_str(&format!(
                    "{},{}\n",
                    1_000_000.0 + noise + (i / 9000) as f64,
                    i % 2
                ));
            }
        }
        let t = load(&text, &[]);
        let rows: Vec<usize> = (0..50_000).filter(|r| r % 3 != 0).collect();
        let Column::Numeric { values, .. } = &t.columns[0] else {
            panic!()
        };
        for missing in [Missing::Mean, Missing::Constant] {
            let p = fit(&t, &rows, missing, Normalize::Zscore);
            let FeatureSpec::Numeric {
                fill, shift, scale, ..
            } = p.features[0].clone()
            else {
                panic!()
            };
            let cells: Vec<f64> = rows
                .iter()
                .map(|&r| values[r] as f64)
                .map(|v| if v.is_nan() { fill } else { v })
                .collect();
            let n = cells.len() as f64;
            let mean = cells.iter().sum::<f64>() / n;
            let std = (cells.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
            assert!(
                (shift - mean).abs() <= 1e-9 * mean.abs(),
                "{shift} vs {mean}"
            );
            assert!(
                (scale - std).abs() <= 1e-9 * std,
                "{missing:?}: {scale} vs {std}"
            );
        }
    }

    #[test]
    fn empty_cells_and_na_are_missing_and_mean_fill_uses_the_train_mean() {
        let t = load("a,b,y\n1,,0\nNA,4,1\n3,NaN,0\n5,8,1\n", &[]);
        assert_eq!(
            t.complete_rows().to_vec(),
            vec![3],
            "drop keeps only the complete row"
        );
        let p = fit(&t, &[0, 1, 2], Missing::Mean, Normalize::None);
        let (m, _) = p.transform(&t, &[0, 1, 2, 3]).unwrap();
        // column a over train rows: mean(1, 3) = 2; column b: mean(4) = 4.
        assert_eq!(m.x.to_vec(), vec![1.0, 4.0, 2.0, 4.0, 3.0, 4.0, 5.0, 8.0]);
        let p =
            Preprocessor::fit(&t, &[0, 1, 2], Missing::Constant, -1.0, Normalize::None).unwrap();
        let (m, _) = p.transform(&t, &[0]).unwrap();
        assert_eq!(m.x.to_vec(), vec![1.0, -1.0]);
    }

    #[test]
    fn scaling_statistics_count_missing_cells_as_their_fill() {
        let t = load("a,y\n3,0\nNA,1\n4,0\n", &[]);
        let rows = [0, 1, 2];
        let scale = |p: &Preprocessor| match &p.features[0] {
            FeatureSpec::Numeric { shift, scale, .. } => (*shift, *scale),
            other => panic!("{other:?}"),
        };
        // Mean fill 3.5: the L2 norm of [3, 3.5, 4].
        let p = fit(&t, &rows, Missing::Mean, Normalize::L2);
        assert!((scale(&p).1 - (9.0f64 + 12.25 + 16.0).sqrt()).abs() < 1e-12);
        // A constant fill below every value is the minimum.
        let p = Preprocessor::fit(&t, &rows, Missing::Constant, -1.0, Normalize::Minmax).unwrap();
        assert_eq!(scale(&p), (-1.0, 5.0));
        // z-score of [3, -1, 4]: mean 2, population variance (1 + 9 + 4) / 3.
        let p = Preprocessor::fit(&t, &rows, Missing::Constant, -1.0, Normalize::Zscore).unwrap();
        let (m, s) = scale(&p);
        assert!((m - 2.0).abs() < 1e-12 && (s - (14.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn one_hot_vocabulary_comes_from_train_and_unseen_values_are_zero_rows() {
        let t = load("c,a,y\nred,1,0\nblue,2,1\ngreen,3,0\n,4,1\n", &["c"]);
        let p = fit(&t, &[0, 1], Missing::Mean, Normalize::None);
        assert_eq!(p.input_names(), vec!["c=red", "c=blue", "a"]);
        let (m, unseen) = p.transform(&t, &[0, 1, 2, 3]).unwrap();
        assert_eq!(
            m.x.to_vec(),
            vec![1., 0., 1., 0., 1., 2., 0., 0., 3., 0., 0., 4.]
        );
        assert_eq!(
            unseen,
            vec![Unseen {
                column: "c".into(),
                value: "green".into(),
                count: 1
            }]
        );
    }

    #[test]
    fn a_file_missing_a_trained_column_is_an_error_naming_it() {
        let t = load("a,b,y\n1,2,0\n3,4,1\n", &[]);
        let p = fit(&t, &[0, 1], Missing::Drop, Normalize::None);
        let other = load("a,y\n1,0\n2,1\n", &[]);
        let err = p.transform(&other, &[0]).unwrap_err().to_string();
        assert!(err.contains("`b`") && err.contains("fixture.csv"), "{err}");
    }
}
