//! Request accounting: a ticket per request started on a node, finished
//! with its outcome. In-flight counts feed bounded loads; failures feed
//! outlier detection.

use std::time::Duration;

use ringroute::NodeIndex;
use ringroute::router::{Outcome, Router, Ticket};

use crate::args::{Out, bytes, handle};
use crate::router::{no_node, ringroute_router};
use crate::status::{Failure, Result, boundary, boundary_void, ringroute_status};

/// How a request ended: one of the `RINGROUTE_OUTCOME_*` constants. A plain
/// integer so that any value is safe to pass; an unknown value is
/// `RINGROUTE_INVALID_ARGUMENT`.
pub type ringroute_outcome = u32;

/// The request succeeded; `latency_us` says how long it took.
pub const RINGROUTE_OUTCOME_SUCCESS: ringroute_outcome = 0;
/// The request failed in a way that counts against the node (connection
/// refused or reset, timeout, server error). Consecutive failures eject the
/// node when outlier detection is on.
pub const RINGROUTE_OUTCOME_FAILURE: ringroute_outcome = 1;
/// The request ended without a verdict (cancelled, or the client gave up
/// for its own reasons): only the in-flight count changes.
pub const RINGROUTE_OUTCOME_ABANDONED: ringroute_outcome = 2;

/// One request in flight on one node. Opaque. Get one from
/// `ringroute_lease()` or `ringroute_start()`; end it with
/// `ringroute_ticket_finish()` (or `ringroute_ticket_free()`, which counts
/// as abandoned). Until then the node's in-flight count includes it.
///
/// A ticket keeps what it needs of its router alive, so it may outlive
/// `ringroute_router_free()`. It may be finished on another thread than the
/// one that started it, but must not be used by two threads at once.
pub struct ringroute_ticket {
    router: Router<()>,
    ticket: Ticket,
}

fn issue(router: &Router<()>, ticket: Ticket, out: Out<*mut ringroute_ticket>) {
    out.write(Box::into_raw(Box::new(ringroute_ticket {
        router: router.clone(),
        ticket,
    })));
}

/// Routes `key` and starts a request on the node: the sticky path of an RPC
/// client. Writes the node's index to `*node_out` and a new ticket to
/// `*ticket_out`. With `bounded_loads` configured, a node already holding
/// more than its share of the in-flight requests passes the key to its next
/// replica; otherwise the node is the one `ringroute_route()` returns.
///
/// On failure of the request, the next replicas (`ringroute_route_n()`)
/// can be tried with `ringroute_start()`.
///
/// Ownership: on success `*ticket_out` is the caller's and must be ended
/// exactly once with `ringroute_ticket_finish()` or `ringroute_ticket_free()`.
///
/// Thread-safety: safe from any number of threads at once.
///
/// Errors: `RINGROUTE_NULL_POINTER` (`router`, `node_out` or `ticket_out`
/// NULL, `key` NULL with `key_len > 0`), `RINGROUTE_EMPTY_RING`,
/// `RINGROUTE_NO_NODE_UP`. On error no request is started.
///
/// # Safety
///
/// `router` must be NULL or live; `key` readable for `key_len` bytes;
/// `node_out` and `ticket_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_lease(
    router: *const ringroute_router,
    key: *const u8,
    key_len: usize,
    node_out: *mut u32,
    ticket_out: *mut *mut ringroute_ticket,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises a writable u32 or NULL.
        let node_out = unsafe { Out::new(node_out, "node_out") }?;
        // SAFETY: the caller promises a writable pointer slot or NULL.
        let ticket_out = unsafe { Out::new(ticket_out, "ticket_out") }?;
        // SAFETY: the caller promises `key_len` readable bytes.
        let key = unsafe { bytes(key, key_len, "key") }?;
        let ticket = lease(router, key)?;
        node_out.write(ticket.node().get());
        issue(router, ticket, ticket_out);
        Ok(())
    })
}

/// A ticket for `key` on the node `Router::lease` chooses (bounded loads
/// included).
fn lease(router: &Router<()>, key: &[u8]) -> Result<Ticket> {
    match router.lease(key) {
        Some(lease) => Ok(lease.into_ticket()),
        None => Err(no_node(&router.snapshot())),
    }
}

/// Picks a node for a request that has no key (with the configured
/// `picker`: least connections by default) and starts the request on it.
/// Writes the node's index to `*node_out` and a new ticket to
/// `*ticket_out`. Only up nodes are picked. Finish the ticket with the
/// request's outcome and latency: the load-aware pickers learn from them.
///
/// Ownership: as `ringroute_lease()`.
///
/// Thread-safety: safe from any number of threads at once.
///
/// Errors: `RINGROUTE_NULL_POINTER`, `RINGROUTE_EMPTY_RING`,
/// `RINGROUTE_NO_NODE_UP`. On error no request is started.
///
/// # Safety
///
/// `router` must be NULL or live; `node_out` and `ticket_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_pick(
    router: *const ringroute_router,
    node_out: *mut u32,
    ticket_out: *mut *mut ringroute_ticket,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises a writable u32 or NULL.
        let node_out = unsafe { Out::new(node_out, "node_out") }?;
        // SAFETY: the caller promises a writable pointer slot or NULL.
        let ticket_out = unsafe { Out::new(ticket_out, "ticket_out") }?;
        let ticket = router
            .pick_ticket()
            .ok_or_else(|| no_node(&router.snapshot()))?;
        node_out.write(ticket.node().get());
        issue(router, ticket, ticket_out);
        Ok(())
    })
}

/// Starts a request on the node at index `node` (say, a replica from
/// `ringroute_route_n()` after the primary failed) and writes a new ticket
/// to `*ticket_out`. The node's health is not checked: starting on a down
/// node is allowed (it is the caller's choice).
///
/// Ownership: as `ringroute_lease()`.
///
/// Thread-safety: safe from any number of threads at once.
///
/// Errors: `RINGROUTE_NULL_POINTER`, `RINGROUTE_UNKNOWN_NODE` (no node has
/// this index now).
///
/// # Safety
///
/// `router` must be NULL or live; `ticket_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_start(
    router: *const ringroute_router,
    node: u32,
    ticket_out: *mut *mut ringroute_ticket,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises a writable pointer slot or NULL.
        let out = unsafe { Out::new(ticket_out, "ticket_out") }?;
        let ticket = router.start(NodeIndex::new(node)).ok_or_else(|| {
            Failure::new(
                ringroute_status::RINGROUTE_UNKNOWN_NODE,
                format!("no node has index {node}"),
            )
        })?;
        issue(router, ticket, out);
        Ok(())
    })
}

/// Writes the index of the ticket's node to `*node_out`.
///
/// Ownership: borrows `ticket`.
///
/// Thread-safety: the ticket must not be finished meanwhile.
///
/// Errors: `RINGROUTE_NULL_POINTER`.
///
/// # Safety
///
/// `ticket` must be NULL or a live ticket; `node_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_ticket_node(
    ticket: *const ringroute_ticket,
    node_out: *mut u32,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live ticket or NULL.
        let ticket = unsafe { handle(ticket, "ticket") }?;
        // SAFETY: the caller promises a writable u32 or NULL.
        let out = unsafe { Out::new(node_out, "node_out") }?;
        out.write(ticket.ticket.node().get());
        Ok(())
    })
}

/// Ends a request with its outcome and frees the ticket. `latency_us` (the
/// request's duration in microseconds) is read only for
/// `RINGROUTE_OUTCOME_SUCCESS`.
///
/// A failure may eject the node (outlier detection); a success resets its
/// consecutive-failure count.
///
/// Ownership: takes `ticket` whenever it is not NULL, whatever the status:
/// it must not be used afterwards. With an unknown `outcome` the request is
/// ended as abandoned and `RINGROUTE_INVALID_ARGUMENT` is returned.
///
/// Thread-safety: safe from any thread (not only the one that started the
/// ticket), concurrently with everything but another use of this ticket.
///
/// Errors: `RINGROUTE_NULL_POINTER`, `RINGROUTE_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `ticket` must be NULL or a live ticket that has not been finished or
/// freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_ticket_finish(
    ticket: *mut ringroute_ticket,
    outcome: ringroute_outcome,
    latency_us: u64,
) -> ringroute_status {
    boundary(|| {
        if ticket.is_null() {
            return Err(Failure::null("ticket"));
        }
        // SAFETY: not NULL; the caller gives back a pointer from
        // Box::into_raw in `issue`, once.
        let ticket = unsafe { Box::from_raw(ticket) };
        let (outcome, result) = match outcome {
            RINGROUTE_OUTCOME_SUCCESS => {
                (Outcome::Success(Duration::from_micros(latency_us)), Ok(()))
            }
            RINGROUTE_OUTCOME_FAILURE => (Outcome::Failure, Ok(())),
            RINGROUTE_OUTCOME_ABANDONED => (Outcome::Abandoned, Ok(())),
            other => (
                Outcome::Abandoned,
                Err(Failure::invalid(format!(
                    "unknown outcome {other}; the request was ended as abandoned"
                ))),
            ),
        };
        let ringroute_ticket { router, ticket } = *ticket;
        router.finish(ticket, outcome);
        result
    })
}

/// Ends a request without a verdict (as `RINGROUTE_OUTCOME_ABANDONED`) and
/// frees the ticket. NULL is a no-op.
///
/// Ownership: takes `ticket`, which must not be used afterwards.
///
/// Thread-safety: as `ringroute_ticket_finish()`.
///
/// # Safety
///
/// `ticket` must be NULL or a live ticket that has not been finished or
/// freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_ticket_free(ticket: *mut ringroute_ticket) {
    boundary_void(|| {
        if !ticket.is_null() {
            // SAFETY: the caller gives back a pointer from Box::into_raw in
            // `issue`, once.
            let ringroute_ticket { router, ticket } = *unsafe { Box::from_raw(ticket) };
            router.finish(ticket, Outcome::Abandoned);
        }
    });
}
