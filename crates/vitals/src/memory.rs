//! Memory thresholds, absolute or relative to the memory limit, and the memory verdict.
//!
//! Defaults: heap warning 512 MiB, critical 1024 MiB; RSS warning 1100 MiB,
//! critical 1300 MiB. A threshold can instead be a fraction of the process's memory limit
//! ([`crate::process::detect_memory_limit`]: `MEMORY_LIMIT_MB`, else the cgroup limit, else
//! 1 GiB), which is what a service moved between container sizes wants.
//!
//! # Example
//!
//! ```
//! use vitals::{MemoryThreshold, MemoryThresholds};
//!
//! let t = MemoryThresholds::default().rss_warning(MemoryThreshold::FractionOfLimit(0.8));
//! let limit = 2_000 * 1024 * 1024;
//! assert_eq!(t.rss_warning.bytes(limit), 1_600 * 1024 * 1024);
//! assert_eq!(t.heap_critical.bytes(limit), 1_024 * 1024 * 1024);
//! ```

use serde::Serialize;

const MIB: u64 = 1024 * 1024;

/// The memory limit assumed (1 GiB) when neither env nor cgroup gives one.
pub const DEFAULT_LIMIT_BYTES: u64 = 1024 * MIB;

/// A memory threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Threshold {
    /// An absolute number of bytes.
    Bytes(u64),
    /// A fraction (0..1) of the memory limit.
    FractionOfLimit(f64),
}

impl Threshold {
    /// The threshold in bytes, given the limit.
    #[must_use]
    pub fn bytes(self, limit_bytes: u64) -> u64 {
        match self {
            Threshold::Bytes(b) => b,
            Threshold::FractionOfLimit(f) => (limit_bytes as f64 * f.clamp(0.0, 10.0)) as u64,
        }
    }
}

/// Warning and critical levels for heap and RSS.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryThresholds {
    /// Default 512 MiB.
    pub heap_warning: Threshold,
    /// Default 1024 MiB.
    pub heap_critical: Threshold,
    /// Default 1100 MiB.
    pub rss_warning: Threshold,
    /// Default 1300 MiB.
    pub rss_critical: Threshold,
}

impl Default for MemoryThresholds {
    fn default() -> Self {
        Self {
            heap_warning: Threshold::Bytes(512 * MIB),
            heap_critical: Threshold::Bytes(1024 * MIB),
            rss_warning: Threshold::Bytes(1100 * MIB),
            rss_critical: Threshold::Bytes(1300 * MIB),
        }
    }
}

impl MemoryThresholds {
    /// Sets the heap warning level.
    #[must_use]
    pub fn heap_warning(mut self, t: Threshold) -> Self {
        self.heap_warning = t;
        self
    }
    /// Sets the heap critical level.
    #[must_use]
    pub fn heap_critical(mut self, t: Threshold) -> Self {
        self.heap_critical = t;
        self
    }
    /// Sets the RSS warning level.
    #[must_use]
    pub fn rss_warning(mut self, t: Threshold) -> Self {
        self.rss_warning = t;
        self
    }
    /// Sets the RSS critical level.
    #[must_use]
    pub fn rss_critical(mut self, t: Threshold) -> Self {
        self.rss_critical = t;
        self
    }

    /// The levels in bytes for a given limit.
    #[must_use]
    pub fn resolve(&self, limit_bytes: u64) -> ResolvedThresholds {
        ResolvedThresholds {
            heap_warning_bytes: self.heap_warning.bytes(limit_bytes),
            heap_critical_bytes: self.heap_critical.bytes(limit_bytes),
            rss_warning_bytes: self.rss_warning.bytes(limit_bytes),
            rss_critical_bytes: self.rss_critical.bytes(limit_bytes),
        }
    }
}

/// Thresholds in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedThresholds {
    /// Heap warning level.
    pub heap_warning_bytes: u64,
    /// Heap critical level.
    pub heap_critical_bytes: u64,
    /// RSS warning level.
    pub rss_warning_bytes: u64,
    /// RSS critical level.
    pub rss_critical_bytes: u64,
}

/// How memory stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MemoryStatus {
    /// Below every warning level.
    Ok,
    /// At or above a warning level.
    Warning,
    /// At or above a critical level.
    Critical,
}

impl ResolvedThresholds {
    /// The verdict for the given heap and RSS (unknown values never raise it).
    #[must_use]
    pub fn status(&self, heap: Option<u64>, rss: Option<u64>) -> MemoryStatus {
        let level = |v: Option<u64>, warn: u64, crit: u64| match v {
            Some(v) if v >= crit => MemoryStatus::Critical,
            Some(v) if v >= warn => MemoryStatus::Warning,
            _ => MemoryStatus::Ok,
        };
        level(heap, self.heap_warning_bytes, self.heap_critical_bytes).max(level(
            rss,
            self.rss_warning_bytes,
            self.rss_critical_bytes,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_takes_the_worst_known_value() {
        let t = MemoryThresholds::default().resolve(DEFAULT_LIMIT_BYTES);
        assert_eq!(t.status(None, None), MemoryStatus::Ok);
        assert_eq!(
            t.status(Some(600 * MIB), Some(100 * MIB)),
            MemoryStatus::Warning
        );
        assert_eq!(
            t.status(Some(100 * MIB), Some(1300 * MIB)),
            MemoryStatus::Critical
        );
        assert_eq!(t.status(None, Some(1099 * MIB)), MemoryStatus::Ok);
    }

    #[test]
    fn fractions_follow_the_limit() {
        let t = MemoryThresholds::default()
            .heap_warning(Threshold::FractionOfLimit(0.5))
            .resolve(4096 * MIB);
        assert_eq!(t.heap_warning_bytes, 2048 * MIB);
    }
}
