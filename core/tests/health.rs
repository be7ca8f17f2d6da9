//! Health detectors driven by a fake clock: exact ejection times, share
//! limits, decay, and φ crossing times checked against the formula.

use std::sync::Arc;
use std::time::Duration;

use ringroute::health::{Clock, ManualClock, MonotonicClock, OutlierConfig, OutlierDetector};
use ringroute::{Error, NodeIndex};

/// The φ-accrual tests, in `tests/health/phi.rs`.
#[path = "health/phi.rs"]
mod phi;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn n(i: u32) -> NodeIndex {
    NodeIndex::new(i)
}

fn outliers() -> OutlierDetector {
    OutlierDetector::new(OutlierConfig::default()).unwrap()
}

fn expire(d: &mut OutlierDetector, now: Duration) -> Vec<NodeIndex> {
    let mut restored = Vec::new();
    d.expire(now, &mut restored);
    restored
}

// ---------------------------------------------------------------- clocks

#[test]
fn manual_clock_moves_only_when_told() {
    let clock = ManualClock::new(secs(5));
    assert_eq!(clock.now(), secs(5));
    assert_eq!(clock.now(), secs(5));
    clock.advance(ms(1500));
    assert_eq!(clock.now(), ms(6500));
    clock.set(secs(1));
    assert_eq!(clock.now(), secs(1));
    assert_eq!(ManualClock::default().now(), Duration::ZERO);
    // Saturates instead of wrapping to the past.
    clock.advance(Duration::MAX);
    clock.advance(secs(1));
    assert_eq!(clock.now(), Duration::from_nanos(u64::MAX));
}

#[test]
fn shared_clocks_are_clocks() {
    let clock = Arc::new(ManualClock::new(Duration::ZERO));
    let as_dyn: Arc<dyn Clock> = clock.clone();
    fn read<C: Clock>(c: &C) -> Duration {
        c.now()
    }
    clock.advance(secs(3));
    assert_eq!(read(&clock), secs(3));
    assert_eq!(read(&as_dyn), secs(3));
}

#[test]
fn monotonic_clock_starts_near_zero_and_never_goes_back() {
    let clock = MonotonicClock::default();
    let first = clock.now();
    assert!(first < secs(1), "epoch is creation: {first:?}");
    let mut prev = first;
    for _ in 0..1000 {
        let t = clock.now();
        assert!(t >= prev);
        prev = t;
    }
    std::thread::sleep(ms(5));
    assert!(clock.now() >= first + ms(5));
}

// --------------------------------------------------------------- outliers

#[test]
fn outlier_defaults_are_envoys() {
    let c = OutlierConfig::default();
    assert_eq!(c.consecutive_failures, 5);
    assert_eq!(c.base_ejection, secs(30));
    assert_eq!(c.max_ejection, secs(300));
    assert_eq!(c.max_ejected_share, 0.10);
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(outliers().config(), &c);
}

#[test]
fn outlier_config_validation() {
    let bad = |f: fn(&mut OutlierConfig)| {
        let mut c = OutlierConfig::default();
        f(&mut c);
        let err = c.validate().unwrap_err();
        assert!(matches!(err, Error::InvalidParameter(_)), "{err:?}");
        assert_eq!(OutlierDetector::new(c).unwrap_err(), err);
    };
    bad(|c| c.consecutive_failures = 0);
    bad(|c| c.base_ejection = Duration::ZERO);
    bad(|c| c.max_ejection = secs(29));
    bad(|c| c.max_ejected_share = -0.01);
    bad(|c| c.max_ejected_share = 1.01);
    bad(|c| c.max_ejected_share = f64::NAN);
    bad(|c| c.max_ejected_share = f64::INFINITY);
    // Edges that are valid.
    let mut c = OutlierConfig::default();
    c.max_ejection = c.base_ejection;
    c.max_ejected_share = 0.0;
    assert!(c.validate().is_ok());
    c.max_ejected_share = 1.0;
    assert!(c.validate().is_ok());
}

#[test]
fn ejection_times_grow_by_base_and_cap_at_max() {
    let clock = ManualClock::new(secs(1000));
    let mut d = outliers();
    let mut lengths = Vec::new();
    for _ in 0..12 {
        let now = clock.now();
        let until = d.try_eject(n(0), now, 10).unwrap();
        assert_eq!(d.ejected_until(n(0)), Some(until));
        lengths.push((until - now).as_secs());
        // Fails again the moment it is back: no in-service time, no decay.
        clock.set(until);
        assert_eq!(expire(&mut d, clock.now()), [n(0)]);
    }
    assert_eq!(
        lengths,
        [30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300]
    );
    // The multiplier stops where the ejection reaches max_ejection.
    assert_eq!(d.times_ejected(n(0)), 10);
}

#[test]
fn uneven_max_caps_the_last_step() {
    let config = OutlierConfig {
        base_ejection: secs(30),
        max_ejection: secs(100),
        ..OutlierConfig::default()
    };
    let mut d = OutlierDetector::new(config).unwrap();
    let mut now = Duration::ZERO;
    let mut lengths = Vec::new();
    for _ in 0..6 {
        let until = d.try_eject(n(3), now, 1).unwrap();
        lengths.push((until - now).as_secs());
        now = until;
        expire(&mut d, now);
    }
    assert_eq!(lengths, [30, 60, 90, 100, 100, 100]);
    assert_eq!(d.times_ejected(n(3)), 4);
}

#[test]
fn max_share_allows_ten_percent_but_at_least_one() {
    for (members, allowed) in [(1, 1), (5, 1), (10, 1), (19, 1), (20, 2), (30, 3), (99, 9)] {
        let mut d = outliers();
        assert_eq!(d.max_ejected(members), allowed, "{members} members");
        let ejected = (0..members as u32)
            .filter(|&i| d.try_eject(n(i), secs(1), members).is_some())
            .count();
        assert_eq!(ejected, allowed, "{members} members");
        assert_eq!(d.ejected_count(), allowed);
        // Refused nodes were left untouched.
        assert_eq!(
            d.times_ejected(n(members as u32 - 1)),
            u32::from(members == 1)
        );
    }
    let share = |s: f64| {
        OutlierDetector::new(OutlierConfig {
            max_ejected_share: s,
            ..OutlierConfig::default()
        })
        .unwrap()
    };
    assert_eq!(share(0.0).max_ejected(1000), 1);
    assert_eq!(share(0.29).max_ejected(100), 29); // 0.29 × 100 < 29 in f64
    assert_eq!(share(1.0).max_ejected(7), 7);
    assert_eq!(outliers().max_ejected(0), 1);
}

#[test]
fn ejected_node_is_not_ejected_again_and_share_frees_on_expire() {
    let mut d = outliers();
    let until = d.try_eject(n(1), secs(0), 10).unwrap();
    assert_eq!(d.try_eject(n(1), secs(1), 10), None);
    assert_eq!(d.times_ejected(n(1)), 1);
    assert_eq!(d.try_eject(n(2), secs(1), 10), None, "share of 10 is one");
    expire(&mut d, until);
    assert_eq!(d.try_eject(n(2), until, 10), Some(until + secs(30)));
}

#[test]
fn expire_restores_exactly_at_until() {
    let clock = ManualClock::new(secs(7));
    let mut d = outliers();
    let a = d.try_eject(n(4), clock.now(), 30).unwrap();
    clock.advance(secs(10));
    let b = d.try_eject(n(2), clock.now(), 30).unwrap();
    assert_eq!((a, b), (secs(37), secs(47)));
    assert_eq!(d.next_expiry(), Some(a));

    assert!(expire(&mut d, a - Duration::from_nanos(1)).is_empty());
    assert!(d.is_ejected(n(4)));
    assert_eq!(expire(&mut d, a), [n(4)]);
    assert!(!d.is_ejected(n(4)));
    assert_eq!(d.ejected_count(), 1);
    assert_eq!(d.next_expiry(), Some(b));
    assert!(expire(&mut d, a).is_empty(), "restored only once");

    // A late expire restores everything due, in index order.
    d.try_eject(n(9), secs(20), 30).unwrap();
    assert_eq!(expire(&mut d, secs(1000)), [n(2), n(9)]);
    assert_eq!(d.ejected_count(), 0);
    assert_eq!(d.next_expiry(), None);
}

#[test]
fn state_grows_on_demand() {
    let mut d = outliers();
    assert!(!d.is_ejected(n(5000)));
    assert_eq!(d.times_ejected(n(5000)), 0);
    assert_eq!(d.ejected_until(n(5000)), None);
    assert!(d.try_eject(n(5000), secs(0), 10).is_some());
    assert!(d.is_ejected(n(5000)));
    assert!(!d.is_ejected(n(4999)));
}

#[test]
fn forget_resets_everything() {
    let mut d = outliers();
    let mut now = Duration::ZERO;
    for _ in 0..3 {
        now = d.try_eject(n(1), now, 10).unwrap();
        expire(&mut d, now);
    }
    d.try_eject(n(1), now, 10).unwrap();
    assert_eq!((d.times_ejected(n(1)), d.ejected_count()), (4, 1));
    d.forget(n(1));
    assert!(!d.is_ejected(n(1)));
    assert_eq!((d.times_ejected(n(1)), d.ejected_count()), (0, 0));
    assert!(expire(&mut d, secs(100_000)).is_empty());
    // A new node in the slot starts from scratch.
    assert_eq!(d.try_eject(n(1), now, 10), Some(now + secs(30)));
    d.forget(n(77)); // never seen: nothing to do
}

#[test]
fn multiplier_decays_one_step_per_max_ejection_in_service() {
    let mut d = outliers();
    let mut now = Duration::ZERO;
    for _ in 0..3 {
        now = d.try_eject(n(0), now, 10).unwrap();
        expire(&mut d, now);
    }
    let back = now; // restored at 180 s with multiplier 3
    assert_eq!(d.times_ejected(n(0)), 3);
    let nano = Duration::from_nanos(1);
    expire(&mut d, back + secs(300) - nano);
    assert_eq!(d.times_ejected(n(0)), 3);
    expire(&mut d, back + secs(300));
    assert_eq!(d.times_ejected(n(0)), 2);
    // The partial step carries over: 599 s more is one more step, not two.
    expire(&mut d, back + secs(899));
    assert_eq!(d.times_ejected(n(0)), 1);
    expire(&mut d, back + secs(900));
    assert_eq!(d.times_ejected(n(0)), 0);
    let t = back + secs(900);
    assert_eq!(d.try_eject(n(0), t, 10), Some(t + secs(30)));

    // Service time counts from `until`, even when `expire` runs late.
    let mut d = outliers();
    let until = d.try_eject(n(0), Duration::ZERO, 10).unwrap();
    assert_eq!(expire(&mut d, until + secs(100)), [n(0)]);
    expire(&mut d, until + secs(300));
    assert_eq!(d.times_ejected(n(0)), 0);
}

#[test]
fn decay_does_not_depend_on_expire_frequency_or_count_ejected_time() {
    let scenario = |sweep_every: Option<u64>| {
        let mut d = outliers();
        let mut now = Duration::ZERO;
        for _ in 0..5 {
            now = d.try_eject(n(0), now, 10).unwrap();
            expire(&mut d, now);
        }
        // 750 s in service: two full steps, evaluated lazily or by sweeps.
        let end = now + secs(750);
        if let Some(step) = sweep_every {
            while now < end {
                now = (now + secs(step)).min(end);
                expire(&mut d, now);
            }
        }
        let until = d.try_eject(n(0), end, 10).unwrap();
        (until - end, d.times_ejected(n(0)))
    };
    let lazy = scenario(None);
    assert_eq!(lazy, (secs(120), 4), "5 − 2 steps + this ejection");
    assert_eq!(scenario(Some(1)), lazy);
    assert_eq!(scenario(Some(7)), lazy);
    assert_eq!(scenario(Some(299)), lazy);

    // Time spent ejected is not time in service.
    let mut d = outliers();
    let mut now = Duration::ZERO;
    for _ in 0..10 {
        now = d.try_eject(n(0), now, 10).unwrap();
        expire(&mut d, now);
    }
    let until = d.try_eject(n(0), now, 10).unwrap(); // a full 300 s out
    assert_eq!(until - now, secs(300));
    expire(&mut d, until);
    assert_eq!(d.times_ejected(n(0)), 10);
}
