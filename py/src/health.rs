//! Health settings (`OutlierDetection`, `PhiAccrual`) and the `ManualClock`
//! that tests drive routers with.

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use ringroute::health::{Clock, ManualClock, OutlierConfig, PhiConfig};

use crate::common::reduce;
use crate::errors::IntoPyResult;

/// Seconds (`int` or `float`, finite, `>= 0`) as a `Duration`.
pub fn seconds(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Duration> {
    crate::numbers::seconds_of(value, what)
}

fn float_repr(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// Passive outlier detection (Envoy's consecutive-failure ejection).
///
/// After ``consecutive_failures`` failed leases in a row a node is ejected
/// for ``base_ejection * k`` seconds on its ``k``-th ejection (at most
/// ``max_ejection``), never more than ``max_ejected_share`` of the nodes at
/// once (but always one). ``Router.tick()`` puts it back when its time is up.
#[pyclass(frozen, module = "ringroute", name = "OutlierDetection")]
pub struct PyOutlierDetection {
    pub config: OutlierConfig,
}

#[pymethods]
impl PyOutlierDetection {
    #[new]
    #[pyo3(
        signature = (*, consecutive_failures=None, base_ejection=None, max_ejection=None, max_ejected_share=None),
        text_signature = "(*, consecutive_failures=5, base_ejection=30.0, max_ejection=300.0, max_ejected_share=0.1)"
    )]
    fn new(
        consecutive_failures: Option<&Bound<'_, PyAny>>,
        base_ejection: Option<&Bound<'_, PyAny>>,
        max_ejection: Option<&Bound<'_, PyAny>>,
        max_ejected_share: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut config = OutlierConfig::default();
        if let Some(v) = consecutive_failures {
            config.consecutive_failures = crate::algorithm::u32_option(v, "consecutive_failures")?;
        }
        if let Some(v) = base_ejection {
            config.base_ejection = seconds(v, "base_ejection")?;
        }
        if let Some(v) = max_ejection {
            config.max_ejection = seconds(v, "max_ejection")?;
        }
        if let Some(v) = max_ejected_share {
            config.max_ejected_share = crate::numbers::real_of(v, "max_ejected_share")?;
        }
        config.validate().py()?;
        Ok(PyOutlierDetection { config })
    }

    /// int: failed leases in a row that eject a node.
    #[getter]
    fn consecutive_failures(&self) -> u32 {
        self.config.consecutive_failures
    }

    /// float: seconds of a first ejection.
    #[getter]
    fn base_ejection(&self) -> f64 {
        self.config.base_ejection.as_secs_f64()
    }

    /// float: longest ejection, in seconds.
    #[getter]
    fn max_ejection(&self) -> f64 {
        self.config.max_ejection.as_secs_f64()
    }

    /// float: largest share of the nodes ejected at once.
    #[getter]
    fn max_ejected_share(&self) -> f64 {
        self.config.max_ejected_share
    }

    fn __repr__(&self) -> String {
        format!(
            "OutlierDetection(consecutive_failures={}, base_ejection={}, max_ejection={}, max_ejected_share={})",
            self.config.consecutive_failures,
            float_repr(self.base_ejection()),
            float_repr(self.max_ejection()),
            float_repr(self.config.max_ejected_share),
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyOutlierDetection>) -> bool {
        self.config == other.get().config
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let this = slf.get();
        let kwargs = PyDict::new(py);
        kwargs.set_item("consecutive_failures", this.config.consecutive_failures)?;
        kwargs.set_item("base_ejection", this.base_ejection())?;
        kwargs.set_item("max_ejection", this.max_ejection())?;
        kwargs.set_item("max_ejected_share", this.config.max_ejected_share)?;
        reduce(slf.as_any(), PyTuple::empty(py), kwargs)
    }
}

/// The phi-accrual heartbeat failure detector (as in Akka).
///
/// Feed it with ``Router.heartbeat(name)``; ``Router.tick()`` marks a node
/// whose heartbeats stopped (phi ``>= threshold``) unreachable, and its next
/// heartbeat brings it back. Times are in seconds.
#[pyclass(frozen, module = "ringroute", name = "PhiAccrual")]
pub struct PyPhiAccrual {
    pub config: PhiConfig,
}

#[pymethods]
impl PyPhiAccrual {
    #[new]
    #[pyo3(
        signature = (*, threshold=None, max_samples=None, min_std_dev=None, acceptable_pause=None, first_heartbeat_estimate=None),
        text_signature = "(*, threshold=8.0, max_samples=1000, min_std_dev=0.1, acceptable_pause=0.0, first_heartbeat_estimate=1.0)"
    )]
    fn new(
        threshold: Option<&Bound<'_, PyAny>>,
        max_samples: Option<&Bound<'_, PyAny>>,
        min_std_dev: Option<&Bound<'_, PyAny>>,
        acceptable_pause: Option<&Bound<'_, PyAny>>,
        first_heartbeat_estimate: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut config = PhiConfig::default();
        if let Some(v) = threshold {
            config.threshold = crate::numbers::real_of(v, "threshold")?;
        }
        if let Some(v) = max_samples {
            config.max_samples = crate::algorithm::u32_option(v, "max_samples")? as usize;
        }
        if let Some(v) = min_std_dev {
            config.min_std_dev = seconds(v, "min_std_dev")?;
        }
        if let Some(v) = acceptable_pause {
            config.acceptable_pause = seconds(v, "acceptable_pause")?;
        }
        if let Some(v) = first_heartbeat_estimate {
            config.first_heartbeat_estimate = seconds(v, "first_heartbeat_estimate")?;
        }
        config.validate().py()?;
        Ok(PyPhiAccrual { config })
    }

    /// float: phi at and above which a node is unreachable.
    #[getter]
    fn threshold(&self) -> f64 {
        self.config.threshold
    }

    /// int: heartbeat intervals remembered per node.
    #[getter]
    fn max_samples(&self) -> usize {
        self.config.max_samples
    }

    /// float: floor on the standard deviation, in seconds.
    #[getter]
    fn min_std_dev(&self) -> f64 {
        self.config.min_std_dev.as_secs_f64()
    }

    /// float: extra silence tolerated, in seconds.
    #[getter]
    fn acceptable_pause(&self) -> f64 {
        self.config.acceptable_pause.as_secs_f64()
    }

    /// float: assumed heartbeat interval before one is measured, in seconds.
    #[getter]
    fn first_heartbeat_estimate(&self) -> f64 {
        self.config.first_heartbeat_estimate.as_secs_f64()
    }

    fn __repr__(&self) -> String {
        format!(
            "PhiAccrual(threshold={}, max_samples={}, min_std_dev={}, acceptable_pause={}, first_heartbeat_estimate={})",
            float_repr(self.config.threshold),
            self.config.max_samples,
            float_repr(self.min_std_dev()),
            float_repr(self.acceptable_pause()),
            float_repr(self.first_heartbeat_estimate()),
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyPhiAccrual>) -> bool {
        self.config == other.get().config
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let this = slf.get();
        let kwargs = PyDict::new(py);
        kwargs.set_item("threshold", this.config.threshold)?;
        kwargs.set_item("max_samples", this.config.max_samples)?;
        kwargs.set_item("min_std_dev", this.min_std_dev())?;
        kwargs.set_item("acceptable_pause", this.acceptable_pause())?;
        kwargs.set_item("first_heartbeat_estimate", this.first_heartbeat_estimate())?;
        reduce(slf.as_any(), PyTuple::empty(py), kwargs)
    }
}

/// A clock that moves only when told to, for tests and simulations.
///
/// Starts at ``start`` seconds; pass it as ``Router(..., clock=clock)`` to
/// control ejection times, heartbeat silences and lease latencies.
#[pyclass(frozen, module = "ringroute", name = "ManualClock")]
pub struct PyManualClock {
    pub clock: Arc<ManualClock>,
}

#[pymethods]
impl PyManualClock {
    #[new]
    #[pyo3(signature = (start=None), text_signature = "(start=0.0)")]
    fn new(start: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let start = start.map(|s| seconds(s, "start")).transpose()?;
        Ok(PyManualClock {
            clock: Arc::new(ManualClock::new(start.unwrap_or_default())),
        })
    }

    /// The time, in seconds.
    fn now(&self) -> f64 {
        self.clock.now().as_secs_f64()
    }

    /// advance(seconds): moves the clock forward.
    fn advance(&self, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        self.clock.advance(self::seconds(seconds, "seconds")?);
        Ok(())
    }

    /// set(seconds): sets the clock.
    fn set(&self, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        self.clock.set(self::seconds(seconds, "seconds")?);
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("ManualClock({})", float_repr(self.now()))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let args = PyTuple::new(py, [slf.get().now()])?;
        reduce(slf.as_any(), args, PyDict::new(py))
    }
}
