//! Edits in place on spares (the right one, none, and ones that must be
//! refused), in-place edits and relayouts, each step against a reference.

use super::*;

/// `(point, owner)` pairs.
type Pairs = Vec<(u64, u32)>;

/// How the spare for an edit is chosen.
#[derive(Clone, Copy, Debug)]
enum SpareKind {
    /// The version the current one was edited from: brought up to date.
    Parent,
    None,
    /// Two versions back: the generation does not match.
    Grandparent,
    /// Another edit of the parent: layout and generation match, not the id.
    Sibling,
    /// The same points laid out anew: another layout.
    OtherLayout,
    /// A clone of the current version: the generation does not match.
    Current,
}

/// A random change of `want` (sorted): drops and fresh pairs, some of them
/// crowded into one narrow range (page overflow), some tying existing
/// points (order by name), sometimes a large share dropped (too many gaps).
fn random_change(rng: &mut Rng, want: &[(u64, u32)]) -> (Pairs, Pairs) {
    let mut drops = Vec::new();
    let mut fresh = Vec::new();
    let mode = rng.below(10);
    let n_drops = match mode {
        0 => want.len() / 3,
        1 => 0,
        _ => rng.below(20) as usize,
    };
    let mut taken = std::collections::HashSet::new();
    for _ in 0..n_drops.min(want.len()) {
        let k = rng.below(want.len() as u64) as usize;
        if taken.insert(k) {
            drops.push(want[k]);
        }
    }
    let n_fresh = match mode {
        0 => 0,
        1 => 200 + rng.below(200) as usize,
        _ => rng.below(25) as usize,
    };
    let crowd = rng.next();
    for _ in 0..n_fresh {
        let owner = rng.below(256) as u32;
        let point = match rng.below(8) {
            // Crowded: a narrow range, far below a page.
            0..=2 if mode == 1 => crowd.wrapping_add(rng.below(1 << 20)),
            // A tie with a point on the ring.
            3 if !want.is_empty() => want[rng.below(want.len() as u64) as usize].0,
            _ => rng.next(),
        };
        if !want.contains(&(point, owner)) && !fresh.contains(&(point, owner)) {
            fresh.push((point, owner));
        }
    }
    (drops, fresh)
}

/// `want` after the change, in ring order.
fn changed(want: &[(u64, u32)], drops: &[(u64, u32)], fresh: &[(u64, u32)]) -> Vec<(u64, u32)> {
    let mut next: Vec<(u64, u32)> = want
        .iter()
        .copied()
        .filter(|p| !drops.contains(p))
        .chain(fresh.iter().copied())
        .collect();
    next.sort_by(|a, b| compare(*a, *b, &many_names));
    next
}

fn check(points: &Points, want: &[(u64, u32)], what: &str) {
    assert_eq!(points.iter().collect::<Vec<_>>(), want, "{what}");
    assert!(
        points.len() == 0 || (0.75..=1.5).contains(&points.density()),
        "{what}"
    );
    check_equivalent(points, what);
}

#[test]
fn edits_on_every_kind_of_spare() {
    let mut rng = Rng(23);
    let mut want: Vec<(u64, u32)> = (0..3000)
        .map(|_| (rng.next(), rng.below(256) as u32))
        .collect();
    want.sort_by(|a, b| compare(*a, *b, &many_names));
    // The lineage: each version edited from the one before.
    let mut older: Option<Points> = None;
    let mut parent: Option<Points> = None;
    let mut current = Points::from_sorted(&want, None, None);
    let (mut relayouts, mut synced) = (0, 0);
    for round in 0..400 {
        let (drops, mut fresh) = random_change(&mut rng, &want);
        let kind = [
            SpareKind::Parent,
            SpareKind::Parent,
            SpareKind::Parent,
            SpareKind::None,
            SpareKind::Grandparent,
            SpareKind::Sibling,
            SpareKind::OtherLayout,
            SpareKind::Current,
        ][rng.below(8) as usize];
        let parent_copy = parent.clone();
        let spare = match kind {
            SpareKind::Parent => parent.take(),
            SpareKind::None => None,
            SpareKind::Grandparent => older.take(),
            SpareKind::Sibling => parent.as_ref().map(|p| {
                let (d, mut f) = random_change(&mut rng, &p.iter().collect::<Vec<_>>());
                p.edited(&d, &mut f, many_names, None)
            }),
            SpareKind::OtherLayout => Some(Points::from_sorted(&want, None, None)),
            SpareKind::Current => Some(current.clone()),
        };
        // The parent is refused too after a relayout (another layout).
        let usable = matches!(kind, SpareKind::Parent)
            && spare.as_ref().is_some_and(|s| s.layout == current.layout);
        let before = SYNCED.with(|n| n.get());
        let next = current.edited(&drops, &mut fresh, many_names, spare);
        let was_synced = SYNCED.with(|n| n.get()) - before;
        want = changed(&want, &drops, &fresh);
        let what = format!("round {round}, spare {kind:?}");
        check(&next, &want, &what);
        if next.layout != current.layout {
            relayouts += 1;
            assert_eq!(next.generation, 0, "{what}");
            assert_eq!(was_synced, 0, "{what}");
        } else {
            assert_eq!(next.generation, current.generation + 1, "{what}");
            assert_eq!(next.parent, current.id, "{what}");
            // Only the version `current` was edited from is brought up to
            // date; every other spare is refused.
            assert_eq!(was_synced, usize::from(usable), "{what}");
            synced += was_synced;
        }
        older = parent_copy;
        parent = Some(std::mem::replace(&mut current, next));
        if round % 50 == 0 {
            // A fresh lineage now and then.
            older = None;
            parent = None;
            current = Points::from_sorted(&want, None, None);
        }
    }
    assert!(synced > 50, "spares brought up to date: {synced}");
    assert!(relayouts > 5, "relayouts: {relayouts}");
}

#[test]
fn edits_in_place() {
    let mut rng = Rng(5);
    let mut want: Vec<(u64, u32)> = (0..2000)
        .map(|_| (rng.next(), rng.below(256) as u32))
        .collect();
    want.sort_by(|a, b| compare(*a, *b, &many_names));
    let mut points = Points::from_sorted(&want, None, None);
    for round in 0..300 {
        if round % 7 == 0 {
            let owner = rng.below(256) as u32;
            points.remove_owner(owner);
            want.retain(|p| p.1 != owner);
        } else {
            let (drops, mut fresh) = random_change(&mut rng, &want);
            points.edit(&drops, &mut fresh, many_names);
            want = changed(&want, &drops, &fresh);
        }
        check(&points, &want, &format!("round {round}"));
        if want.len() < 500 {
            want.extend((0..2000).map(|_| (rng.next(), rng.below(256) as u32)));
            want.sort_by(|a, b| compare(*a, *b, &many_names));
            want.dedup();
            points = Points::from_sorted(&want, None, None);
        }
    }
}

#[test]
fn overflowing_page_lays_out_afresh() {
    let mut rng = Rng(9);
    let mut want: Vec<(u64, u32)> = (0..1000)
        .map(|_| (rng.next(), rng.below(256) as u32))
        .collect();
    want.sort_by(|a, b| compare(*a, *b, &many_names));
    let points = Points::from_sorted(&want, None, None);
    // One page holds about 128 points and room for 16 more: 40 in one
    // bucket overflow it.
    let mut fresh: Vec<(u64, u32)> = (0..40).map(|i| (1 << 50 | i, (i % 256) as u32)).collect();
    let next = points.edited(&[], &mut fresh, many_names, None);
    assert_ne!(next.layout, points.layout);
    want = changed(&want, &[], &fresh);
    check(&next, &want, "overflow");
    // Ten fit: the layout stays.
    let mut fresh: Vec<(u64, u32)> = (0..10).map(|i| (3 << 60 | i, i as u32)).collect();
    let kept = next.edited(&[], &mut fresh, many_names, None);
    assert_eq!(kept.layout, next.layout);
    check(&kept, &changed(&want, &[], &fresh), "fits");
}

#[test]
fn bytes_per_point() {
    // A build: a ninth of the slots are gaps, 1 bucket per point.
    let nodes: Vec<(u32, u32)> = (0..256).map(|i| (i, 600)).collect();
    let points = build(&nodes, None);
    let per = points.memory_bytes() as f64 / points.len() as f64;
    assert!((17.0..18.0).contains(&per), "{per} bytes per point");
}
