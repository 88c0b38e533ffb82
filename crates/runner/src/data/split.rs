//! Train/validation splits: ordered (the seed's first 80%), shuffled, or stratified.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// How to split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitRule {
    /// Share of rows that train, in (0, 1).
    pub train: f64,
    /// Shuffle before cutting.
    pub shuffle: bool,
    /// Keep each class's share equal on both sides.
    pub stratify: bool,
    /// Seed for the shuffle.
    pub seed: u64,
}

/// How many of `n` rows train: `round(n · train)`, kept within `[1, n − 1]` so both parts are
/// non-empty (10 rows at 0.8 give 8 and 2).
pub fn train_count(n: usize, train: f64) -> usize {
    ((n as f64 * train).round() as usize).clamp(1, n.saturating_sub(1).max(1))
}

/// Splits `rows` (indices into a table) into `(train, validation)`.
///
/// `labels` (0/1 per table row) is needed only when `rule.stratify` is set. Both parts keep
/// ascending row order, so an unshuffled training loop still sees the file's order.
pub fn split(rows: &[usize], labels: Option<&[f32]>, rule: SplitRule) -> (Vec<usize>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(rule.seed);
    if let (true, Some(labels)) = (rule.stratify, labels) {
        let mut train = Vec::new();
        let mut valid = Vec::new();
        for class in [0.0f32, 1.0] {
            let mut members: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|&r| labels[r] == class)
                .collect();
            members.shuffle(&mut rng);
            // Every class on both sides when it has two rows or more; a lone row trains.
            let n = members.len();
            let k = match n {
                0 | 1 => n,
                _ => ((n as f64 * rule.train).round() as usize).clamp(1, n - 1),
            };
            train.extend_from_slice(&members[..k]);
            valid.extend_from_slice(&members[k..]);
        }
        train.sort_unstable();
        valid.sort_unstable();
        return (train, valid);
    }
    let mut order = rows.to_vec();
    if rule.shuffle {
        order.shuffle(&mut rng);
    }
    let k = train_count(order.len(), rule.train);
    let mut valid = order.split_off(k);
    order.sort_unstable();
    valid.sort_unstable();
    (order, valid)
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
        }
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
