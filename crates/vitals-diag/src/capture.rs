//! Evidence captured when an alert fires (dotnet-monitor's collection rules): rules "when
//! alert X fires, capture a CPU profile of N s / a heap profile / a task dump", each limited
//! to a number of captures per sliding window; artifacts kept in a directory under a byte cap
//! (oldest evicted), listed at `GET /debug/artifacts` and downloadable, each tied to its
//! alert's id. The link goes into the alert's notifications (`artifact_urls`).
//!
//! The alert hook runs in the sampling loop: it only decides, reserves an id and spawns the
//! capture, so the notification can carry the link at once (the artifact answers 503 with
//! `Retry-After` until it is written).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use vitals::AlertTransitionKind;
use vitals_axum::{AlertEvent, AlertHook};

use crate::cpu::{CpuFormat, CpuProfiler};
use crate::inflight::InFlight;

/// Most artifacts listed and kept, whatever their size.
pub const MAX_ARTIFACTS: usize = 256;

/// What a rule captures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A CPU profile of this long (pprof).
    Cpu(Duration),
    /// A heap profile (pprof).
    Heap,
    /// A task dump with the in-flight requests (JSON).
    Tasks,
}

impl Action {
    fn kind(self) -> &'static str {
        match self {
            Self::Cpu(_) => "cpu",
            Self::Heap => "heap",
            Self::Tasks => "tasks",
        }
    }
}

/// "When alert `alert` fires, do `action`", at most `limit` times per `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureRule {
    /// The alert's rule: the core's type (`memory`, `rss`, `runtime`, `schedulingDelay`,
    /// `latency`, `errorRate`, `budgetPage:<name>`...) or its notification name
    /// (`VitalsHeapHigh`...).
    pub alert: String,
    /// What to capture.
    pub action: Action,
    /// Captures per window.
    pub limit: u32,
    /// The sliding window of `limit`.
    pub window: Duration,
}

/// A rule list that did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("capture rule `{rule}`: {reason}")]
pub struct RuleError {
    rule: String,
    reason: String,
}

/// The notification name of a core alert type (as vitals-axum names them).
fn alert_name(kind: &str) -> &str {
    match kind {
        "memory" => "VitalsHeapHigh",
        "rss" => "VitalsRssHigh",
        "latency" => "VitalsLatencyHigh",
        "errorRate" => "VitalsErrorRateHigh",
        "runtime" => "VitalsRuntimeBusy",
        "schedulingDelay" => "VitalsSchedulingDelayHigh",
        other => other,
    }
}

impl CaptureRule {
    /// The reference server's defaults: busy runtime → a 10 s CPU profile; heap or RSS high →
    /// a heap profile; scheduling delay high → a task dump; each once per 15 minutes.
    pub const DEFAULTS: &'static str = "runtime=cpu:10s,memory=heap,rss=heap,schedulingDelay=tasks";

    /// Parses `alert=action[,...]`, where action is `cpu:<duration>`, `heap` or `tasks`
    /// (`none` alone: no rules), each allowed `limit` times per `window`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use vitals_diag::{Action, CaptureRule};
    ///
    /// let rules = CaptureRule::parse_list("runtime=cpu:5s,memory=heap", 1, Duration::from_secs(600)).unwrap();
    /// assert_eq!(rules[0].action, Action::Cpu(Duration::from_secs(5)));
    /// assert!(CaptureRule::parse_list("memory=dump", 1, Duration::from_secs(1)).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`RuleError`] naming the rule and what is wrong.
    pub fn parse_list(list: &str, limit: u32, window: Duration) -> Result<Vec<Self>, RuleError> {
        if list.trim() == "none" {
            return Ok(Vec::new());
        }
        list.split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|rule| {
                let err = |reason: &str| RuleError {
                    rule: rule.chars().take(80).collect(),
                    reason: reason.to_owned(),
                };
                let (alert, action) = rule
                    .split_once('=')
                    .ok_or_else(|| err("expected `alert=action`"))?;
                let action = match action.split_once(':') {
                    None if action == "heap" => Action::Heap,
                    None if action == "tasks" => Action::Tasks,
                    Some(("cpu", d)) => {
                        let d = humantime::parse_duration(d)
                            .map_err(|_| err("`cpu:` takes a duration such as 10s"))?;
                        if d.is_zero() || d > Duration::from_secs(crate::cpu::DEFAULT_MAX_SECONDS) {
                            return Err(err("a CPU capture lasts from 1 s to 60 s"));
                        }
                        Action::Cpu(d)
                    }
                    _ => return Err(err("the action is `cpu:<duration>`, `heap` or `tasks`")),
                };
                if alert.trim().is_empty() {
                    return Err(err("no alert named"));
                }
                Ok(Self {
                    alert: alert.trim().to_owned(),
                    action,
                    limit: limit.max(1),
                    window,
                })
            })
            .collect()
    }

    fn matches(&self, kind: &str) -> bool {
        self.alert == kind || self.alert == alert_name(kind)
    }
}

/// One captured (or capturing) artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// Its id (`<unix ms>-<kind>-<n>`), the last segment of its URL.
    pub id: String,
    /// `cpu`, `heap` or `tasks`.
    pub kind: &'static str,
    /// The id of the alert that caused it (as in its notifications).
    pub alert_id: String,
    /// The alert's rule.
    pub rule: String,
    /// When it was asked for.
    #[serde(serialize_with = "rfc3339")]
    pub created: SystemTime,
    /// `capturing`, `ready` or `failed`.
    pub status: &'static str,
    /// Its size once ready.
    pub bytes: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Where to download it.
    pub url: String,
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_rfc3339_millis(*t).to_string())
}

impl Artifact {
    /// The content type it is served with.
    #[must_use]
    pub fn content_type(&self) -> &'static str {
        if self.kind == "tasks" {
            "application/json"
        } else {
            "application/octet-stream"
        }
    }

    fn file_name(&self) -> String {
        let ext = if self.kind == "tasks" {
            "json"
        } else {
            "pb.gz"
        };
        format!("{}.{ext}", self.id)
    }
}

struct StoreState {
    artifacts: VecDeque<Artifact>,
    seq: u64,
    /// Per rule, when it captured within its window.
    fired: Vec<VecDeque<Instant>>,
    evicted: u64,
    limited: u64,
}

/// The artifact directory and its index (bounded: `max_bytes` of files, [`MAX_ARTIFACTS`]
/// entries; the oldest go first).
#[derive(Clone)]
pub struct ArtifactStore(Arc<StoreInner>);

struct StoreInner {
    dir: PathBuf,
    max_bytes: u64,
    base_url: String,
    state: Mutex<StoreState>,
}

impl std::fmt::Debug for ArtifactStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactStore")
            .field("dir", &self.0.dir)
            .field("max_bytes", &self.0.max_bytes)
            .finish_non_exhaustive()
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl ArtifactStore {
    /// A store in `dir` (created if missing; artifacts already there are forgotten, their
    /// files removed, so the cap holds from the start), at most `max_bytes` of files; URLs are
    /// `<base_url>/debug/artifacts/<id>` (`base_url` empty: a path only).
    ///
    /// # Errors
    ///
    /// The directory cannot be created or read.
    pub fn open(dir: impl Into<PathBuf>, max_bytes: u64, base_url: &str) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".pb.gz") || name.ends_with(".json") {
                let _ = std::fs::remove_file(&path);
            }
        }
        Ok(Self(Arc::new(StoreInner {
            dir,
            max_bytes,
            base_url: base_url.trim_end_matches('/').to_owned(),
            state: Mutex::new(StoreState {
                artifacts: VecDeque::new(),
                seq: 0,
                fired: Vec::new(),
                evicted: 0,
                limited: 0,
            }),
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, StoreState> {
        self.0
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every artifact, newest first.
    #[must_use]
    pub fn list(&self) -> Vec<Artifact> {
        self.state().artifacts.iter().rev().cloned().collect()
    }

    /// `GET /debug/artifacts`.
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        let state = self.state();
        let used: u64 = state.artifacts.iter().filter_map(|a| a.bytes).sum();
        serde_json::json!({
            "artifacts": state.artifacts.iter().rev().collect::<Vec<_>>(),
            "bytes": used,
            "maxBytes": self.0.max_bytes,
            "evicted": state.evicted,
            "rateLimited": state.limited,
        })
    }

    /// The artifact `id` and, once ready, its bytes.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<(Artifact, Option<Vec<u8>>)> {
        if !valid_id(id) {
            return None;
        }
        let artifact = self
            .state()
            .artifacts
            .iter()
            .find(|a| a.id == id)
            .cloned()?;
        let bytes = (artifact.status == "ready")
            .then(|| std::fs::read(self.0.dir.join(artifact.file_name())).ok())
            .flatten();
        Some((artifact, bytes))
    }

    /// Reserves an artifact for `rule_idx`'s action unless the rule is at its limit.
    fn reserve(&self, rule_idx: usize, rule: &CaptureRule, alert_id: &str) -> Option<Artifact> {
        let now = Instant::now();
        let mut state = self.state();
        if state.fired.len() <= rule_idx {
            state.fired.resize_with(rule_idx + 1, VecDeque::new);
        }
        let fired = &mut state.fired[rule_idx];
        while fired
            .front()
            .is_some_and(|t| now.duration_since(*t) >= rule.window)
        {
            fired.pop_front();
        }
        if fired.len() >= rule.limit as usize {
            state.limited += 1;
            return None;
        }
        fired.push_back(now);
        state.seq += 1;
        let created = SystemTime::now();
        let ms = created
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let id = format!("{ms}-{}-{}", rule.action.kind(), state.seq);
        let artifact = Artifact {
            url: format!("{}/debug/artifacts/{id}", self.0.base_url),
            id,
            kind: rule.action.kind(),
            alert_id: alert_id.to_owned(),
            rule: rule.alert.clone(),
            created,
            status: "capturing",
            bytes: None,
            error: None,
        };
        state.artifacts.push_back(artifact.clone());
        self.evict(&mut state);
        Some(artifact)
    }

    /// Writes what the capture produced and evicts the oldest past the caps.
    fn finish(&self, id: &str, result: Result<Vec<u8>, String>) {
        let mut state = self.state();
        let Some(pos) = state.artifacts.iter().position(|a| a.id == id) else {
            return; // evicted meanwhile
        };
        let name = state.artifacts[pos].file_name();
        let written = result.and_then(|bytes| {
            if bytes.len() as u64 > self.0.max_bytes {
                return Err(format!(
                    "{} bytes, more than the store's cap of {}",
                    bytes.len(),
                    self.0.max_bytes
                ));
            }
            std::fs::write(self.0.dir.join(&name), &bytes)
                .map(|()| bytes.len() as u64)
                .map_err(|e| e.to_string())
        });
        let artifact = &mut state.artifacts[pos];
        match written {
            Ok(n) => {
                artifact.status = "ready";
                artifact.bytes = Some(n);
            }
            Err(e) => {
                tracing::warn!(artifact = %artifact.id, error = %e, "capture failed");
                artifact.status = "failed";
                artifact.error = Some(e);
            }
        }
        self.evict(&mut state);
    }

    fn evict(&self, state: &mut StoreState) {
        loop {
            let used: u64 = state.artifacts.iter().filter_map(|a| a.bytes).sum();
            if used <= self.0.max_bytes && state.artifacts.len() <= MAX_ARTIFACTS {
                return;
            }
            let Some(old) = state.artifacts.pop_front() else {
                return;
            };
            let _ = std::fs::remove_file(self.0.dir.join(old.file_name()));
            state.evicted += 1;
        }
    }
}

/// The [`AlertHook`] that runs the rules.
#[derive(Debug, Clone)]
pub struct CaptureHook {
    rules: Arc<[CaptureRule]>,
    store: Option<ArtifactStore>,
    cpu: CpuProfiler,
    in_flight: InFlight,
}

impl CaptureHook {
    pub(crate) fn new(
        rules: Vec<CaptureRule>,
        store: Option<ArtifactStore>,
        cpu: CpuProfiler,
        in_flight: InFlight,
    ) -> Self {
        Self {
            rules: rules.into(),
            store,
            cpu,
            in_flight,
        }
    }

    /// The rules.
    #[must_use]
    pub fn rules(&self) -> &[CaptureRule] {
        &self.rules
    }

    fn capture(&self, store: &ArtifactStore, artifact: &Artifact, action: Action) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            store.finish(
                &artifact.id,
                Err("no Tokio runtime to capture on".to_owned()),
            );
            return;
        };
        let store = store.clone();
        let cpu = self.cpu.clone();
        let in_flight = self.in_flight.clone();
        let id = artifact.id.clone();
        rt.spawn(async move {
            let result = match action {
                Action::Cpu(d) => cpu
                    .profile(d, CpuFormat::Pprof)
                    .await
                    .map_err(|e| e.to_string()),
                Action::Heap => tokio::task::spawn_blocking(crate::heap::heap_profile)
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string())),
                Action::Tasks => {
                    serde_json::to_vec_pretty(&crate::tasks::task_dump_json(&in_flight).await)
                        .map_err(|e| e.to_string())
                }
            };
            let _ = tokio::task::spawn_blocking(move || store.finish(&id, result)).await;
        });
    }
}

impl AlertHook for CaptureHook {
    fn on_transitions(&self, events: &[AlertEvent<'_>]) -> Vec<Vec<String>> {
        let Some(store) = &self.store else {
            return Vec::new();
        };
        events
            .iter()
            .map(|e| {
                if e.transition.kind != AlertTransitionKind::Fired {
                    return Vec::new();
                }
                let kind = &e.transition.alert.type_;
                let mut urls = Vec::new();
                for (i, rule) in self.rules.iter().enumerate() {
                    if !rule.matches(kind) {
                        continue;
                    }
                    if let Some(artifact) = store.reserve(i, rule, e.alert_id) {
                        tracing::info!(
                            artifact = %artifact.id, alert = %e.alert_id,
                            "alert fired: capturing {}", artifact.kind
                        );
                        self.capture(store, &artifact, rule.action);
                        urls.push(artifact.url);
                    }
                }
                urls
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_strictly() {
        let w = Duration::from_secs(60);
        let rules = CaptureRule::parse_list(CaptureRule::DEFAULTS, 2, w).unwrap();
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[0].action, Action::Cpu(Duration::from_secs(10)));
        assert_eq!(rules[3].action, Action::Tasks);
        assert!(CaptureRule::parse_list("none", 1, w).unwrap().is_empty());
        for bad in [
            "memory",
            "memory=cpu",
            "memory=cpu:0s",
            "memory=cpu:2m",
            "=heap",
            "x=y",
        ] {
            assert!(CaptureRule::parse_list(bad, 1, w).is_err(), "{bad}");
        }
        assert!(rules[1].matches("memory") && rules[1].matches("memory"));
        let named = CaptureRule::parse_list("VitalsHeapHigh=heap", 1, w).unwrap();
        assert!(named[0].matches("memory"));
    }

    #[test]
    fn the_limit_holds_per_window_and_the_cap_evicts_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(dir.path(), 1_000, "http://h").unwrap();
        let rule = CaptureRule::parse_list("memory=heap", 1, Duration::from_secs(600))
            .unwrap()
            .remove(0);
        let a = store.reserve(0, &rule, "svc/i/memory/1").unwrap();
        assert!(a.url.starts_with("http://h/debug/artifacts/"));
        assert!(store.reserve(0, &rule, "svc/i/memory/2").is_none(), "limit");
        store.finish(&a.id, Ok(vec![1; 600]));
        let (got, bytes) = store.get(&a.id).unwrap();
        assert_eq!(got.status, "ready");
        assert_eq!(bytes.unwrap().len(), 600);
        // Another rule's artifact: 600 + 600 > 1000, so the first goes.
        let b = store.reserve(1, &rule, "svc/i/memory/3").unwrap();
        store.finish(&b.id, Ok(vec![2; 600]));
        assert!(store.get(&a.id).is_none());
        assert!(!dir.path().join(a.file_name()).exists());
        assert_eq!(store.list().len(), 1);
        // Too big for the store at all: failed, not kept.
        let c = store.reserve(2, &rule, "x").unwrap();
        store.finish(&c.id, Ok(vec![0; 2_000]));
        assert_eq!(store.get(&c.id).unwrap().0.status, "failed");
        assert!(store.get("../etc/passwd").is_none());
    }
}
