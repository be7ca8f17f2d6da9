//! `ringroute.Lease`: one request in flight on one node, reporting its
//! outcome and latency to the router when it ends.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};
use ringroute::NodeIndex;
use ringroute::router::{Lease, NodeStats, Router};

use crate::errors::lease_finished;
use crate::health::seconds;
use crate::nodes::Name;

/// A core [`Lease`] together with the router it borrows, so that a Python
/// object can own it.
///
/// The lease borrows the `Router` stored in `_router`'s allocation; an `Arc`
/// never moves that allocation and keeps it alive at least as long as this
/// struct. `lease` is declared first, so it is dropped (reporting
/// "abandoned" if nothing was reported) before `router` lets go.
pub struct OwnedLease {
    lease: Option<Lease<'static, Name>>,
    /// Never read: it keeps the router that `lease` borrows alive.
    _router: Arc<Router<Name>>,
}

impl OwnedLease {
    /// Runs `start` (`Router::lease`, `Router::start_on`, ...) against a
    /// router that the result then owns.
    pub fn new(
        router: &Arc<Router<Name>>,
        start: impl for<'r> FnOnce(&'r Router<Name>) -> Option<Lease<'r, Name>>,
    ) -> Option<Self> {
        let router = Arc::clone(router);
        let lease = start(&router)?;
        // SAFETY: the lease borrows `*router`, which lives in the `Arc`'s
        // heap allocation: moving the `Arc` into `Self` does not move it, and
        // `Self` holds the `Arc` until after the lease is gone (field order,
        // and the lease is never handed out by value).
        let lease = unsafe { std::mem::transmute::<Lease<'_, Name>, Lease<'static, Name>>(lease) };
        Some(OwnedLease {
            lease: Some(lease),
            _router: router,
        })
    }

    /// The node serving the request.
    pub fn node(&self) -> Option<NodeIndex> {
        self.lease.as_ref().map(Lease::node)
    }

    /// The node's counters (identify the node across snapshots).
    pub fn stats(&self) -> Option<&NodeStats> {
        self.lease.as_ref().map(Lease::stats)
    }
}

/// How the request of a lease ended, as Python reports it.
enum Verdict {
    Success(Option<Duration>),
    Failure,
    Abandon,
}

/// One request in flight on a node, from ``Router.lease(key)``,
/// ``Router.lease_on(name)`` or ``Router.pick()``.
///
/// Use it as a context manager::
///
///     with router.lease(key) as node:
///         call(node)
///
/// A normal exit reports success with the latency measured on the router's
/// clock; an exception (an ``Exception``) reports failure, which counts
/// towards ejecting the node, and propagates; a ``BaseException`` such as
/// ``KeyboardInterrupt`` or a cancellation only ends the request. Or report
/// by hand with ``success()``, ``failure()`` or ``abandon()``; a lease that is
/// garbage-collected unreported is abandoned.
#[pyclass(frozen, module = "ringroute", name = "Lease")]
pub struct PyLease {
    inner: Mutex<Option<OwnedLease>>,
    node: Py<PyString>,
}

impl PyLease {
    pub fn new(lease: OwnedLease, node: Py<PyString>) -> Self {
        PyLease {
            inner: Mutex::new(Some(lease)),
            node,
        }
    }

    fn end(&self, verdict: Verdict) -> PyResult<()> {
        let Some(mut owned) = self.inner.lock().take() else {
            return Err(lease_finished());
        };
        let lease = owned.lease.take().expect("a live lease");
        match verdict {
            Verdict::Success(Some(latency)) => lease.success(latency),
            Verdict::Success(None) => lease.success_timed(),
            Verdict::Failure => lease.failure(),
            Verdict::Abandon => drop(lease),
        }
        Ok(())
    }
}

#[pymethods]
impl PyLease {
    /// str: the node serving the request.
    #[getter]
    fn node(&self, py: Python<'_>) -> Py<PyString> {
        self.node.clone_ref(py)
    }

    /// bool: whether the outcome was reported (or the lease abandoned).
    #[getter]
    fn done(&self) -> bool {
        self.inner.lock().is_none()
    }

    /// The request succeeded. ``latency`` in seconds; by default, the time
    /// since the lease started on the router's clock.
    #[pyo3(signature = (latency=None))]
    fn success(&self, latency: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let latency = latency.map(|l| seconds(l, "latency")).transpose()?;
        self.end(Verdict::Success(latency))
    }

    /// The request failed in a way that counts against the node (connection
    /// refused, timeout, server error): enough in a row eject it.
    fn failure(&self) -> PyResult<()> {
        self.end(Verdict::Failure)
    }

    /// Ends the request without a verdict (it was cancelled).
    fn abandon(&self) -> PyResult<()> {
        self.end(Verdict::Abandon)
    }

    fn __enter__(&self, py: Python<'_>) -> Py<PyString> {
        self.node.clone_ref(py)
    }

    #[pyo3(signature = (exc_type=None, _exc=None, _tb=None))]
    fn __exit__(
        &self,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        if self.inner.lock().is_none() {
            return Ok(false); // reported by hand inside the block
        }
        let verdict = match exc_type.filter(|t| !t.is_none()) {
            None => Verdict::Success(None),
            Some(t) => {
                let is_error = t
                    .cast::<PyType>()
                    .map(|t| t.is_subclass_of::<PyException>().unwrap_or(false))
                    .unwrap_or(false);
                if is_error {
                    Verdict::Failure
                } else {
                    Verdict::Abandon
                }
            }
        };
        // A concurrent report between the check and here is not an error.
        let _ = self.end(verdict);
        Ok(false)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let state = if self.done() { "done" } else { "in flight" };
        Ok(format!(
            "<Lease on {} ({state})>",
            self.node.bind(py).repr()?
        ))
    }
}
