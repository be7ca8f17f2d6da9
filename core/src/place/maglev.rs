//! Maglev hashing (Eisenbud et al., *Maglev: A Fast and Reliable Software
//! Network Load Balancer*, NSDI 2016, §3.4): a lookup table of prime size
//! `M` in which every node owns a share of the slots proportional to its
//! weight. A lookup is one multiply and one array read.
//!
//! # The fill
//!
//! Each node has a preference list over the `M` slots, the permutation
//! `offset, offset + skip, offset + 2·skip, ... (mod M)`; because `M` is
//! prime and `1 <= skip < M`, the list visits every slot exactly once. The
//! table is filled in rounds: in each round every node, in a fixed order,
//! claims the next slot of its list that nobody holds yet, until all `M`
//! slots are taken. Equal weights therefore give every node `⌊M/N⌋` or
//! `⌈M/N⌉` slots.
//!
//! Weights follow Envoy's `maglev_lb.cc` round structure exactly: a node of
//! relative weight `w` (its weight divided by the largest weight) takes part
//! in round `r` only when `r·w ≥ target`, and each turn it takes adds the
//! largest weight to its `target`. Every node takes a slot in round 1
//! (`target` starts at 0), so every node owns at least one slot, which is why
//! the table must have more slots than there are nodes. A node then owns
//! `M·w/W ± (1 + N·w/W)` slots (`W` the sum of the relative weights, `N` the
//! node count): the `+1` is the free first-round slot of every node.
//!
//! [`fill`] runs this over any permutations in any order, so a table built
//! by another implementation (Envoy's hashing and ordering, for one) can be
//! reproduced with the same code.
//!
//! # Native Maglev, version 1
//!
//! What [`MaglevTable`] hashes, so that another implementation can build the
//! same table and route every key to the same node:
//!
//! * **Order**: nodes sorted by name, bytewise. The table depends only on the
//!   set of `(name, weight)` pairs and `M`, never on insertion order.
//! * **Permutation**: `offset = xxh3_64_with_seed(name, 0) % M`,
//!   `skip = xxh3_64_with_seed(name, 1) % (M − 1) + 1`.
//! * **Weights**: each node's weight divided by the largest weight (so the
//!   heaviest node has exactly 1.0 and takes a slot every round), in `f64`.
//! * **Lookup**: the key hash is [`key_hash`](crate::hash::key_hash)
//!   (`xxh3_64(key)`) and its slot is `(hash × M) >> 64` in 128-bit
//!   arithmetic: a multiply instead of a division, and it reads the hash's
//!   high bits.
//!
//! Envoy differs in three of these: it hashes names with `xxh64` seeds 0 and
//! 1, normalizes weights by their sum, and takes the slot as `hash % M`.
//!
//! # Health
//!
//! A down node keeps its slots. A key whose slot belongs to a down node walks
//! the table forward (wrapping) to the first slot owned by an up node, so only
//! the down node's keys move, and they come back when it is up again. No
//! rebuild happens. [`route_n`](Placement::route_n) walks the same way,
//! collecting distinct up owners, for at most one lap.
//!
//! # Membership changes
//!
//! Adding, removing or reweighting a node rebuilds the whole table (that is
//! Maglev): about a millisecond at 1000 nodes and `M = 65537`. The removed
//! node's keys move, and so do a few others, because the nodes after it in
//! each round now meet different free slots: Maglev buys its near-perfect
//! balance with a little extra disruption beyond the ideal `1/N`. A larger
//! `M` shrinks both the imbalance and the extra movement (the paper
//! recommends `M` at least 100 times the node count). Build a large cluster
//! with [`Cluster::from_nodes`] so that the table is filled once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::{Error, Result};
use crate::node::{NodeIndex, NodeTable, validate_weight};
use crate::place::Cluster;
use crate::place::{Liveness, Placement};

/// The table size when none is given: the prime the paper and Envoy use.
pub const DEFAULT_TABLE_SIZE: u32 = 65_537;

/// The largest accepted table size: the smallest prime above 2^24 (a 64 MiB
/// table of `u32` owners).
pub const MAX_TABLE_SIZE: u32 = 16_777_259;

/// Whether `n` is prime (trial division: table sizes are at most
/// [`MAX_TABLE_SIZE`], whose square root is about 4100).
pub fn is_prime(n: u32) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n % 2 == 0 || n % 3 == 0 {
        return false;
    }
    let n = u64::from(n);
    let mut d = 5u64;
    while d * d <= n {
        if n % d == 0 || n % (d + 2) == 0 {
            return false;
        }
        d += 6;
    }
    true
}

fn validate_table_size(size: u32) -> Result<u32> {
    if size > MAX_TABLE_SIZE {
        return Err(Error::InvalidParameter(
            "maglev table size must be at most MAX_TABLE_SIZE (16777259)",
        ));
    }
    if !is_prime(size) {
        return Err(Error::InvalidParameter(
            "maglev table size must be a prime number",
        ));
    }
    Ok(size)
}

const TOO_MANY_NODES: Error =
    Error::InvalidParameter("maglev table size must be larger than the node count");

/// The slot of `hash` in a table of `len` slots: `(hash × len) >> 64`.
#[inline]
fn slot_of(hash: u64, len: usize) -> usize {
    ((u128::from(hash) * len as u128) >> 64) as usize
}

/// One node's input to [`fill`]: the id written into its slots, its
/// permutation and its weight.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct FillEntry {
    /// What the table holds for the slots this node claims.
    pub id: u32,
    /// The first slot of the node's preference list (`< M`).
    pub offset: u32,
    /// The stride of the list (`1..M`).
    pub skip: u32,
    /// The node's weight (finite, `> 0`); only its ratio to the largest
    /// weight matters, but the exact `f64` value decides rounding, so pass
    /// what the implementation you mirror computes.
    pub weight: f64,
}

impl FillEntry {
    /// The permutation from two 64-bit hashes of the node, as the paper and
    /// Envoy derive it: `offset = offset_hash % M`,
    /// `skip = skip_hash % (M − 1) + 1`. `table_size` must be at least 2.
    pub fn from_hashes(
        id: u32,
        offset_hash: u64,
        skip_hash: u64,
        weight: f64,
        table_size: u32,
    ) -> Self {
        let m = u64::from(table_size);
        FillEntry {
            id,
            offset: (offset_hash % m) as u32,
            skip: (skip_hash % (m - 1) + 1) as u32,
            weight,
        }
    }

    /// The native v1 permutation of the node named `name`: its two hashes
    /// are `xxh3_64_with_seed(name, 0)` and `xxh3_64_with_seed(name, 1)`.
    pub fn native(id: u32, name: &[u8], weight: f64, table_size: u32) -> Self {
        Self::from_hashes(
            id,
            xxh3_64_with_seed(name, 0),
            xxh3_64_with_seed(name, 1),
            weight,
            table_size,
        )
    }
}

/// Fills a Maglev table of `table_size` slots from `entries`, taken in the
/// order given (sort them first if the table must not depend on it), with
/// Envoy's weighted rounds. Returns the owner id of every slot; an empty
/// `entries` gives an empty table.
///
/// Fails with [`Error::InvalidParameter`] when `table_size` is not a prime
/// up to [`MAX_TABLE_SIZE`], when there are not fewer entries than slots, or
/// when an entry's offset or skip is out of range; with
/// [`Error::InvalidWeight`] for a weight that is not finite and positive.
///
/// ```
/// use ringroute::place::maglev::{FillEntry, fill};
///
/// let entries = [
///     FillEntry { id: 7, offset: 3, skip: 4, weight: 1.0 },
///     FillEntry { id: 9, offset: 0, skip: 2, weight: 1.0 },
/// ];
/// let table = fill(5, &entries)?;
/// // Round 1: 7 takes slot 3, 9 takes 0. Round 2: 7 takes 2; 9 finds 2
/// // taken and takes 4. Round 3: 7 takes 1, the last free slot.
/// assert_eq!(table, [9, 7, 7, 7, 9]);
/// # Ok::<(), ringroute::Error>(())
/// ```
pub fn fill(table_size: u32, entries: &[FillEntry]) -> Result<Vec<u32>> {
    let m = validate_table_size(table_size)?;
    if entries.len() >= m as usize {
        return Err(TOO_MANY_NODES);
    }
    for e in entries {
        if e.offset >= m || e.skip == 0 || e.skip >= m {
            return Err(Error::InvalidParameter(
                "maglev permutation needs offset < M and 1 <= skip < M",
            ));
        }
        validate_weight(e.weight)?;
    }
    let mut table = Vec::new();
    fill_slots(m, entries, &mut table);
    Ok(table)
}

/// Where one node is in its preference list during a fill.
struct Cursor {
    /// The next slot of its list to try.
    pos: u32,
    skip: u32,
    /// `skip⁻¹ mod M`, computed when first needed (0: not yet).
    inverse: u32,
    weight: f64,
    /// Envoy's `target_weight_`.
    target: f64,
}

impl Cursor {
    fn new(e: &FillEntry) -> Self {
        Cursor {
            pos: e.offset,
            skip: e.skip,
            inverse: 0,
            weight: e.weight,
            target: 0.0,
        }
    }
}

/// The table's free slots during a fill.
///
/// Claiming walks a node's list through an occupancy bitmap (8 KiB at
/// `M = 65537`, so it stays in L1 cache, and no `%` in the loop). A walk
/// costs about `M / free` probes, so the last few hundred claims would make
/// a large share of all probes; once `free <= √M / 2`, a claim instead scans
/// the list of free slots for the one that comes first in the node's list:
/// slot `s` is `(s − pos)·skip⁻¹ mod M` steps ahead. Same slot, less work.
struct Slots {
    m: u32,
    taken: Vec<u64>,
    /// Free slots, listed once `left` reaches `tail`.
    free: Vec<u32>,
    left: u32,
    tail: u32,
    /// `⌊(2⁶⁴ − 1) / M⌋`, for Barrett reduction.
    barrett: u64,
}

impl Slots {
    fn new(m: u32) -> Self {
        Slots {
            m,
            taken: vec![0; (m as usize).div_ceil(64)],
            free: Vec::new(),
            left: m,
            tail: m.isqrt() / 2,
            barrett: u64::MAX / u64::from(m),
        }
    }

    /// `a·b mod M` for `a, b < M < 2²⁵` (so `a·b < 2⁵⁰`): the Barrett
    /// quotient is at most one short, hence one correction.
    #[inline(always)]
    fn mul_mod(&self, a: u32, b: u32) -> u32 {
        let m = u64::from(self.m);
        let x = u64::from(a) * u64::from(b);
        let q = ((u128::from(x) * u128::from(self.barrett)) >> 64) as u64;
        let r = x - q * m;
        (if r >= m { r - m } else { r }) as u32
    }

    /// `skip⁻¹ mod M` by Fermat (`M` is prime): `skip^(M−2)`.
    fn inverse(&self, skip: u32) -> u32 {
        let (mut base, mut exp, mut acc) = (skip, self.m - 2, 1u32);
        while exp > 0 {
            if exp & 1 == 1 {
                acc = self.mul_mod(acc, base);
            }
            base = self.mul_mod(base, base);
            exp >>= 1;
        }
        acc
    }

    /// Claims the first free slot at or after the cursor in its list and
    /// moves the cursor past it.
    #[inline(always)]
    fn claim(&mut self, c: &mut Cursor) -> usize {
        let m = self.m;
        let slot = if self.left > self.tail {
            let mut pos = c.pos;
            loop {
                let (word, bit) = ((pos >> 6) as usize, 1u64 << (pos & 63));
                if self.taken[word] & bit == 0 {
                    self.taken[word] |= bit;
                    break pos;
                }
                pos += c.skip;
                if pos >= m {
                    pos -= m;
                }
            }
        } else {
            self.nearest(c)
        };
        self.left -= 1;
        if self.left == self.tail {
            self.list_free();
        }
        let next = slot + c.skip;
        c.pos = if next >= m { next - m } else { next };
        slot as usize
    }

    #[cold]
    fn list_free(&mut self) {
        let m = self.m as usize;
        self.free = (0..m)
            .filter(|&s| self.taken[s >> 6] & (1 << (s & 63)) == 0)
            .map(|s| s as u32)
            .collect();
    }

    /// The free slot fewest steps ahead of the cursor in its list.
    fn nearest(&mut self, c: &mut Cursor) -> u32 {
        if c.inverse == 0 {
            c.inverse = self.inverse(c.skip);
        }
        let (m, pos) = (self.m, c.pos);
        let mut best = (u32::MAX, 0);
        for (k, &s) in self.free.iter().enumerate() {
            let ahead = if s >= pos { s - pos } else { s + m - pos };
            let steps = self.mul_mod(ahead, c.inverse);
            if steps < best.0 {
                best = (steps, k);
            }
        }
        self.free.swap_remove(best.1)
    }
}

/// When the nodes taking part in an average round are fewer than
/// `1 / SPARSE_ROUNDS` of all nodes, the fill jumps from turn to turn with a
/// heap instead of scanning every node every round. Both give the same table.
const SPARSE_ROUNDS: f64 = 8.0;

/// The fill proper; inputs already validated. Reuses `table`'s allocation.
fn fill_slots(m: u32, entries: &[FillEntry], table: &mut Vec<u32>) {
    table.clear();
    if entries.is_empty() {
        return;
    }
    table.resize(m as usize, 0);
    let max_weight = entries.iter().map(|e| e.weight).fold(0.0, f64::max);
    let per_round: f64 = entries.iter().map(|e| e.weight / max_weight).sum();
    if (entries.len() as f64) > SPARSE_ROUNDS * per_round {
        fill_sparse(m, entries, max_weight, table);
    } else {
        fill_dense(m, entries, max_weight, table);
    }
}

/// Envoy's loop as written: every round, every node in order, skipping the
/// ones whose turn has not come.
fn fill_dense(m: u32, entries: &[FillEntry], max_weight: f64, table: &mut [u32]) {
    let mut slots = Slots::new(m);
    let mut cursors: Vec<Cursor> = entries.iter().map(Cursor::new).collect();
    let mut round = 1u32;
    loop {
        for (c, e) in cursors.iter_mut().zip(entries) {
            if f64::from(round) * c.weight < c.target {
                continue;
            }
            c.target += max_weight;
            table[slots.claim(c)] = e.id;
            if slots.left == 0 {
                return;
            }
        }
        round += 1;
    }
}

/// The same turns in the same order, `(round, position)` ascending, popped
/// from a heap: with skewed weights most nodes sit out most rounds, and
/// scanning them all would cost `N` per round for about `M` rounds.
fn fill_sparse(m: u32, entries: &[FillEntry], max_weight: f64, table: &mut [u32]) {
    let mut slots = Slots::new(m);
    let mut cursors: Vec<Cursor> = entries.iter().map(Cursor::new).collect();
    let mut turns: BinaryHeap<Reverse<(u32, u32)>> =
        (0..entries.len() as u32).map(|i| Reverse((1, i))).collect();
    while let Some(Reverse((round, i))) = turns.pop() {
        let c = &mut cursors[i as usize];
        c.target += max_weight;
        table[slots.claim(c)] = entries[i as usize].id;
        if slots.left == 0 {
            return;
        }
        turns.push(Reverse((next_turn(round, c.weight, c.target), i)));
    }
}

/// The first round after `round` in which `r·weight ≥ target`, with the
/// exact `f64` comparison of the dense loop (`r·weight` rounds monotonically
/// in `r`, so an estimate corrected both ways finds it).
fn next_turn(round: u32, weight: f64, target: f64) -> u32 {
    let estimate = (target / weight).ceil();
    let mut r = if estimate > f64::from(round) {
        estimate.min(f64::from(u32::MAX)) as u32
    } else {
        round + 1
    };
    while r < u32::MAX && f64::from(r) * weight < target {
        r += 1;
    }
    while r - 1 > round && f64::from(r - 1) * weight >= target {
        r -= 1;
    }
    r
}

/// The Maglev placement: a table of `M` slots (`M` prime), each holding the
/// [`NodeIndex`] that owns it, filled with native Maglev v1 hashing.
///
/// Use it through [`Maglev`] (`Cluster<MaglevTable, T>`), or inside a router.
#[derive(Clone)]
pub struct MaglevTable {
    size: u32,
    /// `size` owners, or none when there is no node.
    slots: Vec<u32>,
}

impl Default for MaglevTable {
    /// An empty table of [`DEFAULT_TABLE_SIZE`] slots.
    fn default() -> Self {
        MaglevTable {
            size: DEFAULT_TABLE_SIZE,
            slots: Vec::new(),
        }
    }
}

impl MaglevTable {
    /// An empty table of `table_size` slots: a prime up to
    /// [`MAX_TABLE_SIZE`], larger than the node count it will hold
    /// (the paper suggests at least 100 times larger).
    pub fn new(table_size: u32) -> Result<Self> {
        Ok(MaglevTable {
            size: validate_table_size(table_size)?,
            slots: Vec::new(),
        })
    }

    /// `M`, the number of slots once a node is present.
    pub fn table_size(&self) -> u32 {
        self.size
    }

    /// True when the table holds no slot (there is no node).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The slot a key hash maps to; `None` when the table is empty.
    #[inline]
    pub fn slot(&self, hash: u64) -> Option<usize> {
        (!self.slots.is_empty()).then(|| slot_of(hash, self.slots.len()))
    }

    /// The owner of `slot` (`< table_size()`), whether up or down.
    #[inline]
    pub fn owner_at(&self, slot: usize) -> NodeIndex {
        NodeIndex::new(self.slots[slot])
    }

    /// Every slot's owner, in slot order (empty when there is no node).
    pub fn slots(&self) -> impl ExactSizeIterator<Item = NodeIndex> + '_ {
        self.slots.iter().map(|&i| NodeIndex::new(i))
    }

    /// Bytes held by the table.
    pub fn memory_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<u32>()
    }

    /// How many slots each node of `nodes` (the table this one was built
    /// from) owns, by node index: its share of uniformly random keys is this
    /// over `M` when every node is up.
    pub fn entries_per_node<T>(&self, nodes: &NodeTable<T>) -> Vec<(NodeIndex, usize)> {
        let mut counts = vec![0usize; nodes.capacity()];
        for &owner in &self.slots {
            // A slot of a node `nodes` lacks (another table) counts for none.
            if let Some(count) = counts.get_mut(owner as usize) {
                *count += 1;
            }
        }
        nodes
            .iter()
            .map(|(i, _)| (i, counts[i.as_usize()]))
            .collect()
    }

    fn check_count(&self, count: usize) -> Result<()> {
        if count >= self.size as usize {
            Err(TOO_MANY_NODES)
        } else {
            Ok(())
        }
    }
}

impl fmt::Debug for MaglevTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The slots are tens of thousands of numbers: not worth printing.
        f.debug_struct("MaglevTable")
            .field("table_size", &self.size)
            .field("filled", &!self.slots.is_empty())
            .finish()
    }
}

impl Placement for MaglevTable {
    fn check_add<T>(&self, nodes: &NodeTable<T>, weight: f64) -> Result<()> {
        validate_weight(weight)?;
        self.check_count(nodes.len() + 1)
    }

    fn check_weight<T>(&self, _nodes: &NodeTable<T>, _node: NodeIndex, weight: f64) -> Result<()> {
        validate_weight(weight).map(drop)
    }

    fn check_table<T>(&self, nodes: &NodeTable<T>) -> Result<()> {
        self.check_count(nodes.len())
    }

    fn rebuild<T>(&mut self, nodes: &NodeTable<T>) {
        let mut order: Vec<(&[u8], NodeIndex, f64)> = nodes
            .iter()
            .map(|(i, n)| (n.name(), i, n.weight()))
            .collect();
        // Names are unique, so this order is total and insertion-independent.
        order.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let max = order.iter().map(|e| e.2).fold(0.0, f64::max);
        let entries: Vec<FillEntry> = order
            .iter()
            .map(|&(name, i, w)| FillEntry::native(i.get(), name, w / max, self.size))
            .collect();
        fill_slots(self.size, &entries, &mut self.slots);
    }

    #[inline]
    fn route<L: Liveness + ?Sized>(&self, hash: u64, live: &L) -> Option<NodeIndex> {
        let len = self.slots.len();
        if len == 0 {
            return None;
        }
        let owner = NodeIndex::new(self.slots[slot_of(hash, len)]);
        if live.all_up() || live.is_up(owner) {
            return Some(owner);
        }
        // Rare: walk on to the first up owner, as `route_n` does.
        let mut first = [owner];
        (self.route_n(hash, live, &mut first) == 1).then_some(first[0])
    }

    fn route_n<L: Liveness + ?Sized>(&self, hash: u64, live: &L, out: &mut [NodeIndex]) -> usize {
        let len = self.slots.len();
        let want = out.len().min(live.up_count());
        if want == 0 || len == 0 {
            return 0;
        }
        let mut slot = slot_of(hash, len);
        let mut found = 0;
        for _ in 0..len {
            let owner = NodeIndex::new(self.slots[slot]);
            if live.is_up(owner) && !out[..found].contains(&owner) {
                out[found] = owner;
                found += 1;
                if found == want {
                    break;
                }
            }
            slot += 1;
            if slot == len {
                slot = 0;
            }
        }
        found
    }
}

/// Weighted nodes placed by a Maglev table ([`MaglevTable`], native v1),
/// each carrying a payload `T`.
///
/// * [`route`](Cluster::route) is O(1): a hash, a multiply, one table read.
/// * Nodes own table slots in proportion to their weight, within about one
///   slot; placement depends only on the `(name, weight)` pairs and `M`.
/// * A down node's keys go to the next up owner in the table and come back
///   when it is up; other keys stay put.
/// * Membership and weight changes rebuild the table.
///
/// ```
/// use ringroute::place::maglev::{Maglev, MaglevTable};
/// use ringroute::NodeState;
///
/// let mut lb: Maglev = Maglev::new(); // M = 65537
/// lb.add("10.0.0.1:80", 1.0)?;
/// lb.add("10.0.0.2:80", 1.0)?;
/// lb.add("10.0.0.3:80", 2.0)?; // about half the slots
/// let primary = lb.route("flow:42").unwrap();
///
/// // A failed backend's flows go elsewhere, and come back.
/// let name = lb[primary].name().to_vec();
/// lb.mark_down(&name)?;
/// assert_ne!(lb.route("flow:42"), Some(primary));
/// lb.mark_up(&name)?;
/// assert_eq!(lb.route("flow:42"), Some(primary));
///
/// // Many nodes at once fill the table a single time.
/// let nodes = (0..100).map(|i| (format!("10.1.0.{i}:80"), 1.0, NodeState::Up, ()));
/// let big: Maglev = Maglev::from_nodes(MaglevTable::new(65_537)?, nodes)?;
/// assert_eq!(big.entries_per_node().iter().map(|e| e.1).sum::<usize>(), 65_537);
///
/// // M must be a prime larger than the node count.
/// assert!(Maglev::<()>::with_table_size(65_536).is_err());
/// # Ok::<(), ringroute::Error>(())
/// ```
pub type Maglev<T = ()> = Cluster<MaglevTable, T>;

impl<T> Default for Cluster<MaglevTable, T> {
    fn default() -> Self {
        Cluster::with_placement(MaglevTable::default())
    }
}

impl<T> Cluster<MaglevTable, T> {
    /// An empty Maglev cluster of [`DEFAULT_TABLE_SIZE`] slots.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty Maglev cluster of `table_size` slots (see [`MaglevTable::new`]).
    pub fn with_table_size(table_size: u32) -> Result<Self> {
        Ok(Cluster::with_placement(MaglevTable::new(table_size)?))
    }

    /// `M`, the number of table slots.
    pub fn table_size(&self) -> u32 {
        self.placement.size
    }

    /// How many table slots each node owns, by node index: its share of
    /// uniformly random keys is this over `M` when every node is up.
    pub fn entries_per_node(&self) -> Vec<(NodeIndex, usize)> {
        self.placement.entries_per_node(&self.nodes)
    }
}
