//! The C ABI called from Rust: same answers as the Rust router, the
//! documented statuses, out-parameters untouched on failure, and tickets.
//! (The C and C++ suites in `scripts/test-c` cover the same ground from C.)

use std::ffi::CStr;
use std::ptr::{null, null_mut};

use ringroute::router::Router;
use ringroute_ffi::ringroute_status::{self, *};
use ringroute_ffi::*;

fn node(name: &str, weight: f64) -> ringroute_node {
    ringroute_node {
        name: name.as_ptr(),
        name_len: name.len(),
        weight,
    }
}

struct Handle(*mut ringroute_router);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: created by ringroute_router_new, freed once here.
        unsafe { ringroute_router_free(self.0) };
    }
}

fn build(names: &[&str], config: Option<&ringroute_config>) -> Handle {
    let nodes: Vec<_> = names.iter().map(|n| node(n, 1.0)).collect();
    let mut out = null_mut();
    let config = config.map_or(null(), |c| c as *const _);
    // SAFETY: valid nodes and out-parameter.
    let status = unsafe { ringroute_router_new(config, nodes.as_ptr(), nodes.len(), &mut out) };
    assert_eq!(status, RINGROUTE_OK);
    Handle(out)
}

fn last_error() -> String {
    // SAFETY: never NULL, NUL-terminated, valid until the next call.
    unsafe { CStr::from_ptr(ringroute_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn route(h: &Handle, key: &[u8]) -> Result<u32, ringroute_status> {
    let mut out = u32::MAX;
    // SAFETY: live handle, readable key, writable out.
    match unsafe { ringroute_route(h.0, key.as_ptr(), key.len(), &mut out) } {
        RINGROUTE_OK => Ok(out),
        e => {
            assert_eq!(out, u32::MAX, "out-parameter written on failure");
            Err(e)
        }
    }
}

#[test]
fn routes_like_the_rust_router() {
    let names = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"];
    let h = build(&names, None);
    let mut builder = Router::builder();
    for n in names {
        builder = builder.node(n, 1.0);
    }
    let rust: Router = builder.build().unwrap();
    for i in 0..5000 {
        let key = format!("user:{i}");
        let want = rust.route(&key).unwrap().get();
        assert_eq!(route(&h, key.as_bytes()), Ok(want));
        let mut replicas = [u32::MAX; 4];
        let mut count = 0;
        // SAFETY: live handle, readable key, writable array of 4 and count.
        let status = unsafe {
            ringroute_route_n(
                h.0,
                key.as_ptr(),
                key.len(),
                replicas.as_mut_ptr(),
                4,
                &mut count,
            )
        };
        assert_eq!(status, RINGROUTE_OK);
        let expected: Vec<u32> = rust.route_n(&key, 4).iter().map(|n| n.get()).collect();
        assert_eq!(&replicas[..count], &expected[..]);
    }
    // The empty key is a key, with or without a pointer.
    let mut out = u32::MAX;
    // SAFETY: a zero length allows NULL.
    assert_eq!(
        unsafe { ringroute_route(h.0, null(), 0, &mut out) },
        RINGROUTE_OK
    );
    assert_eq!(out, rust.route("").unwrap().get());
}

#[test]
fn route_name_copies_or_reports_the_size_needed() {
    let h = build(&["alpha", "beta", "gamma"], None);
    let key = b"key-3"; // gamma, per the golden vectors
    let mut buf = [0xABu8; 8];
    let mut len = 3usize;
    let mut node = u32::MAX;
    // SAFETY: buffer of 8 bytes, capacity 3 announced.
    let status = unsafe {
        ringroute_route_name(
            h.0,
            key.as_ptr(),
            key.len(),
            &mut node,
            buf.as_mut_ptr(),
            &mut len,
        )
    };
    assert_eq!(status, RINGROUTE_BUFFER_TOO_SMALL);
    assert_eq!((len, node, buf[0]), (5, u32::MAX, 0xAB));
    // SAFETY: as above, capacity 5.
    let status = unsafe {
        ringroute_route_name(
            h.0,
            key.as_ptr(),
            key.len(),
            &mut node,
            buf.as_mut_ptr(),
            &mut len,
        )
    };
    assert_eq!(status, RINGROUTE_OK);
    assert_eq!((&buf[..len], node, buf[5]), (&b"gamma"[..], 2, 0xAB));
}

#[test]
fn errors_have_distinct_statuses_and_messages() {
    let h = build(&["a", "b"], None);
    let mut idx = 7u32;
    // SAFETY (all calls below): live handle; pointers valid or NULL on purpose.
    unsafe {
        assert_eq!(
            ringroute_route(null(), b"k".as_ptr(), 1, &mut idx),
            RINGROUTE_NULL_POINTER
        );
        assert_eq!(last_error(), "router must not be NULL");
        assert_eq!(
            ringroute_route(h.0, null(), 1, &mut idx),
            RINGROUTE_NULL_POINTER
        );
        assert_eq!(
            ringroute_route(h.0, b"k".as_ptr(), 1, null_mut()),
            RINGROUTE_NULL_POINTER
        );
        for w in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(
                ringroute_add(h.0, b"c".as_ptr(), 1, w, &mut idx),
                RINGROUTE_INVALID_WEIGHT
            );
        }
        assert_eq!(
            ringroute_add(h.0, b"a".as_ptr(), 1, 1.0, &mut idx),
            RINGROUTE_DUPLICATE_NODE
        );
        assert_eq!(
            ringroute_add(h.0, null(), 0, 1.0, &mut idx),
            RINGROUTE_INVALID_ARGUMENT
        );
        assert_eq!(
            ringroute_remove(h.0, b"zz".as_ptr(), 2),
            RINGROUTE_UNKNOWN_NODE
        );
        assert!(last_error().contains("zz"));
        let dup = [node("x", 1.0), node("x", 2.0)];
        assert_eq!(
            ringroute_replace(h.0, dup.as_ptr(), 2),
            RINGROUTE_DUPLICATE_NODE
        );
        assert_eq!(idx, 7, "out-parameter written on failure");
        ringroute_mark_down(h.0, b"a".as_ptr(), 1);
        ringroute_mark_down(h.0, b"b".as_ptr(), 1);
    }
    assert_eq!(route(&h, b"k"), Err(RINGROUTE_NO_NODE_UP));
    let empty = build(&[], None);
    assert_eq!(route(&empty, b"k"), Err(RINGROUTE_EMPTY_RING));
}

#[test]
fn config_and_text_are_validated() {
    let mut config = std::mem::MaybeUninit::<ringroute_config>::uninit();
    // SAFETY: writable config.
    assert_eq!(
        unsafe { ringroute_config_default(config.as_mut_ptr()) },
        RINGROUTE_OK
    );
    // SAFETY: initialized by ringroute_config_default.
    let defaults = unsafe { config.assume_init() };
    assert_eq!((defaults.vnodes, defaults.outlier_detection), (160, 1));
    let mut out = null_mut();
    type Case = (fn(&mut ringroute_config), ringroute_status);
    let cases: [Case; 3] = [
        (|c| c.algorithm = 42, RINGROUTE_INVALID_ARGUMENT),
        (|c| c.vnodes = 0, RINGROUTE_INVALID_ARGUMENT),
        (|c| c.bounded_loads = 0.5, RINGROUTE_INVALID_ARGUMENT),
    ];
    for (change, want) in cases {
        let mut c = defaults;
        change(&mut c);
        // SAFETY: readable config and text, writable out.
        let status = unsafe { ringroute_router_new_from_text(&c, c"a\nb\n".as_ptr(), &mut out) };
        assert_eq!(status, want);
    }
    // SAFETY: NUL-terminated texts, writable out.
    unsafe {
        let bad_utf8 = c"a\n\xff 1\n";
        assert_eq!(
            ringroute_router_new_from_text(null(), bad_utf8.as_ptr(), &mut out),
            RINGROUTE_INVALID_UTF8
        );
        assert_eq!(
            ringroute_router_new_from_text(null(), c"a 1 2\n".as_ptr(), &mut out),
            RINGROUTE_INVALID_ARGUMENT
        );
        assert_eq!(
            ringroute_router_new_from_text(null(), c"a 0\n".as_ptr(), &mut out),
            RINGROUTE_INVALID_WEIGHT
        );
        assert!(out.is_null());
        assert_eq!(
            ringroute_router_new_from_text(null(), c"# two\na\nb 2 # big\n".as_ptr(), &mut out),
            RINGROUTE_OK
        );
        let h = Handle(out);
        let mut total = 0;
        assert_eq!(
            ringroute_node_count(h.0, &mut total, null_mut()),
            RINGROUTE_OK
        );
        assert_eq!(total, 2);
    }
}

#[test]
fn text_nodes_drop_a_bom_refuse_invisible_names_and_name_lines() {
    let from_text = |text: &std::ffi::CStr| {
        let mut out = null_mut();
        // SAFETY: NUL-terminated text, writable out.
        let status = unsafe { ringroute_router_new_from_text(null(), text.as_ptr(), &mut out) };
        (status, (!out.is_null()).then(|| Handle(out)))
    };
    // A BOM-prefixed file routes exactly as the same file without it.
    let (status, with_bom) = from_text(c"\xef\xbb\xbfalpha\nbeta 2\n");
    assert_eq!(status, RINGROUTE_OK);
    let (_, plain) = from_text(c"alpha\nbeta 2\n");
    let (with_bom, plain) = (with_bom.unwrap(), plain.unwrap());
    for i in 0..2000 {
        let key = format!("key-{i}");
        assert_eq!(
            route(&with_bom, key.as_bytes()),
            route(&plain, key.as_bytes())
        );
    }
    let cases: [(&std::ffi::CStr, ringroute_status, &str); 5] = [
        (
            c"a\nb\xe2\x80\x8b\n",
            RINGROUTE_INVALID_ARGUMENT,
            "line 2: invalid node name \"b\\u{200b}\"",
        ),
        (c"a\n\xef\xbb\xbfb\n", RINGROUTE_INVALID_ARGUMENT, "U+FEFF"),
        (
            c"a\nb -1\n",
            RINGROUTE_INVALID_WEIGHT,
            "line 2: invalid weight \"-1\"",
        ),
        (
            c"a\nb\na\n",
            RINGROUTE_DUPLICATE_NODE,
            "line 3: duplicate node \"a\" (first on line 1)",
        ),
        (
            c"a\nbig 1000000\n",
            RINGROUTE_LIMIT_EXCEEDED,
            "line 2: too many ring points: node \"big\"",
        ),
    ];
    for (text, status, needle) in cases {
        let (got, router) = from_text(text);
        assert_eq!(got, status, "{text:?}");
        assert!(router.is_none());
        assert!(
            last_error().contains(needle),
            "{} lacks {needle}",
            last_error()
        );
    }
}

#[test]
fn tickets_count_requests_and_outlive_the_router() {
    let h = build(&["a", "b", "c"], None);
    let info = |name: &str| {
        let mut info = std::mem::MaybeUninit::uninit();
        // SAFETY: live handle, readable name, writable info.
        let s =
            unsafe { ringroute_get_node_info(h.0, name.as_ptr(), name.len(), info.as_mut_ptr()) };
        assert_eq!(s, RINGROUTE_OK);
        // SAFETY: written on success.
        unsafe { info.assume_init() }
    };
    let mut node = 0;
    let mut ticket = null_mut();
    // SAFETY: live handle, readable key, writable outs.
    assert_eq!(
        unsafe { ringroute_lease(h.0, b"k".as_ptr(), 1, &mut node, &mut ticket) },
        RINGROUTE_OK
    );
    let name = ["a", "b", "c"][node as usize];
    assert_eq!(info(name).in_flight, 1);
    // SAFETY: a live ticket, finished once.
    assert_eq!(
        unsafe { ringroute_ticket_finish(ticket, 99, 0) },
        RINGROUTE_INVALID_ARGUMENT
    );
    assert_eq!((info(name).in_flight, info(name).successes), (0, 0));
    // SAFETY: as above.
    unsafe {
        assert_eq!(ringroute_start(h.0, node, &mut ticket), RINGROUTE_OK);
        assert_eq!(
            ringroute_ticket_finish(ticket, RINGROUTE_OUTCOME_SUCCESS, 120),
            RINGROUTE_OK
        );
    }
    assert_eq!(info(name).successes, 1);
    // SAFETY: as above; the router is freed before the ticket ends.
    unsafe {
        assert_eq!(ringroute_start(h.0, node, &mut ticket), RINGROUTE_OK);
        drop(h);
        assert_eq!(
            ringroute_ticket_finish(ticket, RINGROUTE_OUTCOME_FAILURE, 0),
            RINGROUTE_OK
        );
        ringroute_ticket_free(null_mut());
        ringroute_router_free(null_mut());
        ringroute_clock_free(null_mut());
    }
}

#[test]
fn every_algorithm_and_picker_is_reachable() {
    let mut config = std::mem::MaybeUninit::<ringroute_config>::uninit();
    // SAFETY: writable config.
    assert_eq!(
        unsafe { ringroute_config_default(config.as_mut_ptr()) },
        RINGROUTE_OK
    );
    // SAFETY: initialized by ringroute_config_default.
    let defaults = unsafe { config.assume_init() };
    for algorithm in [
        RINGROUTE_ALGORITHM_RING,
        RINGROUTE_ALGORITHM_JUMP,
        RINGROUTE_ALGORITHM_RENDEZVOUS,
        RINGROUTE_ALGORITHM_MAGLEV,
    ] {
        for picker in [
            RINGROUTE_PICKER_LEAST_CONNECTIONS,
            RINGROUTE_PICKER_LEAST_RESPONSE_TIME,
            RINGROUTE_PICKER_WEIGHTED_RANDOM,
            RINGROUTE_PICKER_ROUND_ROBIN,
            RINGROUTE_PICKER_SMOOTH_WEIGHTED,
        ] {
            let config = ringroute_config {
                algorithm,
                picker,
                ..defaults
            };
            let h = build(&["a", "b", "c"], Some(&config));
            assert!(route(&h, b"some key").is_ok_and(|n| n < 3));
            let (mut node, mut ticket) = (u32::MAX, null_mut());
            // SAFETY: live handle, writable outs; the ticket is finished once.
            unsafe {
                assert_eq!(ringroute_pick(h.0, &mut node, &mut ticket), RINGROUTE_OK);
                assert!(node < 3);
                assert_eq!(
                    ringroute_ticket_finish(ticket, RINGROUTE_OUTCOME_SUCCESS, 10),
                    RINGROUTE_OK
                );
            }
        }
    }
}
