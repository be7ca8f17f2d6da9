//! The C ABI of ringroute: `libringroute.so`, `libringroute.a` and
//! `ringroute.h` (generated from this crate by cbindgen; see
//! `ffi-c/README.md` for building, installing and linking).
//!
//! It wraps [`ringroute::router::Router`] with nodes identified by name (no
//! payload): a C or C++ RPC client builds a router from its servers, routes
//! each key to a node index (and name), starts a request with a ticket, and
//! reports how it went, while membership and health change underneath.
//!
//! # Conventions
//!
//! * Every name starts with `ringroute_` (`RINGROUTE_` for constants).
//! * Handles (`ringroute_router`, `ringroute_ticket`, `ringroute_clock`) are
//!   opaque pointers; each has a `_free` function that accepts NULL.
//! * Every function that can fail returns a [`ringroute_status`]: 0
//!   (`RINGROUTE_OK`) on success, a distinct code for each kind of error.
//!   [`ringroute_last_error`] gives the message of the last failure on the
//!   calling thread.
//! * Results go through out-parameters, which are written only on success.
//!   The one exception: on `RINGROUTE_BUFFER_TOO_SMALL` the length
//!   out-parameter receives the size needed.
//! * Keys and node names are byte strings `(const uint8_t *, size_t)`: any
//!   bytes, not NUL-terminated, never checked for UTF-8. A zero-length key
//!   is a valid key (the pointer may then be NULL); a zero-length name is
//!   refused. Only NUL-terminated text (a node list) must be UTF-8.
//! * Panics never cross the boundary: each entry point catches them and
//!   returns `RINGROUTE_PANIC`.
//! * Each function's documentation (copied into the header) states what it
//!   borrows or takes, and from which threads it may be called.
#![allow(non_camel_case_types)]
#![warn(missing_docs)]

// The modules are declared in the order the header presents them.
mod version;

mod status;

mod config;

mod router;

mod node_text;
mod reader;

mod nodes;

mod membership;

mod tiers;

mod lease;

mod args;

mod compat;

pub use compat::{
    ringroute_compat, ringroute_compat_free, ringroute_compat_new, ringroute_compat_set_hash,
    ringroute_compat_set_hash_tag, ringroute_compat_set_ketama, ringroute_compat_set_ring_size,
    ringroute_compat_set_table_size, ringroute_compat_set_uhashring, ringroute_router_new_compat,
};
mod batch;

pub use batch::{
    RINGROUTE_CHANGE_ADD, RINGROUTE_CHANGE_MARK_DOWN, RINGROUTE_CHANGE_MARK_UP,
    RINGROUTE_CHANGE_REMOVE, RINGROUTE_CHANGE_SET_WEIGHT, RINGROUTE_NO_NODE, ringroute_apply,
    ringroute_change, ringroute_change_kind, ringroute_group, ringroute_groups, ringroute_key,
    ringroute_route_many,
};
pub use config::{
    RINGROUTE_ALGORITHM_JUMP, RINGROUTE_ALGORITHM_JUMPBACK, RINGROUTE_ALGORITHM_MAGLEV,
    RINGROUTE_ALGORITHM_RENDEZVOUS, RINGROUTE_ALGORITHM_RING, RINGROUTE_PICKER_LEAST_CONNECTIONS,
    RINGROUTE_PICKER_LEAST_RESPONSE_TIME, RINGROUTE_PICKER_ROUND_ROBIN,
    RINGROUTE_PICKER_SMOOTH_WEIGHTED, RINGROUTE_PICKER_WEIGHTED_RANDOM, ringroute_algorithm,
    ringroute_clock, ringroute_clock_advance, ringroute_clock_free, ringroute_config,
    ringroute_config_default, ringroute_manual_clock_new, ringroute_outlier_config,
    ringroute_phi_config, ringroute_picker,
};
pub use lease::{
    RINGROUTE_OUTCOME_ABANDONED, RINGROUTE_OUTCOME_FAILURE, RINGROUTE_OUTCOME_SUCCESS,
    ringroute_lease, ringroute_outcome, ringroute_pick, ringroute_start, ringroute_ticket,
    ringroute_ticket_finish, ringroute_ticket_free, ringroute_ticket_node,
};
pub use membership::{
    ringroute_add, ringroute_heartbeat, ringroute_mark_down, ringroute_mark_up, ringroute_remove,
    ringroute_replace, ringroute_set_weight, ringroute_tick,
};
pub use nodes::{
    ringroute_generation, ringroute_get_node_info, ringroute_health, ringroute_node_count,
    ringroute_node_health, ringroute_node_index, ringroute_node_info, ringroute_node_name,
};
pub use reader::{
    ringroute_reader, ringroute_reader_free, ringroute_reader_new, ringroute_reader_route,
    ringroute_reader_route_hash,
};
pub use router::{
    ringroute_key_hash, ringroute_node, ringroute_route, ringroute_route_hash, ringroute_route_n,
    ringroute_route_name, ringroute_router, ringroute_router_free, ringroute_router_new,
    ringroute_router_new_from_text,
};
pub use status::{
    ringroute_last_error, ringroute_status, ringroute_status_name, ringroute_version,
};
pub use tiers::{
    RINGROUTE_DEFAULT_OVERPROVISIONING, RINGROUTE_TIER_POLICY_PROPORTIONAL,
    RINGROUTE_TIER_POLICY_STRICT, ringroute_node_tier, ringroute_router_new_tiered,
    ringroute_set_tier, ringroute_tier_policy, ringroute_tier_share,
};
pub use version::{
    RINGROUTE_SPEC_VERSION, RINGROUTE_VERSION_MAJOR, RINGROUTE_VERSION_MINOR,
    RINGROUTE_VERSION_PATCH, ringroute_spec_version,
};
