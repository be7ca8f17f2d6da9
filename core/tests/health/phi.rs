//! φ-accrual detector tests: crossing times checked against Akka's formula,
//! computed here independently of the crate.

use std::time::Duration;

use ringroute::Error;
use ringroute::health::{Clock, MAX_SAMPLES_LIMIT, ManualClock, PhiConfig, PhiDetector};

use super::{ms, n, secs};

/// Akka's φ, written independently of the crate: `-log10(1 - F)` with the
/// logistic CDF, split at the mean exactly as Akka does.
fn akka_phi(silence: f64, mean: f64, sd: f64) -> f64 {
    let y = (silence - mean) / sd;
    let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
    if silence > mean {
        -(e / (1.0 + e)).log10()
    } else {
        -(1.0 - 1.0 / (1.0 + e)).log10()
    }
}

/// The silence (seconds) at which `akka_phi` reaches `threshold`, by bisection.
fn expected_crossing(intervals: &[f64], pause: f64, min_sd: f64, threshold: f64) -> f64 {
    let (mean, sd) = stats(intervals, min_sd);
    let mean = mean + pause;
    let (mut lo, mut hi) = (mean, mean + 50.0 * sd);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if akka_phi(mid, mean, sd) < threshold {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// Sends heartbeats at the given gaps (seconds) from t = 0; returns the
/// detector and the time of the last heartbeat.
fn beat(config: PhiConfig, gaps: &[f64]) -> (PhiDetector, Duration) {
    let clock = ManualClock::new(Duration::ZERO);
    let mut d = PhiDetector::new(config).unwrap();
    d.heartbeat(n(0), clock.now());
    for &g in gaps {
        clock.advance(Duration::from_secs_f64(g));
        d.heartbeat(n(0), clock.now());
    }
    (d, clock.now())
}

/// The first silence, on a 1 ms grid, at which the node is suspected.
fn measured_crossing(d: &PhiDetector, last: Duration) -> f64 {
    let mut silence = Duration::ZERO;
    while d.is_available(n(0), last + silence) {
        silence += ms(1);
        assert!(silence < secs(600), "never crossed");
    }
    silence.as_secs_f64()
}

/// `measured` is `expected` rounded up to the 1 ms scan grid.
#[track_caller]
fn assert_crossing(measured: f64, expected: f64) {
    let late = measured - expected;
    assert!(
        (-1e-6..0.001 + 1e-6).contains(&late),
        "crossed at {measured} s, formula says {expected} s"
    );
}

/// Mean and population standard deviation, floored like the detector's.
fn stats(intervals: &[f64], min_sd: f64) -> (f64, f64) {
    let len = intervals.len() as f64;
    let mean = intervals.iter().sum::<f64>() / len;
    let var = intervals.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / len;
    (mean, var.sqrt().max(min_sd))
}

fn with_seeds(gaps: &[f64]) -> Vec<f64> {
    [0.75, 1.25].iter().chain(gaps).copied().collect()
}

#[test]
fn phi_defaults_and_validation() {
    let c = PhiConfig::default();
    assert_eq!(
        (c.threshold, c.max_samples, c.min_std_dev),
        (8.0, 1000, ms(100))
    );
    assert_eq!(
        (c.acceptable_pause, c.first_heartbeat_estimate),
        (Duration::ZERO, secs(1))
    );
    assert_eq!(PhiDetector::new(c.clone()).unwrap().config(), &c);
    let bad = |f: fn(&mut PhiConfig)| {
        let mut c = PhiConfig::default();
        f(&mut c);
        let err = c.validate().unwrap_err();
        assert!(matches!(err, Error::InvalidParameter(_)), "{err:?}");
        assert_eq!(PhiDetector::new(c).unwrap_err(), err);
    };
    bad(|c| c.threshold = 0.0);
    bad(|c| c.threshold = -1.0);
    bad(|c| c.threshold = f64::NAN);
    bad(|c| c.threshold = f64::INFINITY);
    bad(|c| c.max_samples = 0);
    bad(|c| c.max_samples = MAX_SAMPLES_LIMIT + 1);
    bad(|c| c.min_std_dev = Duration::ZERO);
    bad(|c| c.first_heartbeat_estimate = Duration::ZERO);
}

#[test]
fn unmonitored_node_has_zero_phi_until_its_first_heartbeat() {
    let mut d = PhiDetector::new(PhiConfig::default()).unwrap();
    assert!(!d.monitored(n(3)));
    assert_eq!(d.phi(n(3), secs(1_000_000)), 0.0);
    assert!(d.is_available(n(3), secs(1_000_000)));
    assert_eq!((d.sample_count(n(3)), d.last_heartbeat(n(3))), (0, None));
    d.heartbeat(n(3), secs(10));
    assert!(d.monitored(n(3)) && !d.monitored(n(2)));
    assert_eq!(
        (d.sample_count(n(3)), d.last_heartbeat(n(3))),
        (2, Some(secs(10)))
    );
}

#[test]
fn phi_grows_with_silence_and_crosses_8_when_the_formula_says() {
    let gaps = [1.0; 60];
    let (d, last) = beat(PhiConfig::default(), &gaps);
    let mut prev = -1.0;
    for step in 0..=100 {
        let phi = d.phi(n(0), last + ms(step * 30));
        assert!(
            phi.is_finite() && phi >= 0.0 && phi >= prev,
            "{phi} after {prev}"
        );
        prev = phi;
    }
    assert!(d.phi(n(0), last + ms(500)) < 0.1);
    assert!((d.phi(n(0), last + secs(1)) - 0.5f64.log10().abs()).abs() < 1e-9);

    let expected = expected_crossing(&with_seeds(&gaps), 0.0, 0.1, 8.0);
    assert!((1.50..1.55).contains(&expected), "{expected}");
    let measured = measured_crossing(&d, last);
    assert_crossing(measured, expected);
}

#[test]
fn phi_matches_akkas_formula() {
    let gaps: Vec<f64> = (0..50)
        .map(|i| 0.8 + 0.4 * f64::from(i % 5) / 4.0)
        .collect();
    let pause = PhiConfig {
        acceptable_pause: ms(250),
        ..PhiConfig::default()
    };
    let (d, last) = beat(pause, &gaps);
    let (mean, sd) = stats(&with_seeds(&gaps), 0.1);
    assert!(sd > 0.1, "the jitter, not the floor, sets sd");
    for tenths in 0..80u64 {
        let silence = tenths as f64 / 10.0;
        let want = akka_phi(silence, mean + 0.25, sd);
        let got = d.phi(n(0), last + ms(tenths * 100));
        assert!(
            (got - want).abs() <= 1e-9 + 1e-9 * want,
            "{got} vs {want} at {silence} s"
        );
    }
}

#[test]
fn phi_drops_when_heartbeats_resume_and_outages_are_not_learned() {
    let (mut d, last) = beat(PhiConfig::default(), &[1.0; 20]);
    let samples = d.sample_count(n(0));
    let back = last + secs(10);
    assert!(d.phi(n(0), back) > 8.0 && !d.is_available(n(0), back));
    d.heartbeat(n(0), back);
    assert!(d.phi(n(0), back) < 0.01 && d.is_available(n(0), back));
    assert_eq!(
        d.sample_count(n(0)),
        samples,
        "the 10 s gap was not learned"
    );
    // The learned rhythm still holds: the crossing is unchanged.
    let expected = expected_crossing(&with_seeds(&[1.0; 20]), 0.0, 0.1, 8.0);
    assert_crossing(measured_crossing(&d, back), expected);
    d.heartbeat(n(0), back + secs(1));
    assert_eq!(d.sample_count(n(0)), samples + 1);
}

#[test]
fn jittery_heartbeats_need_a_longer_silence() {
    let regular = [1.0; 40];
    let jittery: Vec<f64> = (0..40).map(|i| [0.5, 1.5][i % 2]).collect();
    let (d, last) = beat(PhiConfig::default(), &regular);
    let calm = measured_crossing(&d, last);
    let (d, last) = beat(PhiConfig::default(), &jittery);
    let nervous = measured_crossing(&d, last);
    let expected = expected_crossing(&with_seeds(&jittery), 0.0, 0.1, 8.0);
    assert_crossing(nervous, expected);
    assert!(nervous > calm + 1.5, "{nervous} vs {calm}");
}

#[test]
fn acceptable_pause_and_min_std_dev_add_slack() {
    let gaps = [1.0; 30];
    let (d, last) = beat(PhiConfig::default(), &gaps);
    let base = measured_crossing(&d, last);
    let paused = PhiConfig {
        acceptable_pause: secs(3),
        ..PhiConfig::default()
    };
    let (d, last) = beat(paused, &gaps);
    let expected = expected_crossing(&with_seeds(&gaps), 3.0, 0.1, 8.0);
    assert_crossing(measured_crossing(&d, last), expected);
    assert!(expected > base + 2.99);
    let wide = PhiConfig {
        min_std_dev: ms(500),
        ..PhiConfig::default()
    };
    let (d, last) = beat(wide, &gaps);
    let expected = expected_crossing(&with_seeds(&gaps), 0.0, 0.5, 8.0);
    assert_crossing(measured_crossing(&d, last), expected);
}

#[test]
fn a_single_heartbeat_is_judged_by_the_bootstrap_estimate() {
    let (d, last) = beat(PhiConfig::default(), &[]);
    // Seeds 0.75 s and 1.25 s: mean 1 s, sd 0.25 s.
    let expected = expected_crossing(&[0.75, 1.25], 0.0, 0.1, 8.0);
    assert!((2.25..2.35).contains(&expected), "{expected}");
    assert_crossing(measured_crossing(&d, last), expected);
}

#[test]
fn history_is_a_bounded_window() {
    let config = PhiConfig {
        max_samples: 10,
        ..PhiConfig::default()
    };
    let (d, last) = beat(config.clone(), &[2.0; 1000]);
    assert_eq!(d.sample_count(n(0)), 10);
    // Only the last 10 intervals count: the seeds are gone.
    let expected = expected_crossing(&[2.0; 10], 0.0, 0.1, 8.0);
    assert_crossing(measured_crossing(&d, last), expected);
    let one = PhiConfig {
        max_samples: 1,
        ..config
    };
    let (d, _) = beat(one, &[1.0; 5]);
    assert_eq!(d.sample_count(n(0)), 1);
}

#[test]
fn huge_silences_give_large_finite_phi() {
    let (d, last) = beat(PhiConfig::default(), &[1.0; 10]);
    let mut prev = 0.0;
    for silence in [secs(60), secs(3600), secs(86_400 * 365), Duration::MAX] {
        let phi = d.phi(n(0), last.saturating_add(silence));
        assert!(phi.is_finite() && phi > prev, "{phi} at {silence:?}");
        prev = phi;
    }
    assert!(!d.is_available(n(0), Duration::MAX));
}

#[test]
fn out_of_order_heartbeats_are_ignored_and_forget_resets() {
    let (mut d, last) = beat(PhiConfig::default(), &[1.0; 5]);
    let samples = d.sample_count(n(0));
    d.heartbeat(n(0), last - ms(500));
    assert_eq!(d.last_heartbeat(n(0)), Some(last));
    assert_eq!(d.sample_count(n(0)), samples);
    // Asking about a time before the last heartbeat is a zero silence.
    assert!(d.phi(n(0), Duration::ZERO) < 1e-3);

    d.forget(n(0));
    assert!(!d.monitored(n(0)));
    assert_eq!(d.phi(n(0), last + secs(100)), 0.0);
    d.heartbeat(n(0), last + secs(100));
    assert_eq!(
        d.sample_count(n(0)),
        2,
        "a new node starts from the bootstrap"
    );
    d.forget(n(1234)); // never seen: nothing to do
}
