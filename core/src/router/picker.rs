//! Choosing the non-sticky picker by configuration: [`PickerKind`] names
//! it, [`AnyPicker`] dispatches to it with a `match`.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::node::{NodeIndex, NodeTable};
use crate::pick::{
    self, DEFAULT_DECAY, LeastConn, PeakEwma, Picker, RoundRobin, SmoothWeighted, WeightedRandom,
};
use crate::place::Liveness;

/// Which picker [`Router::pick`](super::Router::pick) uses for requests
/// without a key.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum PickerKind {
    /// Power of two choices over in-flight requests, weighted as Envoy's
    /// least_request (`w / (active + 1)`). The default.
    #[default]
    LeastConnections,
    /// Power of two choices over peak-EWMA latency × (in-flight + 1), as
    /// Finagle and linkerd; `decay` is the EWMA time constant (default 10 s).
    LeastResponseTime {
        /// Time constant of the moving average.
        decay: Duration,
    },
    /// Weighted random (Vose alias table), O(1).
    WeightedRandom,
    /// Plain round robin over up nodes.
    RoundRobin,
    /// nginx's smooth weighted round robin.
    SmoothWeighted,
}

impl PickerKind {
    /// The EWMA time constant this picker uses (the default for the others,
    /// which still record latency).
    pub fn decay(&self) -> Duration {
        match self {
            PickerKind::LeastResponseTime { decay } => *decay,
            _ => DEFAULT_DECAY,
        }
    }

    /// Whether this picker reads [`LoadCell::log_load`](pick::LoadCell::log_load),
    /// so the router's per-node cells should keep it stored.
    pub(crate) fn reads_log_load(&self) -> bool {
        matches!(self, PickerKind::LeastResponseTime { .. })
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let decay = self.decay();
        if decay.is_zero() {
            return Err(Error::InvalidParameter(
                "EWMA decay must be greater than zero",
            ));
        }
        Ok(())
    }

    pub(crate) fn build<T>(&self, table: &NodeTable<T>) -> AnyPicker {
        match self {
            PickerKind::LeastConnections => AnyPicker::LeastConn(LeastConn::new(table)),
            PickerKind::LeastResponseTime { .. } => AnyPicker::PeakEwma(PeakEwma::new(table)),
            PickerKind::WeightedRandom => AnyPicker::Weighted(WeightedRandom::new(table)),
            PickerKind::RoundRobin => AnyPicker::RoundRobin(RoundRobin::new(table)),
            PickerKind::SmoothWeighted => AnyPicker::Smooth(SmoothWeighted::new(table)),
        }
    }
}

/// One of the crate's pickers, built for one membership snapshot.
#[derive(Debug)]
pub(crate) enum AnyPicker {
    LeastConn(LeastConn),
    PeakEwma(PeakEwma),
    Weighted(WeightedRandom),
    RoundRobin(RoundRobin),
    Smooth(SmoothWeighted),
}

impl AnyPicker {
    #[inline]
    pub fn pick<L, D>(&self, live: &L, loads: &D, now: Duration) -> Option<NodeIndex>
    where
        L: Liveness + ?Sized,
        D: pick::Loads + ?Sized,
    {
        match self {
            AnyPicker::LeastConn(p) => p.pick(live, loads, now),
            AnyPicker::PeakEwma(p) => p.pick(live, loads, now),
            AnyPicker::Weighted(p) => p.pick(live, loads, now),
            AnyPicker::RoundRobin(p) => p.pick(live, loads, now),
            AnyPicker::Smooth(p) => p.pick(live, loads, now),
        }
    }
}
