//! Jump consistent hashing with MementoHash: nodes may leave from the middle.
//!
//! # Jump
//!
//! [`jump_hash`] is the function of Lamping and Veach, "A Fast, Minimal
//! Memory, Consistent Hash Algorithm" (2014): a 64-bit key goes to one of `n`
//! buckets with no table at all, and going from `n` to `n + 1` buckets moves
//! exactly the keys the new bucket takes (about `1/(n + 1)` of them) and
//! nothing else. Its weakness is that only the *last* bucket can go away:
//! dropping bucket 37 of 100 with plain jump means renumbering, which moves
//! keys between buckets that did not change at all.
//!
//! # Memento
//!
//! MementoHash (Coluzzi, Brocco, Antonelli and Leone, "MementoHash: A
//! Stateful, Minimal Memory, Best Performing Consistent Hash Algorithm")
//! removes any bucket by remembering it instead of renumbering. Here a bucket
//! is a slot of the [`NodeTable`]: [`NodeIndex`] `i` is bucket `i`, and a
//! free slot is a removed bucket.
//!
//! * Removing bucket `b` while `w` buckets work records `b → w - 1`, the
//!   *replacer*, which is also the size of the working set just after the
//!   removal. (Removing the last bucket while nothing else is removed just
//!   shrinks `n`, which is plain jump.)
//! * A lookup runs jump over all `n` buckets; while it lands on a removed
//!   bucket, it re-hashes the key with that bucket into `[0, replacer)` and
//!   follows replacers that are not below that range, so only the keys of
//!   a removed bucket ever take the detour.
//! * Buckets come back last-removed first, and restoring one deletes its
//!   record: the structure, and so every key's bucket, is exactly what it was
//!   before the removal. The node table's free list is a stack, so the next
//!   node added takes the most recently freed slot; that *is* memento's
//!   restore order, and the cluster never has to ask for it.
//!
//! Placement therefore depends on the history of adds and removes (which slot
//! each name got), not on the set of names as the ring's does: two clients
//! agree when they apply the same membership changes in the same order.
//!
//! The replacements live in a `Vec<u32>` indexed by bucket, allocated only
//! while some bucket is removed, plus a stack of the removed buckets. The
//! paper keeps a hash table to stay `O(removed)`; here the node table already
//! spends far more than four bytes per slot, so the vector costs nothing
//! that matters and saves a hash on every probe.
//!
//! # Weights
//!
//! Jump and memento give every bucket the same share, so the placement is
//! unweighted: a node must have weight `1.0`, and any other weight is refused
//! with [`Error::InvalidParameter`] rather than ignored, since a caller who
//! asks for weight 2 and silently gets 1 would see the wrong load.
//!
//! # Health
//!
//! A down node keeps its bucket, so marking it down or up changes nothing
//! here. A lookup whose bucket is down re-hashes the key with an attempt
//! counter and looks up again, a bounded number of times, then scans the
//! buckets in order from a point chosen by the key. Only keys of the down
//! node move (each to its first up choice), they come back when it is up,
//! the lookup always ends, and it finds an up node whenever there is one.
//!
//! # Example
//!
//! ```
//! use ringroute::place::jump::Jump;
//!
//! let mut cluster: Jump = Jump::new();
//! for i in 0..100 {
//!     cluster.add(&format!("cache-{i}"), 1.0)?;
//! }
//! let keys: Vec<String> = (0..10_000).map(|i| format!("user:{i}")).collect();
//! let before: Vec<_> = keys.iter().map(|k| cluster.route(k).unwrap()).collect();
//!
//! // A node leaves from the middle: only its keys move.
//! let gone = cluster.index_of("cache-37").unwrap();
//! cluster.remove("cache-37")?;
//! for (key, &was) in keys.iter().zip(&before) {
//!     let now = cluster.route(key).unwrap();
//!     assert!(now == was || was == gone);
//!     assert_ne!(now, gone);
//! }
//!
//! // Re-added, it takes its old bucket back, and with it exactly its keys.
//! assert_eq!(cluster.add("cache-37", 1.0)?, gone);
//! assert!(keys.iter().zip(&before).all(|(k, &was)| cluster.route(k) == Some(was)));
//!
//! // A down node hands its keys out until it is up again.
//! cluster.mark_down("cache-5")?;
//! assert!(keys.iter().all(|k| cluster.route(k) != cluster.index_of("cache-5")));
//! cluster.mark_up("cache-5")?;
//! assert!(keys.iter().zip(&before).all(|(k, &was)| cluster.route(k) == Some(was)));
//!
//! // Weights are refused, never ignored; the cluster is unchanged.
//! assert!(cluster.add("big", 2.0).is_err());
//! assert_eq!(cluster.len(), 100);
//! # Ok::<(), ringroute::Error>(())
//! ```

use std::fmt::Debug;
use std::marker::PhantomData;

use crate::error::{Error, Result};
use crate::node::{NodeIndex, NodeTable};
use crate::place::Cluster;
use crate::place::{Liveness, Placement};

/// The LCG multiplier of the reference implementation.
const LCG_MUL: u64 = 2_862_933_555_777_941_757;

/// `2^31`, the scale of the reference implementation's random fraction.
const TWO_POW_31: f64 = 2_147_483_648.0;

/// Marks a bucket that is not removed in [`JumpIndex::replacer`].
const WORKING: u32 = u32::MAX;

/// Re-hashes a lookup makes past a down primary before it falls back to the
/// scan: enough that with half the nodes down one key in 2^33 scans, few
/// enough that a lookup with nearly every node down stays cheap.
const REHASHES: u32 = 32;

/// Salt domains of [`mix`]: memento re-hashes use the bucket (`< 2^32`),
/// health re-hashes and the scan start use values above it, so the three
/// sequences never share an input.
const ATTEMPT_SALT: u64 = 1 << 32;
const SCAN_SALT: u64 = 1 << 33;

/// The bucket of `key` among `buckets` buckets: jump consistent hash
/// (Lamping & Veach 2014), bit for bit the published algorithm:
///
/// ```text
/// b = -1; j = 0
/// while j < buckets:
///     b = j
///     key = key * 2862933555777941757 + 1          (mod 2^64)
///     j = ((b + 1) as f64 * (2^31 as f64 / ((key >> 33) + 1) as f64)) as i64
/// return b
/// ```
///
/// Growing `buckets` by one moves a key only into the new bucket.
///
/// # Panics
///
/// If `buckets` is 0: there is no bucket to return, and the published loop
/// would answer `-1`. Use [`checked_jump_hash`] when 0 is possible.
///
/// ```
/// use ringroute::place::jump::jump_hash;
///
/// assert_eq!(jump_hash(1, 100), 55);
/// assert!((0..1000u64).all(|k| jump_hash(k, 7) < 7));
/// ```
#[inline]
pub fn jump_hash(key: u64, buckets: u32) -> u32 {
    assert!(buckets > 0, "jump_hash needs at least one bucket");
    jump(key, buckets)
}

/// [`jump_hash`], or `None` when `buckets` is 0.
///
/// ```
/// use ringroute::place::jump::checked_jump_hash;
///
/// assert_eq!(checked_jump_hash(1, 0), None);
/// assert_eq!(checked_jump_hash(1, 100), Some(55));
/// ```
#[inline]
pub fn checked_jump_hash(key: u64, buckets: u32) -> Option<u32> {
    (buckets > 0).then(|| jump(key, buckets))
}

/// The function that places a key hash among `buckets >= 1` buckets, with
/// jump's property: growing `buckets` by one moves keys only into the new
/// bucket. [`JumpIndex`] runs MementoHash over it.
pub trait BucketFn: Clone + Debug + Default + PartialEq + Eq + Send + Sync + 'static {
    /// The bucket of `hash` in `[0, buckets)`; `buckets >= 1`.
    fn bucket(hash: u64, buckets: u32) -> u32;
}

/// [`jump_hash`]: Lamping and Veach's jump, the default of [`JumpIndex`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct LampingVeach;

impl BucketFn for LampingVeach {
    #[inline]
    fn bucket(hash: u64, buckets: u32) -> u32 {
        jump(hash, buckets)
    }
}

/// Jump for `buckets >= 1`: the published loop with `c = b + 1`.
#[inline]
fn jump(mut key: u64, buckets: u32) -> u32 {
    let n = f64::from(buckets);
    // The first turn of the loop always runs (n >= 1) and sets b = 0.
    let mut c: i64 = 1;
    loop {
        key = key.wrapping_mul(LCG_MUL).wrapping_add(1);
        let p = c as f64 * (TWO_POW_31 / ((key >> 33) + 1) as f64);
        // The loop stops when j = trunc(p) reaches n; for an integer n that is
        // p >= n, so the test needs no conversion.
        if p >= n {
            return (c - 1) as u32;
        }
        // `p as i64` would saturate, which puts two conditional moves on the
        // chain every step depends on; skipping them makes a lookup about a
        // sixth faster at 1000 buckets.
        debug_assert!(p >= 1.0 && p < n);
        // SAFETY: `c >= 1` and the quotient is in `[1, 2^31]`, so `p` is
        // finite, and `1 <= p < n <= u32::MAX` by the test above: truncating
        // it fits an `i64`.
        c = unsafe { p.to_int_unchecked::<i64>() } + 1;
    }
}

/// A 64-bit hash of `(hash, salt)` (the splitmix64 finalizer): every output
/// bit depends on every input bit, so nearby salts give unrelated results.
#[inline]
fn mix(hash: u64, salt: u64) -> u64 {
    let mut z = hash ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `hash` scaled to `[0, range)` (multiply-shift: uses the high bits and
/// needs no division).
#[inline]
fn reduce(hash: u64, range: u32) -> u32 {
    ((u128::from(hash) * u128::from(range)) >> 64) as u32
}

/// Jump plus MementoHash over the slots of a [`NodeTable`]: the unweighted
/// [`Placement`] in which any node can leave with minimal movement.
///
/// Use it through [`Jump`] (`Cluster<JumpIndex, T>`), or inside a router.
/// See the [module documentation](self) for the algorithm, the weight rule
/// and the health rule.
/// `F` is the bucket function: [`LampingVeach`] (jump, the default) or
/// [`JumpBackHash`](crate::place::jumpback::JumpBackHash).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JumpIndex<F: BucketFn = LampingVeach> {
    /// Jump's bucket count, memento's b-array size: one past the highest
    /// bucket that is not trailing free space.
    buckets: u32,
    /// `replacer[b]`: [`WORKING`], or the working-set size just after `b`
    /// was removed. Empty while nothing is removed, else `buckets` long.
    replacer: Vec<u32>,
    /// Removed buckets in removal order: the top is restored first.
    removed: Vec<u32>,
    bucket_fn: PhantomData<F>,
}

impl JumpIndex {
    /// An empty index placing with jump.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<F: BucketFn> JumpIndex<F> {
    /// An empty index placing with `F`.
    pub fn with_bucket_fn() -> Self {
        Self::default()
    }

    /// Jump's bucket count: working buckets plus those remembered as removed.
    pub fn buckets(&self) -> u32 {
        self.buckets
    }

    /// Number of working buckets (nodes, up or down).
    pub fn len(&self) -> usize {
        self.buckets as usize - self.removed.len()
    }

    /// True when no bucket works.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The removed buckets memento remembers, oldest removal first; the last
    /// one is the slot the next added node takes.
    pub fn removed(&self) -> impl ExactSizeIterator<Item = NodeIndex> + '_ {
        self.removed.iter().map(|&b| NodeIndex::new(b))
    }

    /// Bytes held by the replacement map and the removal stack.
    pub fn memory_bytes(&self) -> usize {
        (self.replacer.capacity() + self.removed.capacity()) * size_of::<u32>()
    }

    /// The bucket (node) of a key hash, ignoring health; `None` when no bucket
    /// works.
    #[inline]
    pub fn bucket(&self, hash: u64) -> Option<NodeIndex> {
        (!self.is_empty()).then(|| NodeIndex::new(self.lookup(hash)))
    }

    /// Whether `bucket` is a working bucket.
    #[inline]
    fn is_working(&self, bucket: u32) -> bool {
        bucket < self.buckets
            && self
                .replacer
                .get(bucket as usize)
                .is_none_or(|&r| r == WORKING)
    }

    /// Memento's lookup; needs a working bucket.
    #[inline]
    fn lookup(&self, hash: u64) -> u32 {
        let b = F::bucket(hash, self.buckets);
        if self.replacer.is_empty() {
            b
        } else {
            self.follow(hash, b)
        }
    }

    /// From jump's bucket `b` to a working one. Each outer turn re-hashes into
    /// the working set as it was when `b` was removed (`[0, range)`); the inner
    /// loop follows buckets removed later than that, whose replacers are at
    /// least `range`. `range` falls strictly at every outer turn.
    fn follow(&self, hash: u64, mut b: u32) -> u32 {
        let mut range = self.replacer[b as usize];
        while range != WORKING {
            b = reduce(mix(hash, u64::from(b)), range);
            let mut r = self.replacer[b as usize];
            while r != WORKING && r >= range {
                b = r;
                r = self.replacer[b as usize];
            }
            range = r;
        }
        b
    }

    /// Memento's removal of a working `bucket`.
    fn remove_bucket(&mut self, bucket: u32) {
        if self.removed.is_empty() && bucket + 1 == self.buckets {
            // The last bucket with nothing remembered: plain jump shrinking.
            self.buckets -= 1;
            return;
        }
        let working = self.len() as u32;
        if self.replacer.is_empty() {
            self.replacer.resize(self.buckets as usize, WORKING);
        }
        self.replacer[bucket as usize] = working - 1;
        self.removed.push(bucket);
    }

    /// Restores the last removed bucket, or grows by one; false when
    /// `bucket` is neither (the caller rebuilds).
    fn add_bucket(&mut self, bucket: u32) -> bool {
        if self.removed.last() == Some(&bucket) {
            self.removed.pop();
            if self.removed.is_empty() {
                self.replacer.clear();
            } else {
                self.replacer[bucket as usize] = WORKING;
            }
            true
        } else if self.removed.is_empty() && bucket == self.buckets {
            self.buckets += 1;
            true
        } else {
            false
        }
    }

    /// The first working, up bucket not in `taken`, scanning from a point
    /// chosen by `hash`: the last resort that makes lookups terminate.
    fn scan<L: Liveness + ?Sized>(
        &self,
        hash: u64,
        live: &L,
        taken: &[NodeIndex],
        mut found: impl FnMut(NodeIndex) -> bool,
    ) {
        let n = self.buckets;
        let start = reduce(mix(hash, SCAN_SALT), n);
        for i in 0..n {
            let b = if start >= n - i {
                start - (n - i)
            } else {
                start + i
            };
            let node = NodeIndex::new(b);
            if self.is_working(b) && live.is_up(node) && !taken.contains(&node) && found(node) {
                return;
            }
        }
    }

    /// [`route`](Placement::route) once the primary is down.
    #[inline(never)]
    fn route_down<L: Liveness + ?Sized>(&self, hash: u64, live: &L) -> Option<NodeIndex> {
        if live.up_count() == 0 {
            return None;
        }
        for attempt in 1..=REHASHES {
            let node = NodeIndex::new(self.lookup(mix(hash, ATTEMPT_SALT + u64::from(attempt))));
            if live.is_up(node) {
                return Some(node);
            }
        }
        let mut first = None;
        self.scan(hash, live, &[], |node| {
            first = Some(node);
            true
        });
        first
    }
}

fn check_unit_weight(weight: f64) -> Result<()> {
    if weight == 1.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter(
            "jump hash is unweighted: every node needs weight 1",
        ))
    }
}

impl<F: BucketFn> Placement for JumpIndex<F> {
    fn check_add<T>(&self, _nodes: &NodeTable<T>, weight: f64) -> Result<()> {
        check_unit_weight(weight)
    }

    fn check_weight<T>(&self, _nodes: &NodeTable<T>, _node: NodeIndex, weight: f64) -> Result<()> {
        check_unit_weight(weight)
    }

    fn check_table<T>(&self, nodes: &NodeTable<T>) -> Result<()> {
        nodes
            .iter()
            .try_for_each(|(_, node)| check_unit_weight(node.weight()))
    }

    /// Free slots are removed in descending order: trailing ones shrink the
    /// bucket count, the rest are remembered, so the lowest free slot is the
    /// one restored first. The table's own free order is not visible here, so
    /// after rebuilding a table with holes (never the case through
    /// [`Cluster`], whose bulk build has none) the next add may come out of
    /// order, which costs one more rebuild, never a wrong answer.
    fn rebuild<T>(&mut self, nodes: &NodeTable<T>) {
        let capacity = nodes.capacity() as u32;
        self.buckets = capacity;
        self.replacer.clear();
        self.removed.clear();
        for b in (0..capacity).rev() {
            if nodes.get(NodeIndex::new(b)).is_none() {
                self.remove_bucket(b);
            }
        }
    }

    fn node_added<T>(&mut self, nodes: &NodeTable<T>, node: NodeIndex) {
        if !self.add_bucket(node.get()) {
            self.rebuild(nodes);
        }
    }

    fn node_removed<T>(&mut self, nodes: &NodeTable<T>, node: NodeIndex) {
        if self.is_working(node.get()) {
            self.remove_bucket(node.get());
        } else {
            self.rebuild(nodes);
        }
    }

    /// Weights are always 1 (checked), so nothing moves.
    fn weight_changed<T>(&mut self, _nodes: &NodeTable<T>, _node: NodeIndex, _old: f64) {}

    #[inline]
    fn route<L: Liveness + ?Sized>(&self, hash: u64, live: &L) -> Option<NodeIndex> {
        if self.is_empty() {
            return None;
        }
        let node = NodeIndex::new(self.lookup(hash));
        if live.all_up() || live.is_up(node) {
            return Some(node);
        }
        self.route_down(hash, live)
    }

    fn route_n<L: Liveness + ?Sized>(&self, hash: u64, live: &L, out: &mut [NodeIndex]) -> usize {
        let want = out.len().min(live.up_count()).min(self.len());
        if want == 0 {
            return 0;
        }
        let mut found = 0;
        // The same sequence as `route`, so the first node is its answer.
        for attempt in 0..=REHASHES {
            let h = if attempt == 0 {
                hash
            } else {
                mix(hash, ATTEMPT_SALT + u64::from(attempt))
            };
            let node = NodeIndex::new(self.lookup(h));
            if live.is_up(node) && !out[..found].contains(&node) {
                out[found] = node;
                found += 1;
                if found == want {
                    return found;
                }
            }
        }
        let (taken, rest) = out.split_at_mut(found);
        let mut extra = 0;
        // The scan visits each bucket once and skips `taken`: no duplicates.
        self.scan(hash, live, taken, |node| {
            rest[extra] = node;
            extra += 1;
            found + extra == want
        });
        found + extra
    }
}

/// Nodes placed by jump consistent hashing with MementoHash, each carrying a
/// payload `T`: a [`Cluster`] placed by [`JumpIndex`].
///
/// * Unweighted: every node has weight `1.0`; other weights are refused.
/// * [`remove`](Cluster::remove) of any node moves exactly that node's keys;
///   adding nodes back, last removed first (what the node table does
///   anyway), restores every key's placement.
/// * Lookups cost a key hash plus `O(ln n)` arithmetic and never allocate;
///   they skip down nodes. The index holds nothing while no node is removed
///   and four bytes per bucket once one is.
///
/// ```
/// use ringroute::place::jump::Jump;
///
/// let mut cluster: Jump = Jump::new();
/// cluster.add("shard-a", 1.0)?;
/// cluster.add("shard-b", 1.0)?;
/// let node = cluster.route_node("user:42").unwrap();
/// assert!(node.name() == b"shard-a" || node.name() == b"shard-b");
///
/// let replicas = cluster.route_n("user:42", 2);
/// assert_eq!(replicas.len(), 2);
/// assert_eq!(Some(replicas[0]), cluster.route("user:42"));
/// # Ok::<(), ringroute::Error>(())
/// ```
pub type Jump<T = ()> = Cluster<JumpIndex, T>;

impl<T> Default for Cluster<JumpIndex, T> {
    fn default() -> Self {
        Cluster::with_placement(JumpIndex::new())
    }
}

impl<T> Cluster<JumpIndex, T> {
    /// An empty jump cluster.
    pub fn new() -> Self {
        Self::default()
    }
}
