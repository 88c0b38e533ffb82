//! Every chart burnfit draws, as SVG: the report page's, the run folder's `curves.svg` and
//! `explain/importance.svg`. [`plot`] draws a [`Chart`] (plotters' SVG backend); [`charts`]
//! builds the report's charts from a run's records. The HTML pages only place the drawn
//! [`Svg`]s; `train` writes [`curves_svg`] without any page.

pub(crate) mod charts;
pub(crate) mod plot;

pub(crate) use charts::curves_svg;
pub(crate) use plot::{bars_with_errors, Chart};

/// A drawn chart: an SVG document this program generated, in which every text is escaped by
/// the drawing backend ([`plot`]). The one kind of markup the report's pages insert as is; the
/// only way to make one is to draw it here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Svg(String);

impl Svg {
    /// The document's text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The document's text, owned.
    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

/// Drawing a chart failed: plotters reports an error only on a bug (a string backend cannot
/// fail to write), but it says which.
#[derive(Debug, thiserror::Error)]
#[error("drawing a chart: {0}")]
pub(crate) struct DrawError(String);
