//! What a compatibility mode builds from its members, and the lookups on
//! it: a sorted continuum, a Maglev slot table, or a jump bucket list.

use crate::node::NodeIndex;
use crate::place::Liveness;

/// One member as a mode sees it: the node, its name (the peer's server
/// string) and its integral weight.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub index: NodeIndex,
    pub name: Box<[u8]>,
    pub weight: u32,
}

/// A built lookup structure. Owners are [`NodeIndex`]es, so a table built
/// over the live members alone answers for the same node table.
#[derive(Clone, Debug, Default)]
pub(crate) enum Table {
    /// No member.
    #[default]
    Empty,
    /// Sorted points: a key goes to the first point `>= hash` (`> hash`
    /// when `after`), wrapping to the first.
    Ring {
        points: Vec<u64>,
        owners: Vec<NodeIndex>,
        after: bool,
    },
    /// Maglev: the slot `hash % len`.
    Slots(Vec<NodeIndex>),
    /// Jump over the members in order (Guava's or go-jump's arithmetic).
    Jump {
        members: Vec<NodeIndex>,
        guava: bool,
    },
}

impl Table {
    /// A continuum from unsorted `(point, owner)` pairs listed in server
    /// order, sorted stably by point so that equal points keep server order
    /// (what glibc's merge-sort `qsort` does for libmemcached and
    /// twemproxy).
    pub fn ring(mut entries: Vec<(u64, NodeIndex)>, after: bool) -> Table {
        entries.sort_by_key(|e| e.0);
        Self::from_sorted(entries, after)
    }

    pub fn from_sorted(entries: Vec<(u64, NodeIndex)>, after: bool) -> Table {
        if entries.is_empty() {
            return Table::Empty;
        }
        let (points, owners) = entries.into_iter().unzip();
        Table::Ring {
            points,
            owners,
            after,
        }
    }

    /// The position a hash lands on: a point index, a slot or a bucket.
    #[inline]
    fn start(&self, hash: u64) -> Option<usize> {
        match self {
            Table::Empty => None,
            Table::Ring { points, after, .. } => {
                let p = if *after {
                    points.partition_point(|&p| p <= hash)
                } else {
                    points.partition_point(|&p| p < hash)
                };
                Some(if p == points.len() { 0 } else { p })
            }
            Table::Slots(slots) => Some((hash % slots.len() as u64) as usize),
            Table::Jump { members, guava } => {
                let n = members.len() as u32;
                Some(if *guava {
                    super::jump::guava(hash, n)
                } else {
                    super::jump::go_jump(hash, n)
                } as usize)
            }
        }
    }

    /// Owners in walk order from position `i` (ring points or slots).
    #[inline]
    fn owner(&self, i: usize) -> NodeIndex {
        match self {
            Table::Ring { owners, .. } => owners[i],
            Table::Slots(slots) => slots[i],
            Table::Jump { members, .. } => members[i],
            Table::Empty => unreachable!("an empty table has no position"),
        }
    }

    fn len(&self) -> usize {
        match self {
            Table::Empty => 0,
            Table::Ring { owners, .. } => owners.len(),
            Table::Slots(slots) => slots.len(),
            Table::Jump { members, .. } => members.len(),
        }
    }

    /// The first up owner from where `hash` lands, walking on (wrapping).
    #[inline]
    pub fn route<L: Liveness + ?Sized>(&self, hash: u64, live: &L) -> Option<NodeIndex> {
        let start = self.start(hash)?;
        let first = self.owner(start);
        if live.all_up() || live.is_up(first) {
            return Some(first);
        }
        if live.up_count() == 0 {
            return None;
        }
        let len = self.len();
        (1..len)
            .map(|k| self.owner((start + k) % len))
            .find(|&n| live.is_up(n))
    }

    /// Distinct up owners walking on from where `hash` lands, into `out`.
    pub fn route_n<L: Liveness + ?Sized>(
        &self,
        hash: u64,
        live: &L,
        out: &mut [NodeIndex],
    ) -> usize {
        let Some(start) = self.start(hash) else {
            return 0;
        };
        let want = out.len().min(live.up_count());
        let len = self.len();
        let mut n = 0;
        for k in 0..len {
            if n == want {
                break;
            }
            let node = self.owner((start + k) % len);
            if live.is_up(node) && !out[..n].contains(&node) {
                out[n] = node;
                n += 1;
            }
        }
        n
    }

    /// The primary, then the members after it in server order (wrapping):
    /// libmemcached's replica order, and jump's.
    pub fn route_n_by_order<L: Liveness + ?Sized>(
        &self,
        order: &[NodeIndex],
        hash: u64,
        live: &L,
        out: &mut [NodeIndex],
    ) -> usize {
        let Some(primary) = self.route(hash, live) else {
            return 0;
        };
        let Some(at) = order.iter().position(|&m| m == primary) else {
            return 0;
        };
        let want = out.len().min(live.up_count());
        let mut n = 0;
        for k in 0..order.len() {
            if n == want {
                break;
            }
            let node = order[(at + k) % order.len()];
            if live.is_up(node) {
                out[n] = node;
                n += 1;
            }
        }
        n
    }

    /// How many points or slots each owner holds (for tests and analysis).
    pub fn shares(&self) -> Vec<(NodeIndex, usize)> {
        let mut counts: std::collections::BTreeMap<NodeIndex, usize> = Default::default();
        if let Table::Jump { members, .. } = self {
            return members.iter().map(|&m| (m, 1)).collect();
        }
        for i in 0..self.len() {
            *counts.entry(self.owner(i)).or_default() += 1;
        }
        counts.into_iter().collect()
    }

    pub fn memory_bytes(&self) -> usize {
        match self {
            Table::Empty => 0,
            Table::Ring { points, owners, .. } => points.len() * 8 + owners.len() * 4,
            Table::Slots(s) => s.len() * 4,
            Table::Jump { members, .. } => members.len() * 4,
        }
    }
}
