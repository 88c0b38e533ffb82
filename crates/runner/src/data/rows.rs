//! Each row's number in its source file, kept compact. A table of 20M rows held them as 8
//! bytes each, and every matrix made from it again: 320 MB of a run's memory that a file whose
//! rows are numbered one after another (nearly every file: no multi-line cells, no skipped
//! rows) does not need at all, and that fits in 4 bytes a row below 2^32 otherwise.

use super::buffer::Buffer;

/// Row numbers (1-based, the header being row 1), in the order they were pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RowNumbers {
    /// `first, first + 1, …`, `len` of them.
    Consecutive { first: u64, len: usize },
    /// Any numbers below 2^32.
    Narrow(Buffer<u32>),
    /// Any numbers.
    Wide(Buffer<u64>),
}

impl Default for RowNumbers {
    fn default() -> Self {
        RowNumbers::Consecutive { first: 0, len: 0 }
    }
}

impl RowNumbers {
    /// Appends `row`, widening the representation only when it must.
    pub(crate) fn push(&mut self, row: u64) {
        match self {
            RowNumbers::Consecutive { first, len } if *len == 0 => *first = row,
            RowNumbers::Consecutive { first, len } if row == *first + *len as u64 => {}
            RowNumbers::Consecutive { first, len } => {
                let (first, len) = (*first, *len);
                let last = first + len as u64 - 1;
                *self = if last.max(row) <= u64::from(u32::MAX) {
                    RowNumbers::Narrow((first..=last).map(|r| r as u32).collect())
                } else {
                    RowNumbers::Wide((first..=last).collect())
                };
                return self.push(row);
            }
            RowNumbers::Narrow(v) => match u32::try_from(row) {
                Ok(r) => owned(v).push(r),
                Err(_) => {
                    let mut wide: Vec<u64> = v.iter().map(|&r| u64::from(r)).collect();
                    wide.push(row);
                    *self = RowNumbers::Wide(wide.into());
                }
            },
            RowNumbers::Wide(v) => owned(v).push(row),
        }
        if let RowNumbers::Consecutive { len, .. } = self {
            *len += 1;
        }
    }

    /// The `i`th row number.
    pub(crate) fn get(&self, i: usize) -> u64 {
        match self {
            RowNumbers::Consecutive { first, len } => {
                assert!(i < *len, "row {i} of {len}");
                first + i as u64
            }
            RowNumbers::Narrow(v) => u64::from(v[i]),
            RowNumbers::Wide(v) => v[i],
        }
    }

    /// How many.
    pub(crate) fn len(&self) -> usize {
        match self {
            RowNumbers::Consecutive { len, .. } => *len,
            RowNumbers::Narrow(v) => v.len(),
            RowNumbers::Wide(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The numbers in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

impl RowNumbers {
    /// The numbers at positions `rows` (a split's rows), in that order: consecutive when
    /// they are, else in a [`Buffer::for_rows`] (a shuffled split's rows, in a mapped file past
    /// its size).
    pub(crate) fn gather(&self, rows: &[usize]) -> Self {
        let consecutive = rows.windows(2).all(|w| w[1] == w[0] + 1);
        if let (RowNumbers::Consecutive { first, .. }, true) = (self, consecutive) {
            let first = rows.first().map_or(0, |&r| first + r as u64);
            return RowNumbers::Consecutive {
                first,
                len: rows.len(),
            };
        }
        let narrow = rows.iter().all(|&r| u32::try_from(self.get(r)).is_ok());
        if narrow {
            let mut out = Buffer::for_rows("the rows' numbers", rows.len());
            for (place, &r) in out.iter_mut().zip(rows) {
                *place = self.get(r) as u32;
            }
            RowNumbers::Narrow(out)
        } else {
            let mut out = Buffer::for_rows("the rows' numbers", rows.len());
            for (place, &r) in out.iter_mut().zip(rows) {
                *place = self.get(r);
            }
            RowNumbers::Wide(out)
        }
    }
}

/// `v` as a vector that can grow: the numbers a parse pushes are always in memory (a mapped
/// buffer comes from [`RowNumbers::gather`] alone, and is copied out first).
fn owned<T: bytemuck::Pod>(v: &mut Buffer<T>) -> &mut Vec<T> {
    if let Buffer::Mapped { .. } = v {
        *v = Buffer::Owned(v.to_vec());
    }
    match v {
        Buffer::Owned(v) => v,
        Buffer::Mapped { .. } => unreachable!("copied out above"),
    }
}

impl FromIterator<u64> for RowNumbers {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Self {
        let mut rows = RowNumbers::default();
        for r in iter {
            rows.push(r);
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathered_numbers_are_the_numbers_at_those_positions_in_memory_or_in_a_file() {
        let dir = tempfile::TempDir::new().unwrap();
        let tables: [RowNumbers; 3] = [
            (2..40).collect(),
            (2..40).filter(|r| r % 5 != 0).collect(),
            (0..38).map(|r| (1u64 << 40) + r).collect(),
        ];
        for table in &tables {
            for rows in [vec![], vec![3], vec![4, 5, 6, 7], vec![9, 1, 30, 2]] {
                let want: Vec<u64> = rows.iter().map(|&r| table.get(r)).collect();
                let got = table.gather(&rows);
                assert_eq!(got.iter().collect::<Vec<_>>(), want, "{table:?} {rows:?}");
                let spilled =
                    crate::data::buffer::spilling_into(dir.path(), || table.gather(&rows));
                assert_eq!(spilled, got);
            }
        }
        // Consecutive positions of consecutive numbers stay consecutive.
        let got = tables[0].gather(&[4, 5, 6, 7]);
        assert_eq!(got, RowNumbers::Consecutive { first: 6, len: 4 });
    }

    #[test]
    fn numbers_read_back_as_pushed_in_the_narrowest_form_that_holds_them() {
        let cases: [(&[u64], &str); 5] = [
            (&[], "Consecutive"),
            (&[2, 3, 4, 5], "Consecutive"),
            (&[2, 3, 5, 6], "Narrow"),
            (&[7, 3, 4], "Narrow"),
            (&[2, 3, 1 << 40, 9], "Wide"),
        ];
        for (rows, kind) in cases {
            let r: RowNumbers = rows.iter().copied().collect();
            assert_eq!(r.iter().collect::<Vec<_>>(), rows, "{kind}");
            assert_eq!(r.len(), rows.len());
            assert!(format!("{r:?}").starts_with(kind), "{r:?}");
        }
        // Consecutive numbers past 2^32 stay consecutive; a gap there widens them.
        let high: RowNumbers = ((1u64 << 33)..(1 << 33) + 3).collect();
        assert!(matches!(high, RowNumbers::Consecutive { len: 3, .. }));
        let gap: RowNumbers = [1u64 << 33, (1 << 33) + 5].into_iter().collect();
        assert_eq!(gap, RowNumbers::Wide(vec![1 << 33, (1 << 33) + 5].into()));
    }
}
