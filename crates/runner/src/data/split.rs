//! Train/validation splits: ordered (the seed's first 80%), shuffled, or stratified.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::buffer::Buffer;

/// How to split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SplitRule {
    /// Share of rows that train, in (0, 1).
    pub(crate) train: f64,
    /// Shuffle before cutting.
    pub(crate) shuffle: bool,
    /// Keep each class's share equal on both sides.
    pub(crate) stratify: bool,
    /// Seed for the shuffle.
    pub(crate) seed: u64,
    /// k-fold: `(validating fold, folds)`, 0-based; `train` is then unused.
    pub(crate) fold: Option<(usize, usize)>,
}

/// The fold (0-based, of `k`) of every row of `rows`, in the order of `rows`: contiguous
/// blocks whose sizes differ by at most one (scikit-learn's `KFold`), after a shuffle when
/// `shuffle`; with `stratify`, each class dealt round-robin after its own shuffle, so every
/// fold holds each class's share to within one row (`StratifiedKFold`).
pub(crate) fn folds_of(
    rows: &[usize],
    labels: Option<&[f32]>,
    k: usize,
    rule: SplitRule,
) -> Buffer<u32> {
    let mut rng = StdRng::seed_from_u64(rule.seed);
    let mut fold = Buffer::<u32>::for_rows("the rows' folds", rows.len());
    // Fold numbers are below k, which a u32 holds (cv refuses more folds than rows).
    let fold_of = |p: usize| p as u32;
    if let (true, Some(labels)) = (rule.stratify, labels) {
        let mut dealt = 0;
        for class in classes_of(rows, labels) {
            let is_member = |&i: &usize| labels[rows[i]] == class;
            let count = (0..rows.len()).filter(is_member).count();
            let mut members = Buffer::<usize>::for_rows("a class's rows", count);
            for (place, i) in members.iter_mut().zip((0..rows.len()).filter(is_member)) {
                *place = i;
            }
            members.shuffle(&mut rng);
            // Continue the deal where the other class ended, so fold sizes stay even too.
            for (j, &i) in members.iter().enumerate() {
                fold[i] = fold_of((dealt + j) % k);
            }
            dealt += members.len();
        }
        return fold;
    }
    let mut order = Buffer::<usize>::for_rows("the rows' order", rows.len());
    for (i, place) in order.iter_mut().enumerate() {
        *place = i;
    }
    if rule.shuffle {
        order.shuffle(&mut rng);
    }
    let n = rows.len();
    for (p, &i) in order.iter().enumerate() {
        fold[i] = fold_of(p * k / n.max(1));
    }
    fold
}

/// The distinct labels of `rows`, in ascending order: 0 then 1, or class 0, 1, … k − 1 (an
/// absent class draws nothing from the shuffle, so skipping it changes no other class's deal).
fn classes_of(rows: &[usize], labels: &[f32]) -> Vec<f32> {
    // The distinct values as they are met (a few), not every row's label sorted.
    let mut seen = std::collections::HashSet::new();
    for &r in rows {
        if !labels[r].is_nan() {
            seen.insert(labels[r].to_bits());
        }
    }
    let mut classes: Vec<f32> = seen.into_iter().map(f32::from_bits).collect();
    classes.sort_unstable_by(f32::total_cmp);
    classes.dedup();
    classes
}

/// How many of `n` rows train: `round(n · train)`, kept within `[1, n − 1]` so both parts are
/// non-empty (10 rows at 0.8 give 8 and 2).
pub(crate) fn train_count(n: usize, train: f64) -> usize {
    ((n as f64 * train).round() as usize).clamp(1, n.saturating_sub(1).max(1))
}

/// Splits `rows` (indices into a table) into `(train, validation)`: [`split_owned`] on a copy.
#[cfg(test)]
pub(crate) fn split(
    rows: &[usize],
    labels: Option<&[f32]>,
    rule: SplitRule,
) -> (Vec<usize>, Vec<usize>) {
    let (train, valid) = split_owned(rows.to_vec().into(), labels, rule);
    (train.to_vec(), valid.to_vec())
}

/// The `i`th of `k` folds of `rows` validates; the rest train.
fn fold_split(
    rows: &[usize],
    labels: Option<&[f32]>,
    (i, k): (usize, usize),
    rule: SplitRule,
) -> (Buffer<usize>, Buffer<usize>) {
    let folds = folds_of(rows, labels, k, rule);
    let validating = folds.iter().filter(|&&f| f as usize == i).count();
    let mut train = Buffer::for_rows(TRAIN, rows.len() - validating);
    let mut valid = Buffer::for_rows(VALID, validating);
    let (mut t, mut v) = (0, 0);
    for (&r, &f) in rows.iter().zip(folds.iter()) {
        if f as usize == i {
            valid[v] = r;
            v += 1;
        } else {
            train[t] = r;
            t += 1;
        }
    }
    (train, valid)
}

/// Splits `rows` (indices into a table) into `(train, validation)`, as [`Buffer`]s (each in a
/// mapped file past [`crate::data::buffer::SPILL_ABOVE`]).
///
/// `labels` (a class per table row: 0/1, or 0..k) is needed only when `rule.stratify` is set.
/// Both parts keep ascending row order, so an unshuffled training loop still sees the file's
/// order. It takes the rows: a plain split keeps the training rows in their own
/// room, not a copy (160 MB at 20M rows), and a stratified one frees them before it fills its
/// parts.
pub(crate) fn split_owned(
    rows: Buffer<usize>,
    labels: Option<&[f32]>,
    rule: SplitRule,
) -> (Buffer<usize>, Buffer<usize>) {
    if let (None, true, Some(labels)) = (rule.fold, rule.stratify, labels) {
        return if rows.iter().all(|&r| u32::try_from(r).is_ok()) {
            stratified::<u32>(rows, labels, rule)
        } else {
            stratified::<usize>(rows, labels, rule)
        };
    }
    if let Some(fold) = rule.fold {
        return fold_split(&rows, labels, fold, rule);
    }
    let mut order = rows;
    if rule.shuffle {
        order.shuffle(&mut StdRng::seed_from_u64(rule.seed));
    }
    let k = train_count(order.len(), rule.train);
    let mut valid = Buffer::rows_from(VALID, &order[k..]);
    order.truncate(k);
    order.sort_unstable();
    valid.sort_unstable();
    (order, valid)
}

/// What the parts are called in an error.
const TRAIN: &str = "the training rows' indices";
const VALID: &str = "the validation rows' indices";

/// How many of a class's `n` rows train in a stratified split: every class on both sides
/// when it has two rows or more; a lone row trains.
fn class_train_count(n: usize, train: f64) -> usize {
    match n {
        0 | 1 => n,
        _ => ((n as f64 * train).round() as usize).clamp(1, n - 1),
    }
}

/// A row's index as a stratified split holds it: 4 bytes where every row number fits.
trait RowIndex: Copy {
    /// `r`, which the caller checked fits.
    fn from_row(r: usize) -> Self;
    /// The row number back.
    fn row(self) -> usize;
}

impl RowIndex for u32 {
    fn from_row(r: usize) -> Self {
        r as u32
    }
    fn row(self) -> usize {
        self as usize
    }
}

impl RowIndex for usize {
    fn from_row(r: usize) -> Self {
        r
    }
    fn row(self) -> usize {
        self
    }
}

/// [`split`]'s stratified split, taking the rows: each class's rows are gathered in one pass
/// (as `I`, 4 bytes when every row number fits) and `rows` is freed before the two parts are
/// filled, so the usable rows, every class's members and both parts are never all held at
/// once (the split was the peak of a 20M-row run: 493 MB). Each class's members in row order,
/// shuffled in class order by the one generator (a shuffle draws by length alone, not by the
/// width of what it moves).
fn stratified<I: RowIndex + bytemuck::Pod>(
    rows: Buffer<usize>,
    labels: &[f32],
    rule: SplitRule,
) -> (Buffer<usize>, Buffer<usize>) {
    let mut rng = StdRng::seed_from_u64(rule.seed);
    let classes = classes_of(&rows, labels);
    let index: std::collections::HashMap<u32, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.to_bits(), i))
        .collect();
    let mut counts = vec![0usize; classes.len()];
    for &r in rows.iter() {
        if let Some(&c) = index.get(&labels[r].to_bits()) {
            counts[c] += 1;
        }
    }
    let mut members = counts
        .iter()
        .map(|&n| Buffer::<I>::for_rows("a class's rows' indices", n))
        .collect::<Vec<_>>();
    let mut filled = vec![0usize; classes.len()];
    for &r in rows.iter() {
        if let Some(&c) = index.get(&labels[r].to_bits()) {
            members[c][filled[c]] = I::from_row(r);
            filled[c] += 1;
        }
    }
    drop(rows);
    let trains = |n: usize| class_train_count(n, rule.train);
    let kept: usize = counts.iter().map(|&n| trains(n)).sum();
    let mut train = Buffer::for_rows(TRAIN, kept);
    let mut valid = Buffer::for_rows(VALID, counts.iter().sum::<usize>() - kept);
    let (mut t, mut v) = (0, 0);
    for mut class in members {
        class.shuffle(&mut rng);
        let k = trains(class.len());
        for (place, r) in train[t..t + k].iter_mut().zip(&class[..k]) {
            *place = r.row();
        }
        for (place, r) in valid[v..v + class.len() - k].iter_mut().zip(&class[k..]) {
            *place = r.row();
        }
        (t, v) = (t + k, v + class.len() - k);
    }
    train.sort_unstable();
    valid.sort_unstable();
    (train, valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(shuffle: bool, stratify: bool) -> SplitRule {
        SplitRule {
            train: 0.8,
            shuffle,
            stratify,
            seed: 1,
            fold: None,
        }
    }

    #[test]
    fn a_split_kept_in_mapped_files_is_the_same_split() {
        let dir = tempfile::TempDir::new().unwrap();
        let rows: Vec<usize> = (0..1000).map(|i| i * 3).collect();
        let labels: Vec<f32> = (0..3000).map(|i| (i % 7 == 0) as u8 as f32).collect();
        let spilled = |rows: &[usize], labels: &[f32], r: SplitRule| {
            crate::data::buffer::spilling_into(dir.path(), || {
                let (t, v) = split_owned(rows.to_vec().into(), Some(labels), r);
                // A plain split's training rows stay where the rows were (here, in memory).
                assert!(v.is_spilled() && t.is_spilled() == r.stratify);
                (t.to_vec(), v.to_vec())
            })
        };
        for (shuffle, stratify) in [(false, false), (true, false), (true, true)] {
            let r = rule(shuffle, stratify);
            let (train, valid) = split(&rows, Some(&labels), r);
            assert_eq!((train.clone(), valid.clone()), spilled(&rows, &labels, r));
            assert_eq!(train.len(), 800);
            let mut all = [train, valid].concat();
            all.sort_unstable();
            assert_eq!(all, rows, "a partition of the rows");
        }
        // Several classes, an unlabelled row, a class of one row, unshuffled.
        let mut labels: Vec<f32> = (0..3000).map(|i| (i % 5) as f32).collect();
        labels[3] = f32::NAN;
        labels[6] = 9.0;
        for shuffle in [false, true] {
            let r = rule(shuffle, true);
            let (train, valid) = split(&rows, Some(&labels), r);
            assert_eq!((train.clone(), valid.clone()), spilled(&rows, &labels, r));
            assert!(train.contains(&6) && !train.contains(&3) && !valid.contains(&3));
        }
        // k-fold, plain and stratified: the same folds from files.
        for (shuffle, stratify) in [(false, false), (true, false), (false, true)] {
            let r = SplitRule {
                fold: Some((2, 5)),
                ..rule(shuffle, stratify)
            };
            let memory = split(&rows, Some(&labels), r);
            let mapped = crate::data::buffer::spilling_into(dir.path(), || {
                let (t, v) = split_owned(rows.to_vec().into(), Some(&labels), r);
                assert!(t.is_spilled() && v.is_spilled());
                (t.to_vec(), v.to_vec())
            });
            assert_eq!(memory, mapped);
            assert_eq!(memory.0.len() + memory.1.len(), rows.len());
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "unnamed");
    }

    #[test]
    fn folds_partition_the_rows_and_stratified_folds_keep_the_class_ratio() {
        // 103 rows, 21 of them positive, in 5 folds.
        let rows: Vec<usize> = (0..103).map(|i| i * 2).collect();
        let mut labels = vec![0.0f32; 206];
        for r in rows.iter().filter(|&&r| r % 10 == 4) {
            labels[*r] = 1.0;
        }
        let positives = rows.iter().filter(|&&r| labels[r] == 1.0).count();
        for (shuffle, stratify) in [(false, false), (true, false), (false, true)] {
            let r = SplitRule {
                fold: None,
                ..rule(shuffle, stratify)
            };
            let mut seen = vec![0usize; 206];
            let mut sizes = Vec::new();
            for i in 0..5 {
                let (train, valid) = split(
                    &rows,
                    Some(&labels),
                    SplitRule {
                        fold: Some((i, 5)),
                        ..r
                    },
                );
                assert_eq!(train.len() + valid.len(), rows.len());
                assert!(
                    train.iter().all(|t| !valid.contains(t)),
                    "train and validation overlap"
                );
                for &v in &valid {
                    seen[v] += 1;
                }
                sizes.push(valid.len());
                if stratify {
                    let pos = valid.iter().filter(|&&v| labels[v] == 1.0).count() as f64;
                    let want = positives as f64 * valid.len() as f64 / rows.len() as f64;
                    assert!(
                        (pos - want).abs() <= 1.0,
                        "fold {i}: {pos} positives, {want:.2} expected"
                    );
                }
            }
            // Every row validates exactly once; fold sizes differ by at most one.
            assert!(rows.iter().all(|&r| seen[r] == 1), "{shuffle} {stratify}");
            assert!(
                sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
                "{sizes:?}"
            );
        }
        // Unshuffled folds are contiguous blocks, as scikit-learn's KFold cuts them.
        let (_, first) = split(
            &rows,
            None,
            SplitRule {
                fold: Some((0, 5)),
                ..rule(false, false)
            },
        );
        assert_eq!(first, rows[..21].to_vec());
    }

    #[test]
    fn ordered_split_of_ten_rows_gives_the_first_eight_and_last_two() {
        let rows: Vec<usize> = (0..10).collect();
        let (train, valid) = split(&rows, None, rule(false, false));
        assert_eq!(train, (0..8).collect::<Vec<_>>());
        assert_eq!(valid, vec![8, 9]);
    }

    #[test]
    fn shuffled_split_is_a_seeded_partition() {
        let rows: Vec<usize> = (0..100).collect();
        let (train, valid) = split(&rows, None, rule(true, false));
        assert_eq!((train.len(), valid.len()), (80, 20));
        assert_ne!(train, (0..80).collect::<Vec<_>>(), "a shuffle moves rows");
        let mut all = [train.clone(), valid].concat();
        all.sort_unstable();
        assert_eq!(all, rows);
        assert_eq!(
            split(&rows, None, rule(true, false)).0,
            train,
            "same seed, same split"
        );
    }

    #[test]
    fn stratified_split_keeps_the_class_ratio_within_one_row() {
        // 30% positives, in a block at the end, where an ordered split would take none of them.
        let labels: Vec<f32> = (0..101).map(|i| if i >= 70 { 1.0 } else { 0.0 }).collect();
        let rows: Vec<usize> = (0..101).collect();
        let (train, valid) = split(&rows, Some(&labels), rule(false, true));
        let pos = |part: &[usize]| part.iter().filter(|&&r| labels[r] == 1.0).count() as f64;
        for part in [&train, &valid] {
            let expected = part.len() as f64 * 31.0 / 101.0;
            assert!(
                (pos(part) - expected).abs() <= 1.0,
                "{} vs {expected}",
                pos(part)
            );
        }
        assert_eq!(train.len() + valid.len(), 101);
    }

    #[test]
    fn tiny_inputs_keep_both_parts_non_empty() {
        assert_eq!(train_count(2, 0.99), 1);
        assert_eq!(train_count(2, 0.01), 1);
        assert_eq!(train_count(10, 0.8), 8);
    }

    #[test]
    fn a_stratified_split_keeps_every_class_of_two_rows_or_more_on_both_sides() {
        // 18 zeros and 2 ones at 0.8: round(1.6) = 2 would leave no one for validation.
        let rows: Vec<usize> = (0..20).collect();
        let labels: Vec<f32> = (0..20).map(|i| if i < 2 { 1.0 } else { 0.0 }).collect();
        let (train, valid) = split(&rows, Some(&labels), rule(true, true));
        for part in [&train, &valid] {
            assert!(part.iter().any(|&r| labels[r] == 1.0), "{part:?}");
        }
        // A class of one row can only train.
        let labels: Vec<f32> = (0..20).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect();
        let (train, valid) = split(&rows, Some(&labels), rule(true, true));
        assert!(train.contains(&0) && !valid.contains(&0));
    }
}
