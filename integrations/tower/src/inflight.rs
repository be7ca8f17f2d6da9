//! [`InFlight`]: a request's lease on its backend and its in-flight slot.

use std::fmt;
use std::sync::Arc;

use ringroute::NodeIndex;
use ringroute::router::{Outcome, Router, Ticket};
use tonic::Code;

use crate::pool::{Backend, Slot};

/// A request's lease on its backend and its in-flight slot: ends when the
/// response body ends (or is dropped), with the outcome its `grpc-status`
/// gives, or when this guard is dropped ([`Outcome::Abandoned`]).
pub struct InFlight<T: Clone + Send + Sync + 'static> {
    node: NodeIndex,
    ticket: Option<Ticket>,
    /// The backend's slot, and through it the router the lease is on.
    backend: Arc<dyn Slot<T>>,
}

impl<T: Clone + Send + Sync + 'static> fmt::Debug for InFlight<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlight")
            .field("backend", self.backend.name())
            .field("ticket", &self.ticket)
            .finish()
    }
}

impl<T: Clone + Send + Sync + 'static> InFlight<T> {
    /// A guard over a slot already taken on `backend` and a lease on `node`.
    pub(crate) fn new(node: NodeIndex, ticket: Ticket, backend: Arc<dyn Slot<T>>) -> Self {
        InFlight {
            node,
            ticket: Some(ticket),
            backend,
        }
    }

    /// The node the request went to.
    pub fn node(&self) -> NodeIndex {
        self.node
    }

    /// The name of the backend the request went to.
    pub fn backend(&self) -> &str {
        self.backend.name()
    }

    pub(crate) fn backend_name(&self) -> &Arc<str> {
        self.backend.name()
    }

    /// The backend, if its service is an `S`.
    pub(crate) fn backend_of<S: Send + Sync + 'static>(&self) -> Option<&Backend<S, T>> {
        self.backend.as_any().downcast_ref::<Backend<S, T>>()
    }

    /// Ends the request: a gRPC status arrived (0 is OK), or the body
    /// failed (`None`).
    pub(crate) fn finish(&mut self, code: Option<i32>) {
        self.end(|router, ticket| match code {
            Some(c) if !is_backend_failure(c) => {
                Outcome::Success(router.now().saturating_sub(ticket.started()))
            }
            _ => Outcome::Failure,
        });
    }

    fn end(&mut self, outcome: impl FnOnce(&Router<T>, &Ticket) -> Outcome) {
        if let Some(ticket) = self.ticket.take() {
            let router = self.backend.router();
            let outcome = outcome(router, &ticket);
            router.finish(ticket, outcome);
            self.backend.release();
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Drop for InFlight<T> {
    fn drop(&mut self) {
        self.end(|_, _| Outcome::Abandoned);
    }
}

/// Codes that count against the backend (it failed, rather than the call).
fn is_backend_failure(code: i32) -> bool {
    matches!(
        Code::from(code),
        Code::Unavailable
            | Code::Internal
            | Code::Unknown
            | Code::DeadlineExceeded
            | Code::DataLoss
    )
}
