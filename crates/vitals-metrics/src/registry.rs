//! The store of every metric: names, label sets, caps, the key cache and refusals.
//!
//! Registering (`counter!(...)`, `register_counter`) first looks the `metrics::Key` up in a
//! lock-free cache of keys already resolved; a hit clones an `Arc` and allocates nothing. A miss
//! sanitises the name and labels, finds or makes the family and the series within the caps, and
//! caches the key. Keys that land in an overflow series, or whose series depends on the current
//! tenant, are not cached, so the cache holds at most `2 × max_series` keys whatever the
//! traffic.

use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use metrics::{Key, SharedString, Unit};

use crate::cell::{Cell, Kind};
use crate::config::{Config, OVERFLOW_LABEL, TENANT_OTHER, TenantScope};
use crate::intern::intern;
use crate::names::{Refusal, sanitize_label_name, sanitize_metric_name, truncate_label_value};

/// The labels of one series, sorted by name: `(interned name, value)`.
pub(crate) type LabelSet = Vec<(&'static str, String)>;

/// Most names whose refusal or overflow is logged; later ones are only counted.
const MAX_WARNED: usize = 1_000;

/// Hashes a `metrics::Key` by its precomputed hash (`Key::hash` writes one `u64`).
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for `Key`; kept correct for any other use.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Help text and unit from `describe_*`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Description {
    pub(crate) help: String,
    pub(crate) unit: Option<Unit>,
}

/// One metric name and its series.
#[derive(Debug)]
pub(crate) struct FamilyEntry {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) tenant: bool,
    pub(crate) series: papaya::HashMap<LabelSet, Cell>,
    /// Label sets made (the overflow series excluded).
    sets: AtomicUsize,
    overflow: OnceLock<Cell>,
    /// Whether the overflow was logged (checked first: the overflow path runs per call).
    overflow_logged: AtomicBool,
}

/// The label set of a name's overflow series.
pub(crate) fn overflow_labels() -> LabelSet {
    vec![(OVERFLOW_LABEL, "true".to_owned())]
}

/// The shared state behind a [`crate::Registry`].
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) config: Config,
    pub(crate) families: papaya::HashMap<String, Arc<FamilyEntry>>,
    pub(crate) descriptions: papaya::HashMap<String, Description>,
    #[allow(clippy::mutable_key_type)] // Key hashes by an immutable precomputed u64
    cache: papaya::HashMap<Key, Cell, BuildHasherDefault<KeyHasher>>,
    cached: AtomicUsize,
    names: AtomicUsize,
    series: AtomicUsize,
    tenants: papaya::HashSet<Arc<str>>,
    tenant_count: AtomicUsize,
    pub(crate) refused: [AtomicU64; Refusal::ALL.len()],
    pub(crate) overflowed: AtomicU64,
    warned: papaya::HashSet<String>,
    warned_count: AtomicUsize,
    warned_full: AtomicBool,
}

/// Takes one unit of `counter` if it is below `cap`.
fn reserve(counter: &AtomicUsize, cap: usize) -> bool {
    counter
        .fetch_update(Relaxed, Relaxed, |n| (n < cap).then_some(n + 1))
        .is_ok()
}

impl Store {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            config,
            families: papaya::HashMap::new(),
            descriptions: papaya::HashMap::new(),
            cache: papaya::HashMap::default(),
            cached: AtomicUsize::new(0),
            names: AtomicUsize::new(0),
            series: AtomicUsize::new(0),
            tenants: papaya::HashSet::new(),
            tenant_count: AtomicUsize::new(0),
            refused: Default::default(),
            overflowed: AtomicU64::new(0),
            warned: papaya::HashSet::new(),
            warned_count: AtomicUsize::new(0),
            warned_full: AtomicBool::new(false),
        }
    }

    /// Label sets made over all names (overflow series excluded).
    pub(crate) fn series_count(&self) -> usize {
        self.series.load(Relaxed)
    }

    /// The series for `key`, or `None` when refused.
    #[inline]
    pub(crate) fn resolve(&self, kind: Kind, key: &Key) -> Option<Cell> {
        match self.cache.pin().get(key) {
            Some(cell) if cell.kind() == kind => Some(cell.clone()),
            _ => self.resolve_slow(kind, key),
        }
    }

    #[cold]
    fn resolve_slow(&self, kind: Kind, key: &Key) -> Option<Cell> {
        let family = match self.family(kind, key.name()) {
            Ok(family) => family,
            Err(reason) => return self.refuse(reason, key.name()),
        };
        let labels = match self.labels(&family, key) {
            Ok(labels) => labels,
            Err(reason) => return self.refuse(reason, key.name()),
        };
        let series = family.series.pin();
        if let Some(cell) = series.get(&labels) {
            let cell = cell.clone();
            self.cache_key(&family, key, &cell);
            return Some(cell);
        }
        if reserve(&family.sets, self.config.max_label_sets) {
            if reserve(&self.series, self.config.max_series) {
                let cell = match series.try_insert(labels, Cell::new(kind)) {
                    Ok(cell) => cell.clone(),
                    Err(occupied) => {
                        // Another thread made it first: give back both reservations.
                        family.sets.fetch_sub(1, Relaxed);
                        self.series.fetch_sub(1, Relaxed);
                        occupied.current.clone()
                    }
                };
                self.cache_key(&family, key, &cell);
                return Some(cell);
            }
            family.sets.fetch_sub(1, Relaxed);
        }
        self.overflowed.fetch_add(1, Relaxed);
        if !family.overflow_logged.swap(true, Relaxed) {
            self.warn_once(&family.name, "overflow");
        }
        // The overflow series lives in the map under its own label set, so that it can never
        // be rendered twice (a user series with exactly that label set is the same series).
        Some(
            family
                .overflow
                .get_or_init(|| {
                    series
                        .get_or_insert_with(overflow_labels(), || Cell::new(kind))
                        .clone()
                })
                .clone(),
        )
    }

    fn cache_key(&self, family: &FamilyEntry, key: &Key, cell: &Cell) {
        if family.tenant || !reserve(&self.cached, 2 * self.config.max_series) {
            return;
        }
        if self
            .cache
            .pin()
            .try_insert(key.clone(), cell.clone())
            .is_err()
        {
            self.cached.fetch_sub(1, Relaxed);
        }
    }

    /// The family for a registration, made if new and within the caps.
    fn family(&self, kind: Kind, raw: &str) -> Result<Arc<FamilyEntry>, Refusal> {
        let name = self.family_name(kind, raw)?;
        let families = self.families.pin();
        let family = match families.get(&name) {
            Some(family) => family.clone(),
            None => {
                if !reserve(&self.names, self.config.max_names) {
                    return Err(Refusal::TooManyNames);
                }
                let tenant = match &self.config.tenant_scope {
                    TenantScope::Off => false,
                    TenantScope::All => true,
                    TenantScope::Names(names) => names.iter().any(|n| n == raw),
                } && self.config.tenant_hook.is_some();
                let entry = Arc::new(FamilyEntry {
                    name: name.clone(),
                    kind,
                    tenant,
                    series: papaya::HashMap::new(),
                    sets: AtomicUsize::new(0),
                    overflow: OnceLock::new(),
                    overflow_logged: AtomicBool::new(false),
                });
                match families.try_insert(name, entry) {
                    Ok(family) => family.clone(),
                    Err(occupied) => {
                        self.names.fetch_sub(1, Relaxed);
                        occupied.current.clone()
                    }
                }
            }
        };
        if family.kind == kind {
            Ok(family)
        } else {
            Err(Refusal::KindConflict)
        }
    }

    /// The exposed family name for a raw metric name: prefixed, sanitised, and for counters
    /// without a `_total` suffix (the encoders add it).
    pub(crate) fn family_name(&self, kind: Kind, raw: &str) -> Result<String, Refusal> {
        let full = if self.config.prefix.is_empty() {
            sanitize_metric_name(raw).map(|n| n.into_owned())
        } else {
            sanitize_metric_name(&format!("{}{raw}", self.config.prefix)).map(|n| n.into_owned())
        };
        let mut name = full.ok_or(Refusal::InvalidName)?;
        if kind == Kind::Counter && name.len() > "_total".len() && name.ends_with("_total") {
            name.truncate(name.len() - "_total".len());
        }
        if self
            .config
            .reserved
            .iter()
            .any(|r| name.starts_with(r.as_str()))
        {
            return Err(Refusal::ReservedName);
        }
        Ok(name)
    }

    /// The sorted, sanitised label set of `key` (plus the tenant label when attributed).
    fn labels(&self, family: &FamilyEntry, key: &Key) -> Result<LabelSet, Refusal> {
        let max_value = self.config.max_label_value_len;
        let mut labels = LabelSet::with_capacity(key.labels().len() + usize::from(family.tenant));
        for label in key.labels() {
            if labels.len() >= self.config.max_labels {
                return Err(Refusal::TooManyLabels);
            }
            let name = sanitize_label_name(label.key()).ok_or(Refusal::InvalidLabel)?;
            if family.kind == Kind::Histogram && name == "le" {
                return Err(Refusal::InvalidLabel);
            }
            let name = intern(&name).ok_or(Refusal::TooManyLabelNames)?;
            labels.push((
                name,
                truncate_label_value(label.value(), max_value).to_owned(),
            ));
        }
        if family.tenant && !labels.iter().any(|&(n, _)| n == self.config.tenant_label) {
            if let Some(tenant) = self.config.tenant_hook.as_ref().and_then(|hook| hook()) {
                let value = self.tenant_value(&tenant);
                labels.push((self.config.tenant_label, value));
            }
        }
        labels.sort_unstable();
        if labels.windows(2).any(|pair| pair[0].0 == pair[1].0) {
            return Err(Refusal::InvalidLabel);
        }
        Ok(labels)
    }

    /// The label value for a tenant: as the hook decided it (a `tenant_label_hook`), else
    /// itself while under the tenant cap, else `(other)`.
    fn tenant_value(&self, tenant: &str) -> String {
        let value = truncate_label_value(tenant, self.config.max_label_value_len);
        if self.config.tenant_decided {
            return value.to_owned();
        }
        let tenants = self.tenants.pin();
        if tenants.contains(value) {
            return value.to_owned();
        }
        if reserve(&self.tenant_count, self.config.max_tenants) {
            let owned: Arc<str> = Arc::from(value);
            if !tenants.insert(owned) {
                self.tenant_count.fetch_sub(1, Relaxed);
            }
            return value.to_owned();
        }
        TENANT_OTHER.to_owned()
    }

    /// Stores help text and unit for a name (kept within the name cap).
    pub(crate) fn describe(&self, kind: Kind, raw: &str, unit: Option<Unit>, help: &SharedString) {
        let Ok(name) = self.family_name(kind, raw) else {
            return;
        };
        let help = truncate_label_value(help, self.config.max_help_len).to_owned();
        let descriptions = self.descriptions.pin();
        if descriptions.len() >= self.config.max_names && !descriptions.contains_key(&name) {
            return;
        }
        descriptions.insert(name, Description { help, unit });
    }

    #[cold]
    fn refuse(&self, reason: Refusal, raw: &str) -> Option<Cell> {
        self.refused[reason.index()].fetch_add(1, Relaxed);
        self.warn_once(raw, reason.as_str());
        None
    }

    /// Logs a refusal or overflow once per (name, what), for at most [`MAX_WARNED`] names.
    fn warn_once(&self, name: &str, what: &'static str) {
        let shown = truncate_label_value(name, 100);
        let key = format!("{what}:{shown}");
        let warned = self.warned.pin();
        if warned.contains(&key) {
            return;
        }
        if !reserve(&self.warned_count, MAX_WARNED) {
            if !self.warned_full.swap(true, Relaxed) {
                tracing::warn!(
                    "vitals-metrics: further refused or overflowing metric names are counted, not logged"
                );
            }
            return;
        }
        if !warned.insert(key) {
            self.warned_count.fetch_sub(1, Relaxed);
            return;
        }
        if what == "overflow" {
            tracing::warn!(
                metric = shown,
                "vitals-metrics: label set cap reached; further label sets of this metric go to its {OVERFLOW_LABEL}=\"true\" series"
            );
        } else {
            tracing::warn!(
                metric = shown,
                reason = what,
                "vitals-metrics: metric refused; its handle records nothing"
            );
        }
    }
}
