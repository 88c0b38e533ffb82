//! What the network's outputs mean: fixed by the loss and the number of label columns, and
//! asked by every command that turns outputs into metrics, files or columns.

use burnfit_model::Loss;

/// The kind of prediction a run makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Head {
    /// One yes/no label: one sigmoid.
    Binary,
    /// One number: one linear output.
    Regression,
    /// One of k classes: a softmax over k outputs.
    Classes,
    /// Several yes/no labels (multi-label): one sigmoid per label column.
    Labels,
    /// Several numbers (multi-output regression): one linear output per target column.
    Targets,
}

impl Head {
    /// The head of a run with `loss` and `columns` label columns. Cross-entropy takes one
    /// column (the config refuses more before this is asked).
    pub(crate) fn new(loss: Loss, columns: usize) -> Self {
        match (loss, columns > 1) {
            (Loss::Bce, false) => Head::Binary,
            (Loss::Bce, true) => Head::Labels,
            (Loss::Mse, false) => Head::Regression,
            (Loss::Mse, true) => Head::Targets,
            (Loss::CrossEntropy, _) => Head::Classes,
        }
    }

    /// The loss that trains it.
    pub(crate) fn loss(self) -> Loss {
        match self {
            Head::Binary | Head::Labels => Loss::Bce,
            Head::Regression | Head::Targets => Loss::Mse,
            Head::Classes => Loss::CrossEntropy,
        }
    }

    /// Whether rows carry one label value per output (several label columns), rather than one
    /// value (a 0/1 label, a number or a class index).
    pub(crate) fn is_several(self) -> bool {
        matches!(self, Head::Labels | Head::Targets)
    }

    /// Whether its outputs are probabilities of classes or labels.
    pub(crate) fn is_classifier(self) -> bool {
        !matches!(self, Head::Regression | Head::Targets)
    }

    /// Whether a decision threshold turns its probabilities into predictions (one per label
    /// for multi-label).
    pub(crate) fn has_threshold(self) -> bool {
        matches!(self, Head::Binary | Head::Labels)
    }

    /// The head in words, for messages and reports.
    pub(crate) fn words(self) -> &'static str {
        match self {
            Head::Binary => "binary classification",
            Head::Regression => "regression",
            Head::Classes => "multi-class classification",
            Head::Labels => "multi-label classification",
            Head::Targets => "multi-output regression",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loss_and_the_column_count_fix_the_head_and_back() {
        for (loss, columns, head) in [
            (Loss::Bce, 1, Head::Binary),
            (Loss::Bce, 3, Head::Labels),
            (Loss::Mse, 1, Head::Regression),
            (Loss::Mse, 2, Head::Targets),
            (Loss::CrossEntropy, 1, Head::Classes),
        ] {
            assert_eq!(Head::new(loss, columns), head);
            assert_eq!(head.loss(), loss);
            assert_eq!(head.is_several(), columns > 1);
        }
    }
}
