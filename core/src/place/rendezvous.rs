//! Weighted rendezvous hashing (highest random weight, HRW) with the
//! logarithmic method of Schindelhauer and Schomaker (*Weighted Distributed
//! Hash Tables*, SPAA 2005).
//!
//! # The method
//!
//! Every `(key, node)` pair gets a score and the key goes to the node with
//! the highest one. With `u` uniform in `(0, 1)` and derived from the key
//! and the node, the score is `−w / ln(u)` for a node of weight `w`:
//! `−ln(u)` is exponential with rate 1, so `−ln(u) / w` is exponential with
//! rate `w`, and the smallest of independent exponentials is the one of rate
//! `w_i` with probability exactly `w_i / Σw`. Taking the largest reciprocal
//! is the same choice. So each node gets a share of the keys proportional to
//! its weight, with no virtual nodes and no table.
//!
//! # Native rendezvous, version 1
//!
//! What [`RendezvousIndex`] computes, so that another implementation routes
//! every key to the same node:
//!
//! * **Node seed**: `seed = xxh3_64_with_seed(name, 0x7264_7631)` (the
//!   seed spells `rdv1`), computed once per node: [`node_seed`].
//! * **Key hash**: [`key_hash`](crate::hash::key_hash), `xxh3_64(key)`.
//! * **Mix**: `x = splitmix64_finalize(key_hash ^ seed)`, the finalizer of
//!   SplitMix64 (Stafford's mix 13: shifts 30, 27, 31 and multipliers
//!   `0xbf58476d1ce4e5b9`, `0x94d049bb133111eb`), a bijection with full
//!   avalanche, so every node sees an independent-looking value per key:
//!   [`mix`].
//! * **Uniform**: `u = ((x >> 12) + 0.5) · 2⁻⁵²`, computed exactly in
//!   `f64` (52 bits plus the half fit the 53-bit significand), so `u` lies
//!   in `[2⁻⁵³, 1 − 2⁻⁵³]` and `ln(u)` is finite and negative.
//! * **Score**: `−w / ln(u)` in `f64` ([`score`]); highest wins, and equal
//!   scores go to the smaller name (bytewise), so the answer never depends
//!   on insertion order. `ln` is the platform's; two libms that disagree by
//!   an ulp can only disagree on keys whose top two scores are that close.
//!
//! # Health and movement
//!
//! A key's winner depends only on the scores of the up nodes, and a node's
//! score depends only on the key, its name and its weight. So marking a node
//! down, or removing it, moves exactly the keys it had (each to its own
//! runner-up); adding a node moves only the keys it now wins; changing a
//! weight moves keys only to or from that node. No other key moves.
//!
//! # Cost
//!
//! A lookup looks at every up node: O(n), cheap for tens of nodes and slow
//! for thousands, where [`Maglev`](crate::place::maglev::Maglev) or the ring are
//! O(1) or O(log n). Per node it costs a mix and a multiply; the logarithm
//! and the division are paid only by the few nodes that could still beat
//! the best so far (bounded with `−ln u ≥ 1 − u`, about `ln n` of them), and
//! the answer is exactly that of scoring every node. The nodes are kept as
//! flat arrays (seeds, weights, indices) sorted by name, so the scan streams
//! through memory. [`route_n`](Placement::route_n) keeps the
//! best `k` in a small on-stack list while it scans: O(n·k) at worst, no
//! allocation.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::Result;
use crate::node::{NodeIndex, NodeTable, validate_weight};
use crate::place::Cluster;
use crate::place::{Liveness, Placement};

/// The xxh3 seed of [`node_seed`] (`"rdv1"` in ASCII).
pub const NODE_SEED: u64 = 0x7264_7631;

/// A node's 64-bit seed: `xxh3_64_with_seed(name, NODE_SEED)`.
#[inline]
pub fn node_seed(name: &[u8]) -> u64 {
    xxh3_64_with_seed(name, NODE_SEED)
}

/// The per-pair random value: the SplitMix64 finalizer of `key_hash ^ seed`.
#[inline]
pub fn mix(key_hash: u64, seed: u64) -> u64 {
    let mut z = key_hash ^ seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `u`: the top 52 bits of [`mix`] mapped into `(0, 1)`.
#[inline]
fn uniform(key_hash: u64, seed: u64) -> f64 {
    // 52 bits, not 53: `k + 0.5` must be exact, and with 53 bits the top
    // value would round to 1.0, whose logarithm is 0.
    const SCALE: f64 = 1.0 / (1u64 << 52) as f64;
    ((mix(key_hash, seed) >> 12) as f64 + 0.5) * SCALE
}

/// The score of a node of `weight` for a key: `−weight / ln(u)`, `u` the top
/// 52 bits of [`mix`] mapped into `(0, 1)`. Positive; higher wins.
#[inline]
pub fn score(key_hash: u64, seed: u64, weight: f64) -> f64 {
    -weight / uniform(key_hash, seed).ln()
}

/// True when a node whose uniform is `u` surely scores below `bar`, so its
/// logarithm need not be computed: `−ln(u) ≥ 1 − u`, hence
/// `score ≤ w / (1 − u)`. The slack (1e-9 relative) dwarfs the few ulps of
/// rounding in `ln` and the division, so a skipped node could never have
/// won. After `i` nodes the bar is about the `i`-th best of `i` scores, so
/// only about `ln n` of `n` nodes pay for a logarithm: results are exactly
/// those of scoring every node.
#[inline]
fn below(u: f64, weight: f64, bar: f64) -> bool {
    weight < bar * (1.0 - u) * (1.0 - 1e-9)
}

/// How many candidates [`route_n`](Placement::route_n) ranks per scan; a
/// caller asking for more gets them in further scans, still without
/// allocating.
const TOP_K: usize = 32;

/// The rendezvous placement: every node's seed, weight and index as parallel
/// arrays, sorted by node name.
///
/// Use it through [`Rendezvous`] (`Cluster<RendezvousIndex, T>`), or inside
/// a router.
#[derive(Clone, Debug, Default)]
pub struct RendezvousIndex {
    seeds: Vec<u64>,
    weights: Vec<f64>,
    nodes: Vec<NodeIndex>,
}

impl RendezvousIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of nodes scored per lookup (up or down).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when there is no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The nodes in scan order (by name), with their seeds and weights.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = (NodeIndex, u64, f64)> + '_ {
        self.nodes
            .iter()
            .zip(&self.seeds)
            .zip(&self.weights)
            .map(|((&n, &s), &w)| (n, s, w))
    }

    fn position(&self, node: NodeIndex) -> usize {
        self.nodes
            .iter()
            .position(|&n| n == node)
            .expect("the node is in the index")
    }

    /// The best `top.len()` up nodes among those ranking strictly after
    /// `after` (the order is score descending, then position ascending), as
    /// `(score, position)` written into `top` best first; returns how many.
    fn rank<L: Liveness + ?Sized>(
        &self,
        hash: u64,
        live: &L,
        after: Option<(f64, usize)>,
        top: &mut [(f64, usize)],
    ) -> usize {
        let mut len = 0;
        let cap = top.len();
        for (pos, ((&node, &seed), &weight)) in self
            .nodes
            .iter()
            .zip(&self.seeds)
            .zip(&self.weights)
            .enumerate()
        {
            if !live.is_up(node) {
                continue;
            }
            let u = uniform(hash, seed);
            if len == cap && below(u, weight, top[cap - 1].0) {
                continue;
            }
            let s = -weight / u.ln();
            // Positions only grow during a scan, so among equal scores the
            // earlier (smaller name) stays ahead: `>` alone is the order.
            if let Some((fs, fp)) = after {
                if s > fs || (s == fs && pos <= fp) {
                    continue;
                }
            }
            if len == cap {
                if s <= top[cap - 1].0 {
                    continue;
                }
                len -= 1;
            }
            let mut j = len;
            while j > 0 && s > top[j - 1].0 {
                top[j] = top[j - 1];
                j -= 1;
            }
            top[j] = (s, pos);
            len += 1;
        }
        len
    }
}

impl Placement for RendezvousIndex {
    fn check_add<T>(&self, _nodes: &NodeTable<T>, weight: f64) -> Result<()> {
        validate_weight(weight).map(drop)
    }

    fn check_weight<T>(&self, _nodes: &NodeTable<T>, _node: NodeIndex, weight: f64) -> Result<()> {
        validate_weight(weight).map(drop)
    }

    fn check_table<T>(&self, _nodes: &NodeTable<T>) -> Result<()> {
        Ok(())
    }

    fn rebuild<T>(&mut self, nodes: &NodeTable<T>) {
        let mut order: Vec<(NodeIndex, &[u8], f64)> = nodes
            .iter()
            .map(|(i, n)| (i, n.name(), n.weight()))
            .collect();
        order.sort_unstable_by(|a, b| a.1.cmp(b.1));
        self.seeds = order.iter().map(|e| node_seed(e.1)).collect();
        self.weights = order.iter().map(|e| e.2).collect();
        self.nodes = order.iter().map(|e| e.0).collect();
    }

    fn node_added<T>(&mut self, nodes: &NodeTable<T>, node: NodeIndex) {
        let name = nodes[node].name();
        let pos = self
            .nodes
            .binary_search_by(|&n| nodes[n].name().cmp(name))
            .expect_err("a new name");
        self.seeds.insert(pos, node_seed(name));
        self.weights.insert(pos, nodes[node].weight());
        self.nodes.insert(pos, node);
    }

    fn node_removed<T>(&mut self, _nodes: &NodeTable<T>, node: NodeIndex) {
        let pos = self.position(node);
        self.seeds.remove(pos);
        self.weights.remove(pos);
        self.nodes.remove(pos);
    }

    fn weight_changed<T>(&mut self, nodes: &NodeTable<T>, node: NodeIndex, _old: f64) {
        let pos = self.position(node);
        self.weights[pos] = nodes[node].weight();
    }

    #[inline]
    fn route<L: Liveness + ?Sized>(&self, hash: u64, live: &L) -> Option<NodeIndex> {
        let all_up = live.all_up();
        let mut best = None;
        let mut best_score = f64::NEG_INFINITY;
        // Strict `>`: on equal scores the earlier node, the smaller name, wins.
        for ((&node, &seed), &weight) in self.nodes.iter().zip(&self.seeds).zip(&self.weights) {
            if !all_up && !live.is_up(node) {
                continue;
            }
            let u = uniform(hash, seed);
            if below(u, weight, best_score) {
                continue;
            }
            let s = -weight / u.ln();
            if s > best_score {
                best_score = s;
                best = Some(node);
            }
        }
        best
    }

    fn route_n<L: Liveness + ?Sized>(&self, hash: u64, live: &L, out: &mut [NodeIndex]) -> usize {
        let want = out.len().min(live.up_count()).min(self.nodes.len());
        let mut top = [(0.0f64, 0usize); TOP_K];
        let mut found = 0;
        let mut after = None;
        while found < want {
            let batch = (want - found).min(TOP_K);
            let got = self.rank(hash, live, after, &mut top[..batch]);
            for (slot, &(_, pos)) in out[found..].iter_mut().zip(&top[..got]) {
                *slot = self.nodes[pos];
            }
            found += got;
            if got < batch {
                break;
            }
            after = Some(top[got - 1]);
        }
        found
    }
}

/// Weighted nodes placed by rendezvous hashing ([`RendezvousIndex`], native
/// v1), each carrying a payload `T`.
///
/// * Each node gets a share of the keys proportional to its weight.
/// * Adding, removing, reweighting or downing a node moves only the keys it
///   gains or loses: no other key moves, ever.
/// * A lookup costs O(n): best for tens to a few hundred nodes.
///
/// ```
/// use ringroute::place::rendezvous::Rendezvous;
///
/// let mut shards: Rendezvous = Rendezvous::new();
/// shards.add("shard-a", 1.0)?;
/// shards.add("shard-b", 1.0)?;
/// shards.add("shard-c", 2.0)?; // about half the keys
///
/// let owner = shards.route("order:981").unwrap();
/// // The failover order: distinct nodes, best score first.
/// let replicas = shards.route_n("order:981", 2);
/// assert_eq!(replicas[0], owner);
///
/// // Removing another node never moves this key.
/// let other = shards.iter().map(|(i, _)| i).find(|&i| i != owner).unwrap();
/// let other = shards[other].name().to_vec();
/// shards.remove(&other)?;
/// assert_eq!(shards.route("order:981"), Some(owner));
/// # Ok::<(), ringroute::Error>(())
/// ```
pub type Rendezvous<T = ()> = Cluster<RendezvousIndex, T>;

impl<T> Default for Cluster<RendezvousIndex, T> {
    fn default() -> Self {
        Cluster::with_placement(RendezvousIndex::default())
    }
}

impl<T> Cluster<RendezvousIndex, T> {
    /// An empty rendezvous cluster.
    pub fn new() -> Self {
        Self::default()
    }
}
