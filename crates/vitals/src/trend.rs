//! Memory trend: least-squares growth rates and a leak detector over `(t_seconds, bytes)` points.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::units::BYTES_PER_MIB;

/// Fraction of the threshold pace a segment median must gain over the previous one to count
/// as a rise (rule 3): small enough that a real leak at the threshold rises 4× more per
/// segment, large enough that noise around a flat level does not count.
const SEGMENT_RISE_FRACTION: f64 = 0.25;

/// An ordinary-least-squares line through `(t_seconds, bytes)` points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fit {
    /// Growth in bytes per second (negative when memory shrinks).
    pub slope_bytes_per_sec: f64,
    /// The line's value in bytes at `t = 0` on the points' clock.
    pub intercept_bytes: f64,
    /// Coefficient of determination, 0..=1: the share of the variance the line explains.
    /// 1.0 when the points have no variance at all (a perfectly flat series).
    pub r_squared: f64,
    /// Number of points fitted.
    pub points: usize,
    /// Seconds between the first and the last point.
    pub span_secs: f64,
}

impl Fit {
    /// Growth in MiB (1024 × 1024 bytes) per minute.
    pub fn mib_per_min(&self) -> f64 {
        self.slope_bytes_per_sec * 60.0 / BYTES_PER_MIB
    }

    /// The line's value in bytes at `t_seconds`.
    pub fn predict_bytes(&self, t_seconds: f64) -> f64 {
        self.intercept_bytes + self.slope_bytes_per_sec * t_seconds
    }
}

/// Fits a least-squares line through `(t_seconds, bytes)` points, in any order.
///
/// Points with a non-finite coordinate are skipped. Returns `None` when fewer than two points
/// remain or all of them share one time (no slope can be measured). Computed around the means,
/// so large Unix-second timestamps lose no precision.
pub fn fit(points: &[(f64, f64)]) -> Option<Fit> {
    let finite = || {
        points
            .iter()
            .copied()
            .filter(|(t, y)| t.is_finite() && y.is_finite())
    };
    let mut n = 0usize;
    let (mut sum_t, mut sum_y) = (0.0, 0.0);
    let (mut min_t, mut max_t) = (f64::INFINITY, f64::NEG_INFINITY);
    for (t, y) in finite() {
        n += 1;
        sum_t += t;
        sum_y += y;
        min_t = min_t.min(t);
        max_t = max_t.max(t);
    }
    if n < 2 {
        return None;
    }
    let mean_t = sum_t / n as f64;
    let mean_y = sum_y / n as f64;
    let (mut s_tt, mut s_ty, mut s_yy) = (0.0, 0.0, 0.0);
    for (t, y) in finite() {
        let (dt, dy) = (t - mean_t, y - mean_y);
        s_tt += dt * dt;
        s_ty += dt * dy;
        s_yy += dy * dy;
    }
    if s_tt <= 0.0 {
        return None;
    }
    let slope = s_ty / s_tt;
    let r_squared = if s_yy <= 0.0 {
        1.0
    } else {
        // The residual sum of squares is s_yy - slope * s_ty; clamp rounding error.
        (slope * s_ty / s_yy).clamp(0.0, 1.0)
    };
    Some(Fit {
        slope_bytes_per_sec: slope,
        intercept_bytes: mean_y - slope * mean_t,
        r_squared,
        points: n,
        span_secs: max_t - min_t,
    })
}

/// Fits each window ending at `now`: the points with `now - window <= t <= now`.
///
/// Returns one entry per window, in the order given, with `None` where [`fit`] finds no line
/// (fewer than two points). A window only partly covered by samples (a process up for 3
/// minutes asked for its 15-minute rate) is fitted over what there is: check
/// [`Fit::span_secs`] before trusting a long window.
///
/// ```
/// use std::time::Duration;
/// use vitals::growth_rates;
///
/// let points: Vec<(f64, f64)> = (0..=360).map(|i| (i as f64 * 5.0, 1e8)).collect();
/// let minutes = |m: u64| Duration::from_secs(m * 60);
/// let rates = growth_rates(&points, 1800.0, &[minutes(5), minutes(15), minutes(30)]);
/// assert_eq!(rates.len(), 3);
/// assert_eq!(rates[0].1.unwrap().mib_per_min(), 0.0);
/// ```
pub fn growth_rates(
    points: &[(f64, f64)],
    now: f64,
    windows: &[Duration],
) -> Vec<(Duration, Option<Fit>)> {
    let mut selected = Vec::with_capacity(points.len());
    windows
        .iter()
        .map(|&window| {
            let from = now - window.as_secs_f64();
            selected.clear();
            selected.extend(points.iter().filter(|&&(t, _)| t >= from && t <= now));
            (window, fit(&selected))
        })
        .collect()
}

/// Why a [`LeakVerdict`] came out as it did: the first rule (see [`LeakDetector`])
/// that failed, or [`SustainedGrowth`](LeakReason::SustainedGrowth) when none did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LeakReason {
    /// Too few points, too short a span, or a segment without samples (rule 1).
    InsufficientData,
    /// Growth at or below the threshold: flat, slowly growing or shrinking memory (rule 2).
    BelowThreshold,
    /// Fast average growth that came from a few jumps rather than steady growth (rule 3).
    Step,
    /// Fast average growth, but memory swings too far around the trend for a good fit (rule 4).
    Sawtooth,
    /// Fast, sustained, steady growth: a likely leak.
    SustainedGrowth,
}

impl LeakReason {
    /// The camelCase name it serializes as.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InsufficientData => "insufficientData",
            Self::BelowThreshold => "belowThreshold",
            Self::Step => "step",
            Self::Sawtooth => "sawtooth",
            Self::SustainedGrowth => "sustainedGrowth",
        }
    }
}

impl fmt::Display for LeakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of [`LeakDetector::assess`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeakVerdict {
    /// Whether every leak rule held.
    pub leaking: bool,
    /// The first rule that failed, or [`LeakReason::SustainedGrowth`].
    pub reason: LeakReason,
    /// Least-squares growth over the window in MiB/min; `None` when no line could be fitted.
    pub growth_mib_per_min: Option<f64>,
    /// The fit's r²; `None` when no line could be fitted.
    pub r_squared: Option<f64>,
    /// Finite points inside the window.
    pub points: usize,
    /// Seconds between the first and the last point inside the window.
    pub span_secs: f64,
    /// Segment-to-segment comparisons whose median rose (rule 3); 0 when not evaluated.
    pub rising_segments: usize,
    /// Segment-to-segment comparisons made (`segments - 1`); 0 when not evaluated.
    pub compared_segments: usize,
    /// One human sentence explaining the verdict.
    pub evidence: String,
}

/// Decides whether a memory series is leaking, by the rules below.
///
/// Everything here is a pure function of the points it is given; the caller keeps the samples
/// (typically one every 5 s) and passes the last 30 minutes. Times are seconds on any clock
/// (Unix seconds, seconds since start), as long as all points use the same one.
///
/// **Units.** Rates are reported in MiB per minute, where 1 MiB = 1024 × 1024 bytes
/// ([`BYTES_PER_MIB`]). Field and method names say `mib` so the unit is never in doubt.
///
/// # Leak rules
///
/// [`LeakDetector::assess`] calls a series a leak only when **all** of these hold, checked in
/// this order (the first that fails becomes the verdict's [`LeakReason`]):
///
/// 1. **Enough data** ([`LeakReason::InsufficientData`]): at least
///    [`min_points`](LeakDetector::min_points) finite points (default 10) inside the window,
///    spanning at least [`min_span`](LeakDetector::min_span) (default 5 min), with every one of
///    the [`segments`](LeakDetector::segments) time segments holding at least one point.
/// 2. **Fast growth** ([`LeakReason::BelowThreshold`]): the ordinary-least-squares slope over
///    the window is above [`threshold_mib_per_min`](LeakDetector::threshold_mib_per_min)
///    (default 20 MiB/min). Flat memory, slow growth and shrinking memory all stop here.
/// 3. **Sustained growth** ([`LeakReason::Step`]): the window (first to last point) is cut into
///    [`segments`](LeakDetector::segments) equal time segments (default 5); the median of
///    each segment is compared with the median of the one before, and a comparison counts as a
///    *rise* when the median grew by more than a quarter of what the threshold rate would add
///    over one segment. At least [`min_rising_fraction`](LeakDetector::min_rising_fraction)
///    (default 0.75, i.e. 3 of 4 comparisons) must rise. A one-off step (flat, a jump, flat
///    again: a cache filled once, a big buffer kept) rises in one comparison only.
/// 4. **Steady growth** ([`LeakReason::Sawtooth`]): the fit's r² is at least
///    [`min_r_squared`](LeakDetector::min_r_squared) (default 0.8). Memory that swings widely
///    around its trend (allocate/free cycles) fits a line badly and is not called a leak even
///    when its average slope is steep.
///
/// If all four hold the reason is [`LeakReason::SustainedGrowth`] and `leaking` is `true`.
/// A sawtooth with no net growth (the common case) already stops at rule 2.
///
/// # Example
///
/// ```
/// use vitals::{LeakDetector, LeakReason, fit_trend};
///
/// // 30 minutes sampled every 5 s, growing 40 MiB per minute.
/// let mib = 1024.0 * 1024.0;
/// let points: Vec<(f64, f64)> = (0..=360)
///     .map(|i| {
///         let t = i as f64 * 5.0;
///         (t, 200.0 * mib + 40.0 * mib * t / 60.0)
///     })
///     .collect();
///
/// let line = fit_trend(&points).unwrap();
/// assert!((line.mib_per_min() - 40.0).abs() < 1e-6);
///
/// let verdict = LeakDetector::default().assess(&points);
/// assert!(verdict.leaking);
/// assert_eq!(verdict.reason, LeakReason::SustainedGrowth);
/// println!("{}", verdict.evidence);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LeakDetector {
    /// Growth above which memory may be leaking, in MiB/min. Default 20.
    pub threshold_mib_per_min: f64,
    /// Only points at most this old (relative to the newest point) are assessed. Default 30 min.
    pub window: Duration,
    /// Fewest points needed inside the window. Default 10.
    pub min_points: usize,
    /// Shortest span the points must cover. Default 5 min.
    pub min_span: Duration,
    /// Lowest r² accepted as steady growth. Default 0.8.
    pub min_r_squared: f64,
    /// Equal time segments the window is cut into for the sustained-growth rule (at least 2).
    /// Default 5.
    pub segments: usize,
    /// Share of segment comparisons that must rise. Default 0.75.
    pub min_rising_fraction: f64,
}

impl Default for LeakDetector {
    fn default() -> Self {
        Self {
            threshold_mib_per_min: 20.0,
            window: Duration::from_secs(30 * 60),
            min_points: 10,
            min_span: Duration::from_secs(5 * 60),
            min_r_squared: 0.8,
            segments: 5,
            min_rising_fraction: 0.75,
        }
    }
}

impl LeakDetector {
    /// Assesses `(t_seconds, bytes)` points (any order; non-finite points are skipped) that
    /// lie within [`window`](Self::window) of the newest one.
    pub fn assess(&self, points: &[(f64, f64)]) -> LeakVerdict {
        let newest = points
            .iter()
            .filter(|(t, y)| t.is_finite() && y.is_finite())
            .map(|&(t, _)| t)
            .fold(f64::NEG_INFINITY, f64::max);
        let from = newest - self.window.as_secs_f64();
        let inside: Vec<(f64, f64)> = points
            .iter()
            .copied()
            .filter(|&(t, y)| t.is_finite() && y.is_finite() && t >= from)
            .collect();
        let line = fit(&inside);
        let span_secs = line.map_or(0.0, |l| l.span_secs);
        let mut verdict = LeakVerdict {
            leaking: false,
            reason: LeakReason::InsufficientData,
            growth_mib_per_min: line.map(|l| l.mib_per_min()),
            r_squared: line.map(|l| l.r_squared),
            points: inside.len(),
            span_secs,
            rising_segments: 0,
            compared_segments: 0,
            evidence: String::new(),
        };
        let minutes = span_secs / 60.0;

        // Rule 1: enough data.
        let min_span = self.min_span.as_secs_f64();
        let Some(line) = line.filter(|_| inside.len() >= self.min_points && span_secs >= min_span)
        else {
            verdict.evidence = format!(
                "not enough data: {} samples over {:.1} min, need at least {} over {:.1} min",
                inside.len(),
                minutes,
                self.min_points,
                min_span / 60.0
            );
            return verdict;
        };
        let segments = self.segments.max(2);
        let Some(medians) = segment_medians(&inside, segments) else {
            verdict.evidence = format!(
                "not enough data: samples over the last {minutes:.1} min leave some of its \
                 {segments} segments empty"
            );
            return verdict;
        };

        let growth = line.mib_per_min();
        let r2 = line.r_squared;
        let threshold = self.threshold_mib_per_min;

        // Rule 2: fast growth.
        if growth <= threshold || threshold.is_nan() {
            verdict.reason = LeakReason::BelowThreshold;
            verdict.evidence = format!(
                "memory changed {growth:+.1} MiB/min over the last {minutes:.1} min \
                 ({} samples, r² {r2:.2}), not above the {threshold} MiB/min leak threshold",
                inside.len()
            );
            return verdict;
        }

        // Rule 3: sustained growth.
        let segment_secs = span_secs / segments as f64;
        let min_rise = SEGMENT_RISE_FRACTION * threshold * BYTES_PER_MIB * segment_secs / 60.0;
        let rising = medians
            .windows(2)
            .filter(|w| w[1] - w[0] > min_rise)
            .count();
        let compared = segments - 1;
        verdict.rising_segments = rising;
        verdict.compared_segments = compared;
        if (rising as f64) < self.min_rising_fraction * compared as f64 {
            verdict.reason = LeakReason::Step;
            verdict.evidence = format!(
                "memory grew {growth:.1} MiB/min on average over the last {minutes:.1} min, but \
                 in jumps: the median rose in only {rising} of {compared} segments, so this \
                 looks like a one-off step rather than a leak"
            );
            return verdict;
        }

        // Rule 4: steady growth.
        if r2 < self.min_r_squared {
            verdict.reason = LeakReason::Sawtooth;
            verdict.evidence = format!(
                "memory grew {growth:.1} MiB/min on average over the last {minutes:.1} min, but \
                 swings widely around that trend (r² {r2:.2} < {:.2}), like allocate/free \
                 cycles rather than a leak",
                self.min_r_squared
            );
            return verdict;
        }

        verdict.leaking = true;
        verdict.reason = LeakReason::SustainedGrowth;
        verdict.evidence = format!(
            "possible memory leak: memory grew {growth:.1} MiB/min (threshold {threshold} \
             MiB/min) over the last {minutes:.1} min, steadily (r² {r2:.2}, {} samples) and \
             in {rising} of {compared} segments",
            inside.len()
        );
        verdict
    }
}

/// Medians of `segments` equal time segments from the first to the last point, or `None`
/// when a segment holds no point. The last segment includes the newest point.
fn segment_medians(points: &[(f64, f64)], segments: usize) -> Option<Vec<f64>> {
    let (start, end) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(t, _)| {
            (lo.min(t), hi.max(t))
        });
    let width = (end - start) / segments as f64;
    let mut buckets = vec![Vec::new(); segments];
    for &(t, y) in points {
        let i = (((t - start) / width) as usize).min(segments - 1);
        buckets[i].push(y);
    }
    buckets
        .into_iter()
        .map(|mut values| {
            if values.is_empty() {
                return None;
            }
            values.sort_unstable_by(f64::total_cmp);
            let mid = values.len() / 2;
            Some(if values.len() % 2 == 1 {
                values[mid]
            } else {
                (values[mid - 1] + values[mid]) / 2.0
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = BYTES_PER_MIB;
    const BASE: f64 = 200.0 * MIB;

    /// 30 minutes sampled every 5 s (361 points), starting at a Unix-like timestamp to
    /// exercise the centred arithmetic.
    fn series(f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
        let t0 = 1_700_000_000.0;
        (0..=360)
            .map(|i| {
                let t = i as f64 * 5.0;
                (t0 + t, f(t))
            })
            .collect()
    }

    /// Deterministic noise in about ±20 MiB (sum of three uniforms, roughly gaussian).
    fn noise(seed: u64) -> impl FnMut() -> f64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        move || (rng.f64() + rng.f64() + rng.f64() - 1.5) / 1.5 * 20.0 * MIB
    }

    fn with_noise(points: Vec<(f64, f64)>, seed: u64) -> Vec<(f64, f64)> {
        let mut n = noise(seed);
        points.into_iter().map(|(t, y)| (t, y + n())).collect()
    }

    fn assert_rate(verdict: &LeakVerdict, expected: f64) {
        let got = verdict.growth_mib_per_min.unwrap();
        assert!(
            (got - expected).abs() <= 0.1 * expected,
            "growth {got} not within 10% of {expected}: {verdict:?}"
        );
    }

    #[test]
    fn fit_recovers_an_exact_line() {
        let line = fit(&[(0.0, 10.0), (1.0, 12.0), (2.0, 14.0)]).unwrap();
        assert!((line.slope_bytes_per_sec - 2.0).abs() < 1e-12);
        assert!((line.intercept_bytes - 10.0).abs() < 1e-12);
        assert!((line.r_squared - 1.0).abs() < 1e-12);
        assert_eq!(line.points, 3);
        assert_eq!(line.span_secs, 2.0);
        assert!((line.predict_bytes(3.0) - 16.0).abs() < 1e-12);
    }

    #[test]
    fn fit_needs_two_distinct_times() {
        assert_eq!(fit(&[]), None);
        assert_eq!(fit(&[(1.0, 5.0)]), None);
        assert_eq!(fit(&[(1.0, 5.0), (1.0, 7.0)]), None);
        assert_eq!(fit(&[(1.0, 5.0), (f64::NAN, 7.0)]), None);
        let flat = fit(&[(0.0, 5.0), (1.0, 5.0)]).unwrap();
        assert_eq!(flat.slope_bytes_per_sec, 0.0);
        assert_eq!(flat.r_squared, 1.0);
    }

    #[test]
    fn flat_is_not_a_leak() {
        let verdict = LeakDetector::default().assess(&series(|_| BASE));
        assert!(!verdict.leaking);
        assert_eq!(verdict.reason, LeakReason::BelowThreshold);
        assert!(verdict.growth_mib_per_min.unwrap().abs() < 1e-9);
        assert_eq!(verdict.points, 361);
        assert_eq!(verdict.span_secs, 1800.0);
    }

    #[test]
    fn slow_leak_is_reported_but_below_threshold() {
        let verdict = LeakDetector::default().assess(&series(|t| BASE + 5.0 * MIB * t / 60.0));
        assert!(!verdict.leaking);
        assert_eq!(verdict.reason, LeakReason::BelowThreshold);
        assert_rate(&verdict, 5.0);
        // With a lower threshold the same series is a leak.
        let strict = LeakDetector {
            threshold_mib_per_min: 2.0,
            ..LeakDetector::default()
        };
        assert!(
            strict
                .assess(&series(|t| BASE + 5.0 * MIB * t / 60.0))
                .leaking
        );
    }

    #[test]
    fn fast_leak_is_a_leak() {
        let verdict = LeakDetector::default().assess(&series(|t| BASE + 40.0 * MIB * t / 60.0));
        assert!(verdict.leaking, "{verdict:?}");
        assert_eq!(verdict.reason, LeakReason::SustainedGrowth);
        assert_eq!((verdict.rising_segments, verdict.compared_segments), (4, 4));
        assert_rate(&verdict, 40.0);
        assert!(
            verdict.evidence.contains("40.0 MiB/min"),
            "{}",
            verdict.evidence
        );
    }

    #[test]
    fn sawtooth_without_net_growth_is_not_a_leak() {
        // Ramp up 50 MiB over a minute, free it all, repeat.
        let verdict =
            LeakDetector::default().assess(&series(|t| BASE + 50.0 * MIB * (t % 60.0) / 60.0));
        assert!(!verdict.leaking);
        assert_eq!(verdict.reason, LeakReason::BelowThreshold);
        assert!(
            verdict.growth_mib_per_min.unwrap().abs() < 1.0,
            "{verdict:?}"
        );
    }

    #[test]
    fn wide_sawtooth_over_growth_fails_the_fit_rule() {
        // 25 MiB/min average growth under 600 MiB allocate/free cycles every 3 minutes:
        // the medians rise, but the line explains too little of the variance.
        let verdict = LeakDetector::default().assess(&series(|t| {
            BASE + 25.0 * MIB * t / 60.0 + 600.0 * MIB * (t % 180.0) / 180.0
        }));
        assert!(!verdict.leaking, "{verdict:?}");
        assert_eq!(verdict.reason, LeakReason::Sawtooth, "{verdict:?}");
        assert!(verdict.r_squared.unwrap() < 0.8);
    }

    #[test]
    fn one_step_is_not_a_leak() {
        // Flat at 200 MiB, +300 MiB at minute 10, flat after.
        let step = |t: f64| if t < 600.0 { BASE } else { BASE + 300.0 * MIB };
        let verdict = LeakDetector::default().assess(&series(step));
        assert!(!verdict.leaking, "{verdict:?}");
        assert_eq!(verdict.reason, LeakReason::BelowThreshold);
    }

    #[test]
    fn big_step_fails_the_sustained_rule() {
        // +1500 MiB at minute 14: the average slope (about 75 MiB/min) is far above the
        // threshold, but the medians rise in one comparison only.
        let step = |t: f64| if t < 840.0 { BASE } else { BASE + 1500.0 * MIB };
        let detector = LeakDetector::default();
        let verdict = detector.assess(&with_noise(series(step), 7));
        assert!(!verdict.leaking, "{verdict:?}");
        assert_eq!(verdict.reason, LeakReason::Step, "{verdict:?}");
        assert!(verdict.growth_mib_per_min.unwrap() > 20.0);
        assert_eq!(verdict.rising_segments, 1);
        // Without the sustained rule the step would have passed rules 1 and 2.
        assert!(verdict.evidence.contains("1 of 4"), "{}", verdict.evidence);
    }

    #[test]
    fn noisy_flat_is_not_a_leak() {
        for seed in 0..20 {
            let verdict = LeakDetector::default().assess(&with_noise(series(|_| BASE), seed));
            assert!(!verdict.leaking, "seed {seed}: {verdict:?}");
            assert_eq!(verdict.reason, LeakReason::BelowThreshold);
            assert!(
                verdict.growth_mib_per_min.unwrap().abs() < 2.0,
                "seed {seed}: {verdict:?}"
            );
        }
    }

    #[test]
    fn noisy_fast_leak_is_a_leak() {
        for seed in 0..20 {
            let points = with_noise(series(|t| BASE + 40.0 * MIB * t / 60.0), seed);
            let verdict = LeakDetector::default().assess(&points);
            assert!(verdict.leaking, "seed {seed}: {verdict:?}");
            assert_eq!(verdict.reason, LeakReason::SustainedGrowth);
            assert_rate(&verdict, 40.0);
        }
    }

    #[test]
    fn too_few_points_is_insufficient_data() {
        let detector = LeakDetector::default();
        let leak = series(|t| BASE + 40.0 * MIB * t / 60.0);
        // Nine points over 40 s.
        let verdict = detector.assess(&leak[..9]);
        assert!(!verdict.leaking);
        assert_eq!(verdict.reason, LeakReason::InsufficientData);
        assert!(verdict.growth_mib_per_min.is_some());
        // Plenty of points, but only 4 minutes of them.
        let verdict = detector.assess(&leak[..49]);
        assert_eq!(verdict.reason, LeakReason::InsufficientData);
        // Nothing at all.
        let verdict = detector.assess(&[]);
        assert_eq!(verdict.reason, LeakReason::InsufficientData);
        assert_eq!(verdict.growth_mib_per_min, None);
        assert_eq!(verdict.points, 0);
    }

    #[test]
    fn gap_leaving_a_segment_empty_is_insufficient_data() {
        let leak = series(|t| BASE + 40.0 * MIB * t / 60.0);
        // Keep minutes 0-2 and 28-30 only: the middle segments are empty.
        let gappy: Vec<_> = leak
            .iter()
            .copied()
            .filter(|&(t, _)| !(120.0..1680.0).contains(&(t - leak[0].0)))
            .collect();
        let verdict = LeakDetector::default().assess(&gappy);
        assert_eq!(verdict.reason, LeakReason::InsufficientData, "{verdict:?}");
    }

    #[test]
    fn assess_only_looks_inside_the_window() {
        // An hour: a fast leak in the first 30 minutes, flat in the last 30.
        let t0 = 1_700_000_000.0;
        let points: Vec<(f64, f64)> = (0..=720)
            .map(|i| {
                let t = i as f64 * 5.0;
                (t0 + t, BASE + 40.0 * MIB * t.min(1800.0) / 60.0)
            })
            .collect();
        let verdict = LeakDetector::default().assess(&points);
        assert!(!verdict.leaking, "{verdict:?}");
        assert_eq!(verdict.points, 361);
    }

    #[test]
    fn growth_rates_per_window() {
        // Flat for 15 minutes, then 30 MiB/min for the last 15.
        let points = series(|t| BASE + 30.0 * MIB * (t - 900.0).max(0.0) / 60.0);
        let now = points.last().unwrap().0;
        let minutes = |m: u64| Duration::from_secs(m * 60);
        let rates = growth_rates(&points, now, &[minutes(5), minutes(15), minutes(30)]);
        let rate = |i: usize| rates[i].1.unwrap().mib_per_min();
        assert_eq!(rates[0].0, minutes(5));
        assert!((rate(0) - 30.0).abs() < 1e-6);
        assert!((rate(1) - 30.0).abs() < 1e-6);
        assert!(rate(2) > 5.0 && rate(2) < 30.0);
        assert_eq!(rates[0].1.unwrap().points, 61);
        // A window in the future of every point has nothing to fit.
        assert_eq!(
            growth_rates(&points, now + 3600.0, &[minutes(5)])[0].1,
            None
        );
    }

    #[test]
    fn reason_names() {
        assert_eq!(LeakReason::SustainedGrowth.to_string(), "sustainedGrowth");
        assert_eq!(LeakReason::InsufficientData.as_str(), "insufficientData");
        assert_eq!(
            serde_json::to_string(&LeakReason::BelowThreshold).unwrap(),
            "\"belowThreshold\""
        );
    }
}
