//! Where a request's routing key comes from.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request};

/// The header read by default: `x-ringroute-key`.
pub const DEFAULT_KEY_HEADER: &str = "x-ringroute-key";

type KeyFn<B> = dyn Fn(&Request<B>) -> Option<Bytes> + Send + Sync;

/// How the routing key is taken from a request. A request without a key
/// goes to the router's picker (least connections by default).
pub enum KeySource<B> {
    /// The value of a header (gRPC metadata), as gRFC A76's
    /// `request_hash_header`.
    Header(HeaderName),
    /// A closure over the request (extensions, URI, headers).
    Fn(Arc<KeyFn<B>>),
}

impl<B> KeySource<B> {
    /// A closure over the request.
    pub fn from_fn(f: impl Fn(&Request<B>) -> Option<Bytes> + Send + Sync + 'static) -> Self {
        KeySource::Fn(Arc::new(f))
    }
}

/// The first value of header `name`. A gRPC request carries a handful of
/// headers: comparing names in order costs a fraction of hashing the name
/// (callgrind: about 230 instructions for `HeaderMap::get` on a custom
/// name), so small maps are scanned.
#[inline]
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    if headers.keys_len() <= 16 {
        headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    } else {
        headers.get(name)
    }
}

impl<B> Default for KeySource<B> {
    fn default() -> Self {
        KeySource::Header(HeaderName::from_static(DEFAULT_KEY_HEADER))
    }
}

impl<B> Clone for KeySource<B> {
    fn clone(&self) -> Self {
        match self {
            KeySource::Header(h) => KeySource::Header(h.clone()),
            KeySource::Fn(f) => KeySource::Fn(Arc::clone(f)),
        }
    }
}

impl<B> fmt::Debug for KeySource<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Header(h) => f.debug_tuple("Header").field(h).finish(),
            KeySource::Fn(_) => f.write_str("Fn(..)"),
        }
    }
}
