//! Apache Dubbo's `ConsistentHashLoadBalance` (`dubbo-cluster`,
//! `org/apache/dubbo/rpc/cluster/loadbalance/ConsistentHashLoadBalance.java`):
//! 160 virtual nodes per invoker, `md5(address ‖ i)` for `i < 40`, each
//! digest giving 4 points (little-endian words); a later invoker overwrites
//! an equal point in its `TreeMap`. The key is the hashed argument string
//! (`toKey(args)`), hashed as the first md5 word; `ceilingEntry`, else the
//! first entry. Weights are not used by Dubbo.

use super::hashes::{digest_word, md5};
use super::table::{Member, Table};

pub(crate) fn build(members: &[Member]) -> Table {
    let mut entries = Vec::with_capacity(members.len() * 160);
    for m in members {
        for i in 0..40 {
            let mut label = m.name.to_vec();
            label.extend_from_slice(i.to_string().as_bytes());
            let d = md5(&label);
            entries.extend((0..4).map(|k| (u64::from(digest_word(&d, k)), m.index)));
        }
    }
    // TreeMap.put: the last writer of a point keeps it.
    entries.sort_by_key(|e| e.0);
    let mut kept: Vec<(u64, crate::node::NodeIndex)> = Vec::with_capacity(entries.len());
    for e in entries {
        match kept.last_mut() {
            Some(last) if last.0 == e.0 => *last = e,
            _ => kept.push(e),
        }
    }
    Table::from_sorted(kept, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeIndex;

    #[test]
    fn later_invoker_overwrites_equal_points() {
        // The same address twice: every point is tied, the second keeps all.
        let m = [
            Member {
                index: NodeIndex::new(0),
                name: b"10.0.0.1:20880".to_vec().into(),
                weight: 1,
            },
            Member {
                index: NodeIndex::new(1),
                name: b"10.0.0.1:20880".to_vec().into(),
                weight: 1,
            },
        ];
        assert_eq!(build(&m).shares(), [(NodeIndex::new(1), 160)]);
        let label = b"10.0.0.1:208800";
        let Table::Ring { points, .. } = build(&m[..1]) else {
            panic!()
        };
        assert!(points.contains(&u64::from(digest_word(&md5(label), 2))));
    }
}
