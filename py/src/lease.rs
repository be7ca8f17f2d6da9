//! `ringroute.Lease`: one request in flight on one node, reporting its
//! outcome and latency to the router when it ends.

use std::time::Duration;

use parking_lot::Mutex;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};
use ringroute::router::{Outcome, Router, Ticket};

use crate::errors::lease_finished;
use crate::health::seconds;
use crate::nodes::Name;

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
    /// The request, until its outcome is reported (core `Lease::into_ticket`).
    ticket: Mutex<Option<Ticket>>,
    /// A handle on the router the ticket goes back to.
    router: Router<Name>,
    node: Py<PyString>,
}

impl PyLease {
    /// A lease on `node` for the started request `ticket` of `router`.
    pub fn new(router: &Router<Name>, ticket: Ticket, node: Py<PyString>) -> Self {
        PyLease {
            ticket: Mutex::new(Some(ticket)),
            router: router.clone(),
            node,
        }
    }

    fn end(&self, verdict: Verdict) -> PyResult<()> {
        let Some(ticket) = self.ticket.lock().take() else {
            return Err(lease_finished());
        };
        let outcome = match verdict {
            Verdict::Success(Some(latency)) => Outcome::Success(latency),
            // As the core lease's `success_timed`: since the start, on the
            // router's clock.
            Verdict::Success(None) => {
                Outcome::Success(self.router.now().saturating_sub(ticket.started()))
            }
            Verdict::Failure => Outcome::Failure,
            Verdict::Abandon => Outcome::Abandoned,
        };
        self.router.finish(ticket, outcome);
        Ok(())
    }
}

impl Drop for PyLease {
    /// A lease collected unreported ends its request as abandoned, so the
    /// node's in-flight count comes down.
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.get_mut().take() {
            self.router.finish(ticket, Outcome::Abandoned);
        }
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
        self.ticket.lock().is_none()
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
        if self.ticket.lock().is_none() {
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
