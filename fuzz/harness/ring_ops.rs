//! Shared fuzz harness: a sequence of operations on a [`ringroute::Ring`],
//! decoded from raw bytes and checked after every step against a small
//! reference model.
//!
//! Compiled twice: by the `ring_ops` cargo-fuzz target
//! (`fuzz/fuzz_targets/ring_ops.rs`) and by the stable corpus replay test
//! (`core/tests/fuzz_corpus.rs`). It depends only on `ringroute` and `std`.
//!
//! # Input format
//!
//! Every byte string is a valid input; decoding stops at the end of the input
//! or after [`MAX_OPS`] operations.
//!
//! * vnodes: one byte `b`. `b < 200` selects `1 + b % 40`. Otherwise
//!   `SPECIAL_VNODES[(b - 200) % 8]`: the first five (0, `MAX_VNODES + 1`,
//!   `u32::MAX`, `2^20`, `MAX_VNODES`) are only *probed* (construction must be
//!   rejected, or accepted for `MAX_VNODES`) and another vnodes byte follows;
//!   the last three (64, 100, 48) are used.
//! * then ops, one selector byte each (`% 16`) followed by its arguments:
//!   a name byte (`< 192`: one of 12 common names, else one of 20 odd or extra
//!   names: empty, non-UTF-8, NUL, 100 bytes long, `g00`..`g14`), a weight
//!   byte (`% 16` into [`WEIGHTS`]: valid ones, 0, -0, -1, NaN, ±inf, 1e9), a
//!   key (length byte `% 9`, then the bytes), a replica count (`% 40`), ...
//!   See [`decode`] and [`encode`].
//!
//! # Checks
//!
//! After every op the ring is compared with the model (members, weights,
//! states, indices, point counts `max(1, round(vnodes × w))`), every lookup
//! (`route`, `route_hash`, `route_n`, `route_n_into`, `replicas`) is compared
//! with a naive walk over `points()`, an `Err` must be one the model predicts
//! and must leave points and routes unchanged, an `Ok` must move only the keys
//! the op may move, and periodically a fresh `Ring::builder()` ring (nodes in
//! another order) must have identical points and routes.

// The fuzz target only calls `run`; the replay test also uses the codec.
#![allow(dead_code)]

use std::fmt;

use ringroute::hash::key_hash;
use ringroute::place::ring::{MAX_POINTS, MAX_VNODES};
use ringroute::{Error, NodeIndex, NodeState, Ring};

/// Most ops decoded from one input.
pub const MAX_OPS: usize = 64;

const LONG_NAME: &[u8] = &[b'z'; 100];

/// Every node name an input can use. At most 31 nodes (the empty name is
/// always refused), which bounds the work per input.
pub const NAMES: [&[u8]; 32] = [
    // 0..12: common names.
    b"a",
    b"b",
    b"c",
    b"d",
    b"ab",
    b"cache-1",
    b"cache-2",
    b"cache-3",
    b"10.0.0.1:6379",
    b"10.0.0.2:6379",
    b"10.0.0.3:6379",
    "node/\u{3b1}".as_bytes(),
    // 12..17: odd names.
    b"",
    b"\xff\xfe\x00",
    b"\x00",
    b"\x80",
    LONG_NAME,
    // 17..32: extra names, so that more than 16 replicas can exist.
    b"g00",
    b"g01",
    b"g02",
    b"g03",
    b"g04",
    b"g05",
    b"g06",
    b"g07",
    b"g08",
    b"g09",
    b"g10",
    b"g11",
    b"g12",
    b"g13",
    b"g14",
];
const COMMON_NAMES: u8 = 12;
const NAME_COUNT: usize = NAMES.len();

/// Every weight an input can use.
pub const WEIGHTS: [f64; 16] = [
    1.0,
    0.5,
    2.5,
    2.0,
    0.75,
    1e-9,
    1.5,
    3.0,
    5e-324, // smallest subnormal: valid, one point
    0.0,
    -0.0,
    -1.0,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    1e9, // valid weight, too many points for any vnodes
];

/// Vnodes selected by bytes `200..`: the first [`PROBE_ONLY`] are only probed.
pub const SPECIAL_VNODES: [u32; 8] = [
    0,
    MAX_VNODES + 1,
    u32::MAX,
    1 << 20,
    MAX_VNODES,
    64,
    100,
    48,
];
const PROBE_ONLY: usize = 5;
/// Vnodes when the input ends before choosing.
const FALLBACK_VNODES: u32 = 8;

/// Probe keys whose routes are tracked across ops.
const PROBE_KEYS: usize = 32;
/// Probe keys that also get the full replica checks after every op.
const FULL_PROBE_KEYS: usize = 4;
/// Replicas the per-op probe checks compare: past the iterator's 16 inline
/// ones, but bounded, because it rescans its walked arc for each one after.
const PROBE_REPLICAS: usize = 18;
/// Ring points whose boundaries (`p - 1`, `p`, `p + 1`) are routed per check.
const BOUNDARY_POINTS: usize = 12;
/// Ops between two rebuild checks.
const REBUILD_EVERY: usize = 8;

/// A node name: an index into [`NAMES`].
#[derive(Copy, Clone, PartialEq, Eq)]
pub struct Name(pub u8);

impl Name {
    /// The name whose bytes are `bytes`; panics if it is not in [`NAMES`].
    pub fn of(bytes: &[u8]) -> Name {
        let i = NAMES.iter().position(|n| *n == bytes);
        Name(i.expect("not in NAMES") as u8)
    }

    pub fn bytes(self) -> &'static [u8] {
        NAMES[usize::from(self.0)]
    }

    fn decode(b: u8) -> Name {
        if b < 192 {
            Name(b % COMMON_NAMES)
        } else {
            Name(COMMON_NAMES + (b - 192) % (NAME_COUNT as u8 - COMMON_NAMES))
        }
    }

    fn encode(self) -> u8 {
        if self.0 < COMMON_NAMES {
            self.0
        } else {
            192 + self.0 - COMMON_NAMES
        }
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.bytes()))
    }
}

/// A weight: an index into [`WEIGHTS`].
#[derive(Copy, Clone, PartialEq, Eq)]
pub struct Weight(pub u8);

impl Weight {
    /// The weight with the same bits as `w`; panics if it is not in [`WEIGHTS`].
    pub fn of(w: f64) -> Weight {
        let i = WEIGHTS.iter().position(|x| x.to_bits() == w.to_bits());
        Weight(i.expect("not in WEIGHTS") as u8)
    }

    pub fn value(self) -> f64 {
        WEIGHTS[usize::from(self.0)]
    }
}

impl fmt::Debug for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.value())
    }
}

/// One decoded operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Add {
        name: Name,
        weight: Weight,
    },
    Remove {
        name: Name,
    },
    SetWeight {
        name: Name,
        weight: Weight,
    },
    MarkDown {
        name: Name,
    },
    MarkUp {
        name: Name,
    },
    SetState {
        name: Name,
        up: bool,
    },
    Route {
        key: Vec<u8>,
    },
    RouteN {
        key: Vec<u8>,
        n: u8,
    },
    RouteNInto {
        key: Vec<u8>,
        n: u8,
    },
    RouteHash {
        hash: u64,
    },
    /// Rebuild from the model with `Ring::builder()`, nodes rotated by `rotate`.
    Rebuild {
        rotate: u8,
    },
    /// Build the model's nodes plus one more; compare with `clone()` + `add`.
    BuildWith {
        name: Name,
        weight: Weight,
        at: u8,
    },
    /// Remove a node and add it back with the same weight.
    Readd {
        name: Name,
    },
}

const OP_ADD: u8 = 0;
const OP_REMOVE: u8 = 2;
const OP_SET_WEIGHT: u8 = 3;
const OP_MARK_DOWN: u8 = 4;
const OP_MARK_UP: u8 = 5;
const OP_SET_STATE: u8 = 6;
const OP_ROUTE: u8 = 7;
const OP_ROUTE_N: u8 = 8;
const OP_ROUTE_N_INTO: u8 = 9;
const OP_ROUTE_HASH: u8 = 10;
const OP_REBUILD: u8 = 11;
const OP_BUILD_WITH: u8 = 12;
const OP_READD: u8 = 14;

/// A decoded input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// Vnodes values only probed before the real ring is made.
    pub probes: Vec<u32>,
    /// Vnodes per unit weight of the ring under test.
    pub vnodes: u32,
    pub ops: Vec<Op>,
}

struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.data.len() < n {
            return None;
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Some(head)
    }

    fn name(&mut self) -> Option<Name> {
        self.byte().map(Name::decode)
    }

    fn weight(&mut self) -> Option<Weight> {
        self.byte().map(|b| Weight(b % WEIGHTS.len() as u8))
    }

    fn key(&mut self) -> Option<Vec<u8>> {
        let len = self.byte()? % 9;
        self.bytes(usize::from(len)).map(<[u8]>::to_vec)
    }

    fn op(&mut self) -> Option<Op> {
        Some(match self.byte()? % 16 {
            0 | 1 | 13 => Op::Add {
                name: self.name()?,
                weight: self.weight()?,
            },
            2 => Op::Remove { name: self.name()? },
            3 | 15 => Op::SetWeight {
                name: self.name()?,
                weight: self.weight()?,
            },
            4 => Op::MarkDown { name: self.name()? },
            5 => Op::MarkUp { name: self.name()? },
            6 => Op::SetState {
                name: self.name()?,
                up: self.byte()? & 1 == 0,
            },
            7 => Op::Route { key: self.key()? },
            8 => Op::RouteN {
                key: self.key()?,
                n: self.byte()? % 40,
            },
            9 => Op::RouteNInto {
                key: self.key()?,
                n: self.byte()? % 40,
            },
            10 => Op::RouteHash {
                hash: u64::from_le_bytes(self.bytes(8)?.try_into().unwrap()),
            },
            11 => Op::Rebuild {
                rotate: self.byte()?,
            },
            12 => Op::BuildWith {
                name: self.name()?,
                weight: self.weight()?,
                at: self.byte()?,
            },
            _ => Op::Readd { name: self.name()? },
        })
    }
}

/// Decodes an input. Never fails: a truncated op is dropped.
pub fn decode(data: &[u8]) -> Program {
    let mut c = Cursor { data };
    let mut probes = Vec::new();
    let vnodes = loop {
        let Some(b) = c.byte() else {
            return Program {
                probes,
                vnodes: FALLBACK_VNODES,
                ops: Vec::new(),
            };
        };
        if b < 200 {
            break 1 + u32::from(b % 40);
        }
        let i = usize::from(b - 200) % SPECIAL_VNODES.len();
        if i < PROBE_ONLY {
            probes.push(SPECIAL_VNODES[i]);
        } else {
            break SPECIAL_VNODES[i];
        }
    };
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS {
        match c.op() {
            Some(op) => ops.push(op),
            None => break,
        }
    }
    Program {
        probes,
        vnodes,
        ops,
    }
}

/// Encodes a program so that [`decode`] gives it back (for the seed corpus).
pub fn encode(program: &Program) -> Vec<u8> {
    let special = |v: u32| SPECIAL_VNODES.iter().position(|&s| s == v);
    let mut out = Vec::new();
    for &v in &program.probes {
        let i = special(v).filter(|&i| i < PROBE_ONLY);
        out.push(200 + i.expect("not a probe-only vnodes value") as u8);
    }
    if (1..=40).contains(&program.vnodes) {
        out.push((program.vnodes - 1) as u8);
    } else {
        let i = special(program.vnodes).filter(|&i| i >= PROBE_ONLY);
        out.push(200 + i.expect("vnodes not encodable") as u8);
    }
    for op in &program.ops {
        let key = |out: &mut Vec<u8>, key: &[u8]| {
            assert!(key.len() <= 8, "keys are at most 8 bytes");
            out.push(key.len() as u8);
            out.extend_from_slice(key);
        };
        match op {
            Op::Add { name, weight } => out.extend([OP_ADD, name.encode(), weight.0]),
            Op::Remove { name } => out.extend([OP_REMOVE, name.encode()]),
            Op::SetWeight { name, weight } => {
                out.extend([OP_SET_WEIGHT, name.encode(), weight.0]);
            }
            Op::MarkDown { name } => out.extend([OP_MARK_DOWN, name.encode()]),
            Op::MarkUp { name } => out.extend([OP_MARK_UP, name.encode()]),
            Op::SetState { name, up } => {
                out.extend([OP_SET_STATE, name.encode(), u8::from(!*up)]);
            }
            Op::Route { key: k } => {
                out.push(OP_ROUTE);
                key(&mut out, k);
            }
            Op::RouteN { key: k, n } | Op::RouteNInto { key: k, n } => {
                assert!(*n < 40, "replica counts are below 40");
                let code = if matches!(op, Op::RouteN { .. }) {
                    OP_ROUTE_N
                } else {
                    OP_ROUTE_N_INTO
                };
                out.push(code);
                key(&mut out, k);
                out.push(*n);
            }
            Op::RouteHash { hash } => {
                out.push(OP_ROUTE_HASH);
                out.extend(hash.to_le_bytes());
            }
            Op::Rebuild { rotate } => out.extend([OP_REBUILD, *rotate]),
            Op::BuildWith { name, weight, at } => {
                out.extend([OP_BUILD_WITH, name.encode(), weight.0, *at]);
            }
            Op::Readd { name } => out.extend([OP_READD, name.encode()]),
        }
    }
    out
}

/// The decoded form of an input, for failure reports.
pub fn describe(data: &[u8]) -> String {
    format!("{:#?}", decode(data))
}

/// Decodes and runs one input, panicking on the first broken invariant.
pub fn run(data: &[u8]) {
    execute(&decode(data));
}

/// Runs a decoded program.
pub fn execute(program: &Program) {
    for &v in &program.probes {
        probe_vnodes(v);
    }
    let mut h = Harness::new(program.vnodes);
    for (step, op) in program.ops.iter().enumerate() {
        h.step = step;
        h.apply(op);
        if step % REBUILD_EVERY == REBUILD_EVERY - 1 {
            h.rebuild(step);
        }
    }
    h.step = program.ops.len();
    h.rebuild(program.ops.len());
}

// ---------------------------------------------------------------------------
// The reference model.

fn valid_weight(w: f64) -> bool {
    w.is_finite() && w > 0.0
}

/// `max(1, round(vnodes × weight))` for a valid weight, or `Err(requested)`
/// when that alone is more than [`MAX_POINTS`].
fn expected_points(vnodes: u32, weight: f64) -> Result<u64, u64> {
    let exact = (f64::from(vnodes) * weight).round();
    if exact > MAX_POINTS as f64 {
        Err(exact as u64)
    } else {
        Ok((exact as u64).max(1))
    }
}

#[derive(Clone, Copy, Debug)]
struct Member {
    weight: f64,
    up: bool,
    /// The index the ring under test gave it.
    index: NodeIndex,
}

#[derive(Clone)]
struct Model {
    vnodes: u32,
    members: [Option<Member>; NAME_COUNT],
}

impl Model {
    fn get(&self, name: Name) -> Option<Member> {
        self.members[usize::from(name.0)]
    }

    fn set(&mut self, name: Name, member: Option<Member>) {
        self.members[usize::from(name.0)] = member;
    }

    fn iter(&self) -> impl Iterator<Item = (Name, Member)> + '_ {
        self.members
            .iter()
            .enumerate()
            .filter_map(|(i, m)| Some((Name(i as u8), (*m)?)))
    }

    fn len(&self) -> usize {
        self.iter().count()
    }

    fn up_count(&self) -> usize {
        self.iter().filter(|(_, m)| m.up).count()
    }

    fn points_of(&self, weight: f64) -> u64 {
        expected_points(self.vnodes, weight).expect("members have a valid point count")
    }

    fn total_points(&self) -> u64 {
        self.iter().map(|(_, m)| self.points_of(m.weight)).sum()
    }

    /// The errors `add(name, weight)` may report; empty when it must succeed.
    fn add_errors(&self, name: Name, weight: f64) -> Vec<Expect> {
        let mut errs = Vec::new();
        if name.bytes().is_empty() {
            errs.push(Expect::EmptyName);
        }
        if !valid_weight(weight) {
            errs.push(Expect::InvalidWeight(weight));
        } else {
            match expected_points(self.vnodes, weight) {
                Err(requested) => errs.push(Expect::TooManyPoints(requested)),
                Ok(count) => {
                    let total = self.total_points() + count;
                    if total > MAX_POINTS {
                        errs.push(Expect::TooManyPoints(total));
                    }
                }
            }
        }
        if self.get(name).is_some() {
            errs.push(Expect::DuplicateNode(name));
        }
        errs
    }

    /// The errors `set_weight(name, weight)` may report.
    fn set_weight_errors(&self, name: Name, weight: f64) -> Vec<Expect> {
        let mut errs = Vec::new();
        let member = self.get(name);
        if member.is_none() {
            errs.push(Expect::UnknownNode(name));
        }
        if !valid_weight(weight) {
            errs.push(Expect::InvalidWeight(weight));
        } else {
            match expected_points(self.vnodes, weight) {
                Err(requested) => errs.push(Expect::TooManyPoints(requested)),
                Ok(new) => {
                    if let Some(m) = member {
                        let old = self.points_of(m.weight);
                        let total = self.total_points() - old + new;
                        if new > old && total > MAX_POINTS {
                            errs.push(Expect::TooManyPoints(total));
                        }
                    }
                }
            }
        }
        errs
    }

    fn unknown_errors(&self, name: Name) -> Vec<Expect> {
        match self.get(name) {
            Some(_) => Vec::new(),
            None => vec![Expect::UnknownNode(name)],
        }
    }
}

/// An error the model predicts.
#[derive(Debug)]
enum Expect {
    EmptyName,
    InvalidWeight(f64),
    DuplicateNode(Name),
    UnknownNode(Name),
    TooManyPoints(u64),
}

impl Expect {
    fn matches(&self, e: &Error) -> bool {
        match (self, e) {
            (Expect::EmptyName, Error::EmptyName) => true,
            (Expect::InvalidWeight(w), Error::InvalidWeight(x)) => w.to_bits() == x.to_bits(),
            (Expect::DuplicateNode(n), Error::DuplicateNode(x)) => **x == *n.bytes(),
            (Expect::UnknownNode(n), Error::UnknownNode(x)) => **x == *n.bytes(),
            (Expect::TooManyPoints(r), Error::TooManyPoints { requested, max }) => {
                requested == r && *max == MAX_POINTS
            }
            _ => false,
        }
    }
}

/// What an op did, for the movement checks.
#[derive(Debug)]
enum Change {
    /// Nothing may have changed: a query, or an op that returned `Err`.
    None,
    Added(Name),
    Removed(Name),
    Reweighted {
        name: Name,
        old: u64,
        new: u64,
    },
    State {
        name: Name,
        was_up: bool,
        up: bool,
    },
    Readded {
        name: Name,
        was_up: bool,
    },
}

/// A snapshot of a ring, by name ids rather than indices so that rings with
/// different index assignments compare.
struct View {
    /// `points()` with owners as name ids.
    points: Vec<(u64, u8)>,
    /// `route` of every probe key.
    routes: Vec<Option<u8>>,
    up: [bool; NAME_COUNT],
    up_count: usize,
    /// Node index → name id.
    ids: Vec<Option<u8>>,
}

impl View {
    fn id(&self, index: NodeIndex) -> u8 {
        let id = self.ids.get(index.as_usize()).copied().flatten();
        id.unwrap_or_else(|| panic!("{index:?} is not a member"))
    }

    fn ids(&self, indices: &[NodeIndex]) -> Vec<u8> {
        indices.iter().map(|&i| self.id(i)).collect()
    }

    /// The reference lookup: up to `n` distinct up owners in ring order from
    /// the first point at or after `hash`, by a plain walk over `points()`.
    fn walk(&self, hash: u64, n: usize) -> Vec<u8> {
        let len = self.points.len();
        let mut out = Vec::new();
        if len == 0 || n == 0 {
            return out;
        }
        let start = self.points.partition_point(|p| p.0 < hash) % len;
        let mut seen = [false; NAME_COUNT];
        for k in 0..len {
            let id = self.points[(start + k) % len].1;
            let id_seen = &mut seen[usize::from(id)];
            if self.up[usize::from(id)] && !*id_seen {
                *id_seen = true;
                out.push(id);
                if out.len() == n {
                    break;
                }
            }
        }
        out
    }

    fn points_of(&self, name: Name) -> Vec<(u64, u8)> {
        self.points
            .iter()
            .copied()
            .filter(|p| p.1 == name.0)
            .collect()
    }

    fn points_without(&self, name: Name) -> Vec<(u64, u8)> {
        self.points
            .iter()
            .copied()
            .filter(|p| p.1 != name.0)
            .collect()
    }
}

fn is_subsequence<T: PartialEq>(small: &[T], big: &[T]) -> bool {
    let mut it = big.iter();
    small.iter().all(|s| it.any(|b| b == s))
}

fn state_of(up: bool) -> NodeState {
    if up { NodeState::Up } else { NodeState::Down }
}

fn probe_keys() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = (0..PROBE_KEYS - 4)
        .map(|i| format!("key-{i}").into_bytes())
        .collect();
    keys.push(Vec::new());
    keys.push(vec![0]);
    keys.push(vec![0xff; 4]);
    keys.push(b"session:7f3a/user:42/a-rather-long-key".to_vec());
    keys
}

/// Checks `points_for` of every weight in [`WEIGHTS`] against the model.
fn check_points_for(ring: &Ring) {
    let vnodes = ring.vnodes();
    for w in WEIGHTS {
        let got = ring.points_for(w);
        let ok = match (&got, valid_weight(w), expected_points(vnodes, w)) {
            (Err(Error::InvalidWeight(x)), false, _) => x.to_bits() == w.to_bits(),
            (Ok(n), true, Ok(want)) => u64::from(*n) == want,
            (Err(e), true, Err(requested)) => Expect::TooManyPoints(requested).matches(e),
            _ => false,
        };
        assert!(ok, "points_for({w:?}) with vnodes {vnodes} gave {got:?}");
    }
}

/// Vnodes outside `1..=MAX_VNODES` are refused by `with_vnodes` and by the
/// builder; `MAX_VNODES` itself is accepted.
fn probe_vnodes(v: u32) {
    let valid = (1..=MAX_VNODES).contains(&v);
    let is_refusal = |e: &Error| matches!(e, Error::InvalidVnodes(x) if *x == u64::from(v));
    match Ring::<()>::with_vnodes(v) {
        Ok(ring) => {
            assert!(valid, "with_vnodes({v}) accepted");
            assert_eq!(ring.vnodes(), v);
            assert!(ring.is_empty() && ring.point_count() == 0);
            check_points_for(&ring);
        }
        Err(e) => assert!(!valid && is_refusal(&e), "with_vnodes({v}) gave {e:?}"),
    }
    // A weight small enough that even MAX_VNODES gives a single point.
    match Ring::<()>::builder().vnodes(v).node("a", 1e-9).build() {
        Ok(ring) => {
            assert!(valid, "builder accepted vnodes {v}");
            assert_eq!((ring.vnodes(), ring.len(), ring.point_count()), (v, 1, 1));
        }
        Err(e) => assert!(
            !valid && is_refusal(&e),
            "builder with vnodes {v} gave {e:?}"
        ),
    }
}

// ---------------------------------------------------------------------------
// The harness.

struct Harness {
    ring: Ring,
    model: Model,
    /// The view after the previous op.
    view: View,
    probes: Vec<Vec<u8>>,
    /// `(node, routes before it went down)` while only no-ops followed.
    pending_down: Option<(Name, Vec<Option<u8>>)>,
    step: usize,
}

impl Harness {
    fn new(vnodes: u32) -> Harness {
        let ring = Ring::with_vnodes(vnodes).expect("valid vnodes");
        assert_eq!(ring.vnodes(), vnodes);
        check_points_for(&ring);
        let model = Model {
            vnodes,
            members: [None; NAME_COUNT],
        };
        let probes = probe_keys();
        let view = observe(&ring, &model, &probes);
        assert!(view.routes.iter().all(Option::is_none));
        Harness {
            ring,
            model,
            view,
            probes,
            pending_down: None,
            step: 0,
        }
    }

    /// `Some(value)` if `result` is `Ok` and the model expected no error;
    /// `None` if it is one of the expected errors; panics otherwise.
    fn outcome<T>(&self, op: &Op, result: Result<T, Error>, errs: &[Expect]) -> Option<T> {
        match result {
            Ok(value) => {
                assert!(
                    errs.is_empty(),
                    "step {}: {op:?} succeeded, expected one of {errs:?}",
                    self.step
                );
                Some(value)
            }
            Err(e) => {
                assert!(
                    errs.iter().any(|x| x.matches(&e)),
                    "step {}: {op:?} failed with {e:?}, expected {}",
                    self.step,
                    if errs.is_empty() {
                        "success".to_owned()
                    } else {
                        format!("one of {errs:?}")
                    }
                );
                None
            }
        }
    }

    fn apply(&mut self, op: &Op) {
        let change = self.mutate(op);
        for (name, m) in self.model.iter() {
            assert_eq!(
                self.ring.index_of(name.bytes()),
                Some(m.index),
                "step {}: {op:?}: index of {name:?} changed",
                self.step
            );
        }
        let after = observe(&self.ring, &self.model, &self.probes);
        self.check_movement(op, &change, &after);
        self.view = after;
        self.query(op);
    }

    /// Applies `op` to the ring and, when it succeeds, to the model.
    fn mutate(&mut self, op: &Op) -> Change {
        match *op {
            Op::Add { name, weight } => {
                let w = weight.value();
                let errs = self.model.add_errors(name, w);
                let result = self.ring.add(name.bytes(), w);
                let Some(index) = self.outcome(op, result, &errs) else {
                    return Change::None;
                };
                let member = Member {
                    weight: w,
                    up: true,
                    index,
                };
                self.model.set(name, Some(member));
                Change::Added(name)
            }
            Op::Remove { name } => {
                let errs = self.model.unknown_errors(name);
                let result = self.ring.remove(name.bytes());
                let Some(node) = self.outcome(op, result, &errs) else {
                    return Change::None;
                };
                let m = self.model.get(name).unwrap();
                assert_eq!(node.name(), name.bytes(), "step {}: {op:?}", self.step);
                assert_eq!(node.weight().to_bits(), m.weight.to_bits());
                assert_eq!(node.state(), state_of(m.up));
                self.model.set(name, None);
                Change::Removed(name)
            }
            Op::SetWeight { name, weight } => {
                let w = weight.value();
                let errs = self.model.set_weight_errors(name, w);
                let result = self.ring.set_weight(name.bytes(), w);
                self.outcome(op, result, &errs).map_or(Change::None, |()| {
                    let mut m = self.model.get(name).unwrap();
                    let old = self.model.points_of(m.weight);
                    m.weight = w;
                    self.model.set(name, Some(m));
                    Change::Reweighted {
                        name,
                        old,
                        new: self.model.points_of(w),
                    }
                })
            }
            Op::MarkDown { name } | Op::MarkUp { name } | Op::SetState { name, .. } => {
                let errs = self.model.unknown_errors(name);
                let (result, up) = match *op {
                    Op::MarkDown { .. } => {
                        (self.ring.mark_down(name.bytes()).map(|()| None), false)
                    }
                    Op::MarkUp { .. } => (self.ring.mark_up(name.bytes()).map(|()| None), true),
                    Op::SetState { up, .. } => {
                        let result = self.ring.set_state(name.bytes(), state_of(up));
                        (result.map(Some), up)
                    }
                    _ => unreachable!(),
                };
                let Some(previous) = self.outcome(op, result, &errs) else {
                    return Change::None;
                };
                let mut m = self.model.get(name).unwrap();
                if let Some(previous) = previous {
                    assert_eq!(previous, state_of(m.up), "step {}: {op:?}", self.step);
                }
                let was_up = m.up;
                m.up = up;
                self.model.set(name, Some(m));
                Change::State { name, was_up, up }
            }
            Op::Readd { name } => {
                let Some(m) = self.model.get(name) else {
                    let result = self.ring.remove(name.bytes());
                    self.outcome(op, result, &self.model.unknown_errors(name));
                    return Change::None;
                };
                let removed = self.ring.remove(name.bytes());
                let removed = self.outcome(op, removed, &[]).unwrap();
                assert_eq!(removed.name(), name.bytes());
                let index = self.ring.add(name.bytes(), m.weight);
                let index = self.outcome(op, index, &[]).unwrap();
                let member = Member {
                    weight: m.weight,
                    up: true,
                    index,
                };
                self.model.set(name, Some(member));
                Change::Readded { name, was_up: m.up }
            }
            Op::Route { .. }
            | Op::RouteN { .. }
            | Op::RouteNInto { .. }
            | Op::RouteHash { .. }
            | Op::Rebuild { .. }
            | Op::BuildWith { .. } => Change::None,
        }
    }

    /// The checks of the query ops, on the current ring.
    fn query(&self, op: &Op) {
        let view = &self.view;
        match op {
            Op::Route { key } => check_key(&self.ring, view, key, 1, usize::MAX),
            Op::RouteN { key, n } => check_key(&self.ring, view, key, usize::from(*n), usize::MAX),
            Op::RouteNInto { key, n } => {
                check_key(&self.ring, view, key, 0, usize::MAX);
                check_hash(&self.ring, view, key_hash(key), usize::from(*n), usize::MAX);
            }
            Op::RouteHash { hash } => {
                let n = usize::from(hash.to_le_bytes()[0] % 40);
                check_hash(&self.ring, view, *hash, n, usize::MAX);
                for h in [hash.wrapping_sub(1), !hash] {
                    check_hash(&self.ring, view, h, n, PROBE_REPLICAS);
                }
            }
            Op::Rebuild { rotate } => self.rebuild(usize::from(*rotate)),
            Op::BuildWith { name, weight, at } => self.build_with(op, *name, *weight, *at),
            _ => {}
        }
    }

    fn check_movement(&mut self, op: &Op, change: &Change, after: &View) {
        let before = &self.view;
        let step = self.step;
        let moved = |allowed: &dyn Fn(Option<u8>, Option<u8>) -> bool| {
            for (k, (b, a)) in before.routes.iter().zip(&after.routes).enumerate() {
                assert!(
                    allowed(*b, *a),
                    "step {step}: {op:?}: probe key {:?} moved from {:?} to {:?}",
                    String::from_utf8_lossy(&self.probes[k]),
                    b.map(Name),
                    a.map(Name),
                );
            }
        };
        let same_points = || {
            assert!(
                before.points == after.points,
                "step {step}: {op:?}: points changed"
            );
        };
        let others_kept = |x: Name| {
            assert!(
                before.points_without(x) == after.points_without(x),
                "step {step}: {op:?}: points of other nodes changed"
            );
        };
        let x_of = |x: Name| Some(x.0);
        match *change {
            Change::None => {
                same_points();
                moved(&|b, a| a == b);
            }
            Change::Added(x) => {
                others_kept(x);
                moved(&|b, a| a == b || a == x_of(x));
            }
            Change::Removed(x) => {
                others_kept(x);
                moved(&|b, a| b == x_of(x) || a == b);
            }
            Change::Reweighted { name: x, old, new } => {
                others_kept(x);
                let (bx, ax) = (before.points_of(x), after.points_of(x));
                if new >= old {
                    assert!(is_subsequence(&bx, &ax), "step {step}: {op:?}: lost points");
                    moved(&|b, a| a == b || a == x_of(x));
                } else {
                    assert!(is_subsequence(&ax, &bx), "step {step}: {op:?}: new points");
                    moved(&|b, a| b == x_of(x) || a == b);
                }
            }
            Change::State {
                name: x,
                was_up,
                up,
            } => {
                same_points();
                if was_up == up {
                    moved(&|b, a| a == b);
                } else if !up {
                    moved(&|b, a| b == x_of(x) || a == b);
                } else {
                    moved(&|b, a| a == b || a == x_of(x));
                }
            }
            Change::Readded { name: x, was_up } => {
                same_points();
                if was_up {
                    moved(&|b, a| a == b);
                } else {
                    moved(&|b, a| a == b || a == x_of(x));
                }
            }
        }
        // Down then up again, with no change in between: every key is back.
        match *change {
            Change::None => {}
            Change::State {
                name,
                was_up: true,
                up: false,
            } => self.pending_down = Some((name, before.routes.clone())),
            Change::State {
                name,
                was_up: false,
                up: true,
            } => {
                if let Some((x, routes)) = self.pending_down.take() {
                    if x == name {
                        assert!(
                            after.routes == routes,
                            "step {step}: {op:?}: keys did not return to {name:?}"
                        );
                    }
                }
            }
            // Setting a state a node already has changes nothing.
            Change::State { .. } => {}
            _ => self.pending_down = None,
        }
    }

    /// Placement depends only on the members: a fresh ring from the builder
    /// (nodes in another order, down ones built down) and a clone match.
    fn rebuild(&self, rotate: usize) {
        let mut names: Vec<Name> = self.model.iter().map(|(n, _)| n).collect();
        if !names.is_empty() {
            let len = names.len();
            names.rotate_left(rotate % len);
        }
        if rotate % 2 == 1 {
            names.reverse();
        }
        let builder = names
            .iter()
            .fold(Ring::builder().vnodes(self.model.vnodes), |b, &name| {
                let m = self.model.get(name).unwrap();
                b.node_in_state(name.bytes(), m.weight, state_of(m.up), ())
            });
        let built = builder
            .build()
            .unwrap_or_else(|e| panic!("step {}: rebuilding {names:?} failed: {e:?}", self.step));
        let view = observe(&built, &self.model, &self.probes);
        assert!(
            view.points == self.view.points,
            "step {}: a rebuilt ring has other points",
            self.step
        );
        assert!(
            view.routes == self.view.routes,
            "step {}: a rebuilt ring routes differently",
            self.step
        );
        assert_eq!(ownership(&built, &view), ownership(&self.ring, &self.view));

        let clone = self.ring.clone();
        let view = observe(&clone, &self.model, &self.probes);
        assert!(view.points == self.view.points && view.routes == self.view.routes);
    }

    /// The builder with one more node either fails as `add` would, or builds
    /// what `clone()` + `add` gives.
    fn build_with(&self, op: &Op, name: Name, weight: Weight, at: u8) {
        let w = weight.value();
        let errs = self.model.add_errors(name, w);
        let mut names: Vec<Name> = self.model.iter().map(|(n, _)| n).collect();
        if !names.is_empty() {
            let len = names.len();
            names.rotate_left(usize::from(at) % len);
        }
        names.insert(usize::from(at) % (names.len() + 1), name);
        let mut builder = Ring::builder().vnodes(self.model.vnodes);
        let mut extra_added = false;
        for &n in &names {
            builder = match self.model.get(n) {
                // The extra node: the first time its name comes up.
                _ if n == name && !extra_added => {
                    extra_added = true;
                    builder.node_with(n.bytes(), w, ())
                }
                Some(m) => builder.node_in_state(n.bytes(), m.weight, state_of(m.up), ()),
                None => unreachable!(),
            };
        }
        let Some(built) = self.outcome(op, builder.build(), &errs) else {
            return;
        };
        let mut model = self.model.clone();
        let mut grown = self.ring.clone();
        let index = grown
            .add(name.bytes(), w)
            .expect("add after a build succeeded");
        let member = Member {
            weight: w,
            up: true,
            index,
        };
        model.set(name, Some(member));
        let (a, b) = (
            observe(&built, &model, &self.probes),
            observe(&grown, &model, &self.probes),
        );
        assert!(
            a.points == b.points && a.routes == b.routes,
            "step {}: {op:?}: builder and clone + add differ",
            self.step
        );
    }
}

/// Checks `ownership()` against the arcs of the points (so the shares sum to
/// 1) and returns it by name id. O(points), so only done with the rebuilds.
fn ownership(ring: &Ring, view: &View) -> Vec<(u8, u64)> {
    let own = ring.ownership();
    assert_eq!(own.len(), ring.len());
    let mut arcs = [0u128; NAME_COUNT];
    if let Some(&(last, _)) = view.points.last() {
        let mut prev = last;
        for (k, &(p, id)) in view.points.iter().enumerate() {
            // The arc (prev, p] belongs to p's owner; the first one wraps.
            let arc = if k == 0 {
                u128::from(p) + (1u128 << 64) - u128::from(prev)
            } else {
                u128::from(p - prev)
            };
            arcs[usize::from(id)] += arc;
            prev = p;
        }
    }
    let mut sum = 0.0;
    for &(index, share) in &own {
        let want = arcs[usize::from(view.id(index))] as f64 / (1u128 << 64) as f64;
        assert!((share - want).abs() <= 1e-12, "ownership {share} != {want}");
        sum += share;
    }
    assert!(
        own.is_empty() || (sum - 1.0).abs() < 1e-9,
        "ownership sums to {sum}"
    );
    let mut own: Vec<(u8, u64)> = own
        .into_iter()
        .map(|(i, share)| (view.id(i), share.to_bits()))
        .collect();
    own.sort_unstable();
    own
}

/// Checks every invariant that holds of one ring and returns its view.
fn observe(ring: &Ring, model: &Model, probes: &[Vec<u8>]) -> View {
    // Membership.
    assert_eq!(ring.len(), model.len(), "len");
    assert_eq!(ring.is_empty(), model.len() == 0, "is_empty");
    assert_eq!(ring.up_count(), model.up_count(), "up_count");
    let mut ids = vec![None; ring.nodes().capacity()];
    let mut up = [false; NAME_COUNT];
    for (name, m) in model.iter() {
        let index = ring.index_of(name.bytes());
        let index = index.unwrap_or_else(|| panic!("member {name:?} is missing"));
        let node = ring.node(index).expect("index_of gave a live index");
        assert_eq!(node.name(), name.bytes());
        assert_eq!(
            node.weight().to_bits(),
            m.weight.to_bits(),
            "weight of {name:?}"
        );
        assert_eq!(node.state(), state_of(m.up), "state of {name:?}");
        assert_eq!(node.is_up(), m.up);
        assert_eq!(ring.nodes().is_up(index), m.up);
        assert!(ring.contains(name.bytes()));
        assert!(
            ring.get(name.bytes())
                .is_some_and(|n| n.name() == name.bytes())
        );
        ids[index.as_usize()] = Some(name.0);
        up[usize::from(name.0)] = m.up;
    }
    for id in 0..NAME_COUNT as u8 {
        let name = Name(id);
        if model.get(name).is_none() {
            assert!(
                !ring.contains(name.bytes()),
                "non-member {name:?} is in the ring"
            );
            assert!(ring.get(name.bytes()).is_none());
        }
    }
    assert_eq!(ring.iter().count(), model.len());
    for (index, node) in ring.iter() {
        let id = ids.get(index.as_usize()).copied().flatten();
        assert!(
            id.is_some_and(|id| Name(id).bytes() == node.name()),
            "iter gave {index:?}"
        );
    }

    // Points: sorted by (point, owner name), each member has its count.
    let mut view = View {
        points: Vec::new(),
        routes: Vec::new(),
        up,
        up_count: model.up_count(),
        ids,
    };
    let points = ring.points();
    assert_eq!(points.len(), ring.point_count());
    view.points = points.map(|(p, i)| (p, view.id(i))).collect();
    assert_eq!(view.points.len(), ring.point_count());
    assert_eq!(
        ring.point_count() as u64,
        model.total_points(),
        "point_count"
    );
    for w in view.points.windows(2) {
        let ((p, a), (q, b)) = (w[0], w[1]);
        let ordered = p < q || (p == q && (a == b || Name(a).bytes() < Name(b).bytes()));
        assert!(ordered, "points out of order: {:?}", w);
    }
    let mut counts = [0u64; NAME_COUNT];
    for &(_, id) in &view.points {
        counts[usize::from(id)] += 1;
    }
    for (name, m) in model.iter() {
        let want = model.points_of(m.weight);
        assert_eq!(
            counts[usize::from(name.0)],
            want,
            "points of {name:?} (w = {})",
            m.weight
        );
    }

    // Lookups against the reference walk.
    view.routes = probes
        .iter()
        .map(|key| {
            let got = ring.route(key).map(|i| view.id(i));
            let want = view.walk(key_hash(key), 1).first().copied();
            assert_eq!(got, want, "route({:?})", String::from_utf8_lossy(key));
            got
        })
        .collect();
    for key in &probes[..FULL_PROBE_KEYS] {
        check_key(ring, &view, key, 2, PROBE_REPLICAS);
    }
    let len = view.points.len();
    let stride = (len / BOUNDARY_POINTS).max(1);
    let boundaries = view.points.iter().step_by(stride).map(|p| p.0);
    for p in boundaries.chain([0, u64::MAX]) {
        for h in [p.wrapping_sub(1), p, p.wrapping_add(1)] {
            let got = ring.route_hash(h).map(|i| view.id(i));
            assert_eq!(got, view.walk(h, 1).first().copied(), "route_hash({h:#x})");
        }
    }
    view
}

/// Every lookup of `key` against the reference walk. `n` is a replica count
/// for `route_n`; replica lists are compared up to `replicas` answers (all of
/// them with `usize::MAX`), since long ones cost the iterator quadratic time.
fn check_key(ring: &Ring, view: &View, key: &[u8], n: usize, replicas: usize) {
    let hash = key_hash(key);
    check_hash(ring, view, hash, n, replicas);
    let up = view.up_count;
    let limit = replicas.min(up);
    let want = view.walk(hash, limit.max(n).max(1));
    let shown = String::from_utf8_lossy(key);
    let route = ring.route(key);
    assert_eq!(route, ring.route_hash(hash));
    let route_id = route.map(|i| view.id(i));
    assert_eq!(route_id, want.first().copied(), "route({shown:?})");
    match ring.try_route(key) {
        Ok(i) => assert_eq!(Some(i), route),
        Err(e) => {
            assert!(route.is_none());
            let empty = ring.is_empty();
            assert_eq!(
                e,
                if empty {
                    Error::EmptyRing
                } else {
                    Error::NoNodeUp
                }
            );
        }
    }
    assert_eq!(
        ring.route_node(key).map(|node| node.name()),
        route.map(|i| ring[i].name())
    );
    let all_or_limit = if replicas >= up { up + 1 } else { limit };
    for n in [n, all_or_limit] {
        let got = ring.route_n(key, n);
        assert_eq!(view.ids(&got), want[..n.min(up)], "route_n({shown:?}, {n})");
    }
    let iter = ring.replicas(key);
    assert_eq!(iter.size_hint().1, Some(up));
    let got: Vec<NodeIndex> = iter.take(replicas).collect();
    assert_eq!(view.ids(&got), want[..limit], "replicas({shown:?})");
}

/// The hash-level lookups: `route_hash`, `replicas_hash` (its first
/// `replicas` answers, and that it is fused when that is all of them), and
/// `route_n_hash_into` with room for `n` and for all (or `replicas`), never
/// writing past what it reports.
fn check_hash(ring: &Ring, view: &View, hash: u64, n: usize, replicas: usize) {
    let up = view.up_count;
    let limit = replicas.min(up);
    let want = view.walk(hash, limit.max(n).max(1));
    let route = ring.route_hash(hash).map(|i| view.id(i));
    assert_eq!(route, want.first().copied(), "route_hash({hash:#x})");

    let mut it = ring.replicas_hash(hash);
    let got: Vec<NodeIndex> = it.by_ref().take(replicas).collect();
    assert_eq!(view.ids(&got), want[..limit], "replicas_hash({hash:#x})");
    if replicas >= up {
        assert_eq!(it.next(), None, "replicas past the last up node");
        assert_eq!(it.next(), None, "replicas are fused");
    }

    let sentinel = NodeIndex::new(u32::MAX);
    let all_or_limit = if replicas >= up { up + 2 } else { limit };
    for room in [n, all_or_limit] {
        let mut out = vec![sentinel; room];
        let wrote = ring.route_n_hash_into(hash, &mut out);
        assert_eq!(wrote, room.min(up), "route_n_hash_into({hash:#x}, {room})");
        assert_eq!(view.ids(&out[..wrote]), want[..wrote]);
        let untouched = out[wrote..].iter().all(|&i| i == sentinel);
        assert!(untouched, "route_n_hash_into wrote past its count");
    }
}
