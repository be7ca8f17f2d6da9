//! Where a request's routing key comes from.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{Extensions, HeaderMap, HeaderName, HeaderValue, Request};

/// The header read by default: `x-ringroute-key`.
pub const DEFAULT_KEY_HEADER: &str = "x-ringroute-key";

/// A routing key carried by the request itself, as an extension, and never
/// sent to the backend. With a header source (the default) a request's
/// `RouteKey` is used before its header.
///
/// A key header costs its bytes on every call: encoded by the client,
/// decoded and stored by the server (a value unique per key is never
/// indexed by HPACK). On loopback that was 5–7% of a unary call's
/// throughput; an extension costs nothing on the wire.
///
/// ```
/// use ringroute_tower::RouteKey;
///
/// let mut request = tonic::Request::new(());
/// request.extensions_mut().insert(RouteKey::new("user:42"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RouteKey(Bytes);

impl RouteKey {
    /// A key of these bytes (a `&'static str` or `Bytes` without a copy).
    pub fn new(key: impl Into<Bytes>) -> Self {
        RouteKey(key.into())
    }

    /// The key's bytes, as they are hashed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key's bytes, owned.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

type KeyFn<B> = dyn Fn(&Request<B>) -> Option<Bytes> + Send + Sync;

/// How the routing key is taken from a request. A request without a key
/// goes to the router's picker (least connections by default).
pub enum KeySource<B> {
    /// The request's [`RouteKey`] extension if it has one, else the value
    /// of a header (gRPC metadata), as gRFC A76's `request_hash_header`.
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

/// A header source's key: the [`RouteKey`] extension, else the first value
/// of header `name`.
#[inline(always)]
pub(crate) fn keyed<'a>(
    extensions: &'a Extensions,
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Option<&'a [u8]> {
    // Not every client sets extensions (a generated tonic client sets one,
    // its method): an empty map is not searched.
    if !extensions.is_empty()
        && let Some(key) = extensions.get::<RouteKey>()
    {
        return Some(key.as_bytes());
    }
    header(headers, name).map(HeaderValue::as_bytes)
}

/// The first value of header `name`. A gRPC request carries a handful of
/// headers: comparing names in order costs a fraction of hashing the name
/// (callgrind: about 230 instructions for `HeaderMap::get` on a custom
/// name), so small maps are scanned.
#[inline(always)]
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    // Without repeated names (the usual case) the `n`-th name of `keys`
    // owns the `n`-th value of `values`: two plain walks, lighter than
    // `iter`'s, which follows each name's extra values.
    if headers.keys_len() <= 16 && headers.len() == headers.keys_len() {
        let name = name.as_str().as_bytes();
        let at = headers
            .keys()
            .position(|k| same(k.as_str().as_bytes(), name))?;
        headers.values().nth(at)
    } else {
        headers.get(name)
    }
}

/// Whether two header names are equal: lengths first, then (for the usual
/// 8 to 16 bytes) two overlapping 8-byte words, without a call to `memcmp`.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if (8..=16).contains(&n) {
        let word = |s: &[u8], at: usize| {
            s.get(at..at + 8)
                .and_then(|w| <[u8; 8]>::try_from(w).ok())
                .map(u64::from_ne_bytes)
        };
        return word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8);
    }
    a == b
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_by_their_bytes() {
        for (a, b, eq) in [
            ("x-ringroute-key", "x-ringroute-key", true),
            ("x-ringroute-key", "x-ringroute-kez", false),
            ("y-ringroute-key", "x-ringroute-key", false),
            ("x-user", "x-user", true),
            ("x-user", "x-usex", false),
            ("x-user-id-12345", "x-user-id-1234", false),
            ("a-very-long-header-name", "a-very-long-header-name", true),
            ("a-very-long-header-name", "a-very-long-heaxer-name", false),
        ] {
            assert_eq!(same(a.as_bytes(), b.as_bytes()), eq, "{a} {b}");
        }
        let mut headers = HeaderMap::new();
        headers.insert("te", "trailers".parse().unwrap());
        headers.insert("x-ringroute-kez", "no".parse().unwrap());
        headers.insert("x-ringroute-key", "yes".parse().unwrap());
        let name = HeaderName::from_static(DEFAULT_KEY_HEADER);
        assert_eq!(header(&headers, &name).unwrap(), "yes");
        assert!(header(&headers, &HeaderName::from_static("content-type")).is_none());
        // A repeated name: the values no longer line up with the names.
        headers.append("te", "again".parse().unwrap());
        assert_eq!(header(&headers, &name).unwrap(), "yes");
    }
}
