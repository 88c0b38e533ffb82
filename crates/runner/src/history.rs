//! Epoch rows: what each finished epoch measured, as the log line, `history.csv` and the
//! checkpoint's record of the run so far; and why the epochs stopped.

use serde::{Deserialize, Serialize};

/// One epoch's metrics (a row of `history.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EpochRow {
    /// 1-based epoch.
    pub(crate) epoch: usize,
    /// Learning rate at the epoch's start.
    pub(crate) lr: f64,
    /// Metric name and value, training ones first.
    pub(crate) metrics: Vec<(String, f64)>,
}

impl EpochRow {
    /// The value of `name`, if recorded.
    pub(crate) fn get(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    /// The row as Keras's `verbose=2` prints it.
    pub(crate) fn line(&self, epochs: usize, seconds: f64) -> String {
        let mut s = format!("epoch {}/{} - {:.1}s", self.epoch, epochs, seconds);
        for (name, v) in &self.metrics {
            s.push_str(&format!(" - {name} {}", crate::metrics::show(*v)));
        }
        s
    }
}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Stop {
    /// All epochs ran.
    Completed,
    /// Early stopping.
    EarlyStopped,
    /// `train.max_time` ran out.
    TimeBudget,
    /// Ctrl-C.
    Interrupted,
}

/// `history.csv`: `epoch,lr` and every metric, one row per epoch. Values are written in Rust's
/// shortest round-trip form, so the file reads back to the same numbers.
pub(crate) fn to_csv(history: &[EpochRow]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["epoch".to_string(), "lr".to_string()];
    if let Some(first) = history.first() {
        header.extend(first.metrics.iter().map(|(k, _)| k.clone()));
    }
    w.write_record(&header)?;
    for row in history {
        let mut record = vec![row.epoch.to_string(), row.lr.to_string()];
        record.extend(row.metrics.iter().map(|(_, v)| v.to_string()));
        w.write_record(&record)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_csv_has_a_header_and_one_row_per_epoch_and_quotes_odd_names() {
        let row = |epoch| EpochRow {
            epoch,
            lr: 0.001,
            metrics: vec![("loss".into(), 0.25), ("val,odd".into(), 1.0 / 3.0)],
        };
        let text = String::from_utf8(to_csv(&[row(1), row(2)]).unwrap()).unwrap();
        assert_eq!(
            text,
            "epoch,lr,loss,\"val,odd\"\n1,0.001,0.25,0.3333333333333333\n2,0.001,0.25,0.3333333333333333\n"
        );
        assert_eq!(
            String::from_utf8(to_csv(&[]).unwrap()).unwrap(),
            "epoch,lr\n"
        );
    }
}
