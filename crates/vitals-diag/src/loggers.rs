//! Log levels at run time, in Spring Boot Actuator's `/loggers` shape, through
//! `tracing_subscriber::reload` over an `EnvFilter`.
//!
//! The filter is the start-up directives (`RUST_LOG`) plus one directive per changed target;
//! a change rebuilds it (off the request path: `reload` swaps it under a lock that events
//! only read). A change may expire, so DEBUG in production reverts by itself. At most
//! [`MAX_OVERRIDES`] targets changed at once; the last [`CHANGE_LOG`] changes are kept.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

// Tokio's clock, so the expiry follows a paused test clock too.
use tokio::time::Instant;

use serde::Serialize;
use tracing_subscriber::EnvFilter;

/// Most targets with a level set at run time at once.
pub const MAX_OVERRIDES: usize = 64;
/// Changes kept for `GET /loggers` (`changes`).
pub const CHANGE_LOG: usize = 32;
/// Longest expiry accepted.
pub const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);
/// Actuator's name of the root logger.
pub const ROOT: &str = "ROOT";
/// Levels, most severe first (Actuator's list).
pub const LEVELS: [&str; 6] = ["OFF", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

/// A refused change.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoggerError {
    /// Not a module path (letters, digits, `_`, `-`, `.`, `::`; at most 200 bytes) or `ROOT`.
    #[error("`{0}` is not a logger name (a module path such as `my_app::db`, or ROOT)")]
    BadTarget(String),
    /// Not one of [`LEVELS`].
    #[error("`{0}` is not a level (one of OFF, ERROR, WARN, INFO, DEBUG, TRACE, or null)")]
    BadLevel(String),
    /// Expiry of zero or beyond [`MAX_EXPIRY`].
    #[error("expiresInSeconds must be from 1 to {}", MAX_EXPIRY.as_secs())]
    BadExpiry,
    /// [`MAX_OVERRIDES`] targets already changed.
    #[error("{MAX_OVERRIDES} loggers already have a level set; reset one (configuredLevel null)")]
    TooMany,
    /// The new filter did not apply.
    #[error("the log filter could not be changed: {0}")]
    Reload(String),
}

/// One change, as kept in the change log and handed to [`Loggers::on_change`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LevelChange {
    /// The logger (`ROOT` or a target).
    pub logger: String,
    /// The level set, `None` for a reset.
    pub configured_level: Option<String>,
    /// When it reverts by itself.
    #[serde(serialize_with = "rfc3339_opt")]
    pub expires_at: Option<SystemTime>,
    /// When the change was made.
    #[serde(serialize_with = "rfc3339")]
    pub at: SystemTime,
    /// `api` (a request) or `expiry`.
    pub source: &'static str,
}

#[allow(clippy::ref_option)] // serde's serialize_with signature
fn rfc3339_opt<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_rfc3339_millis(*t).to_string())
}

type Apply = dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync;
type OnChange = dyn Fn(&LevelChange) + Send + Sync;

struct Override {
    level: &'static str,
    expires: Option<(Instant, SystemTime)>,
}

struct State {
    overrides: BTreeMap<String, Override>,
    changes: VecDeque<LevelChange>,
    sweeper: bool,
}

struct Inner {
    /// Start-up directives as given, and their plain `target=level` ones parsed.
    base: Vec<String>,
    base_levels: BTreeMap<String, &'static str>,
    apply: Box<Apply>,
    known: Vec<String>,
    state: Mutex<State>,
    wake: tokio::sync::Notify,
    on_change: Option<Box<OnChange>>,
}

/// The process's log levels, changed at run time (see the module docs). Cheap to clone.
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// let (layer, loggers) = vitals_diag::Loggers::layer("info,hyper=warn");
/// let _subscriber = tracing_subscriber::registry().with(layer);
/// assert_eq!(loggers.effective_level("hyper::proto"), "WARN");
/// assert_eq!(loggers.effective_level("my_app"), "INFO");
/// loggers.set("my_app", Some("DEBUG"), None).unwrap();
/// assert_eq!(loggers.effective_level("my_app::db"), "DEBUG");
/// loggers.set("my_app", None, None).unwrap();
/// assert_eq!(loggers.effective_level("my_app::db"), "INFO");
/// ```
#[derive(Clone)]
pub struct Loggers(Arc<Inner>);

impl std::fmt::Debug for Loggers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loggers")
            .field("base", &self.0.base)
            .finish_non_exhaustive()
    }
}

fn level_name(raw: &str) -> Option<&'static str> {
    LEVELS
        .iter()
        .copied()
        .find(|l| l.eq_ignore_ascii_case(raw.trim()))
}

fn valid_target(target: &str) -> bool {
    !target.is_empty()
        && target.len() <= 200
        && target
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

impl Loggers {
    /// A reloadable `EnvFilter` layer starting from `directives` (`RUST_LOG` syntax; a bad one
    /// falls back to `info`, as `EnvFilter` does), and the handle that changes it.
    pub fn layer<S>(directives: &str) -> (tracing_subscriber::reload::Layer<EnvFilter, S>, Self)
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        let directives = if EnvFilter::try_new(directives).is_ok() {
            directives.to_owned()
        } else {
            "info".to_owned()
        };
        let filter = EnvFilter::new(&directives);
        let (layer, handle) = tracing_subscriber::reload::Layer::new(filter);
        let apply = move |f: EnvFilter| handle.reload(f).map_err(|e| e.to_string());
        (layer, Self::from_apply(&directives, apply))
    }

    /// As [`Loggers::layer`], for a filter installed some other way: `apply` installs each
    /// rebuilt filter.
    pub fn from_apply(
        directives: &str,
        apply: impl Fn(EnvFilter) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        let base: Vec<String> = directives
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .collect();
        let mut base_levels = BTreeMap::new();
        for d in &base {
            if d.contains('[') {
                continue; // span and field filters: kept, not shown as a logger's level
            }
            match d.split_once('=') {
                Some((target, level)) => {
                    if let Some(level) = level_name(level) {
                        base_levels.insert(target.to_owned(), level);
                    }
                }
                None => match level_name(d) {
                    Some(level) => {
                        base_levels.insert(ROOT.to_owned(), level);
                    }
                    // A bare target enables everything in it.
                    None => {
                        base_levels.insert(d.clone(), "TRACE");
                    }
                },
            }
        }
        Self(Arc::new(Inner {
            base,
            base_levels,
            apply: Box::new(apply),
            known: Vec::new(),
            state: Mutex::new(State {
                overrides: BTreeMap::new(),
                changes: VecDeque::new(),
                sweeper: false,
            }),
            wake: tokio::sync::Notify::new(),
            on_change: None,
        }))
    }

    /// Also lists these targets in `GET /loggers` (tracing has no registry of targets; the
    /// root, the start-up directives' targets and changed ones are always listed).
    #[must_use]
    pub fn known_targets<I, T>(self, targets: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.with_inner(|i| i.known.extend(targets.into_iter().map(Into::into)))
    }

    /// Called with every change (a request's or an expiry's): write it to history.
    #[must_use]
    pub fn on_change(self, f: impl Fn(&LevelChange) + Send + Sync + 'static) -> Self {
        self.with_inner(|i| i.on_change = Some(Box::new(f)))
    }

    fn with_inner(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.0).unwrap_or_else(|_| {
            panic!("Loggers: configure before cloning");
        });
        f(&mut inner);
        Self(Arc::new(inner))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The level set for `logger` (a run-time change, else a start-up directive naming it
    /// exactly), `None` when it inherits.
    #[must_use]
    pub fn configured_level(&self, logger: &str) -> Option<&'static str> {
        let state = self.state();
        state
            .overrides
            .get(logger)
            .map(|o| o.level)
            .or_else(|| self.0.base_levels.get(logger).copied())
    }

    /// The level events of `target` are filtered at: the most specific of the changed and
    /// start-up directives (`a::b` inherits from `a`), else the root's, else `OFF`.
    #[must_use]
    pub fn effective_level(&self, target: &str) -> &'static str {
        if target == ROOT {
            return self.configured_level(ROOT).unwrap_or("OFF");
        }
        let mut best: Option<(usize, &'static str)> = None;
        let state = self.state();
        let levels = self
            .0
            .base_levels
            .iter()
            .filter(|(t, _)| !state.overrides.contains_key(*t))
            .map(|(t, l)| (t.as_str(), *l))
            .chain(state.overrides.iter().map(|(t, o)| (t.as_str(), o.level)));
        for (t, level) in levels {
            let covers =
                t == target || (target.starts_with(t) && target[t.len()..].starts_with("::"));
            if t != ROOT && covers && best.is_none_or(|(len, _)| t.len() > len) {
                best = Some((t.len(), level));
            }
        }
        drop(state);
        best.map_or_else(|| self.configured_level(ROOT).unwrap_or("OFF"), |(_, l)| l)
    }

    /// Sets `logger`'s level (`None` resets it to its start-up level), optionally reverting
    /// after `expires_in`.
    ///
    /// # Errors
    ///
    /// [`LoggerError`]: a bad name, level or expiry, too many changed loggers, or a filter
    /// that did not apply.
    pub fn set(
        &self,
        logger: &str,
        level: Option<&str>,
        expires_in: Option<Duration>,
    ) -> Result<LevelChange, LoggerError> {
        if logger != ROOT && !valid_target(logger) {
            return Err(LoggerError::BadTarget(logger.chars().take(64).collect()));
        }
        let level = level
            .map(|l| {
                level_name(l).ok_or_else(|| LoggerError::BadLevel(l.chars().take(16).collect()))
            })
            .transpose()?;
        if expires_in.is_some_and(|e| e.is_zero() || e > MAX_EXPIRY) {
            return Err(LoggerError::BadExpiry);
        }
        let now = SystemTime::now();
        let expires = expires_in
            .filter(|_| level.is_some())
            .map(|e| (Instant::now() + e, now + e));
        let change = LevelChange {
            logger: logger.to_owned(),
            configured_level: level.map(str::to_owned),
            expires_at: expires.map(|(_, at)| at),
            at: now,
            source: "api",
        };
        {
            let mut state = self.state();
            let mut next = state
                .overrides
                .iter()
                .map(|(t, o)| (t.clone(), o.level))
                .collect::<BTreeMap<_, _>>();
            match level {
                Some(l) => {
                    if !next.contains_key(logger) && next.len() >= MAX_OVERRIDES {
                        return Err(LoggerError::TooMany);
                    }
                    next.insert(logger.to_owned(), l);
                }
                None => {
                    next.remove(logger);
                }
            }
            self.apply(&next)?;
            match level {
                Some(level) => {
                    state
                        .overrides
                        .insert(logger.to_owned(), Override { level, expires });
                }
                None => {
                    state.overrides.remove(logger);
                }
            }
            Self::log_change(&mut state, &change);
            if expires.is_some() && !state.sweeper {
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    state.sweeper = true;
                    rt.spawn(sweep(Arc::downgrade(&self.0)));
                }
            }
        }
        self.0.wake.notify_one();
        self.announce(&change);
        Ok(change)
    }

    fn log_change(state: &mut State, change: &LevelChange) {
        if state.changes.len() == CHANGE_LOG {
            state.changes.pop_front();
        }
        state.changes.push_back(change.clone());
    }

    fn announce(&self, change: &LevelChange) {
        tracing::warn!(
            target: "vitals_diag::loggers",
            logger = %change.logger,
            level = change.configured_level.as_deref().unwrap_or("(reset)"),
            source = change.source,
            "log level changed"
        );
        if let Some(f) = &self.0.on_change {
            f(change);
        }
    }

    /// Builds and installs the filter: the start-up directives less those a change replaces,
    /// then the changes.
    fn apply(&self, overrides: &BTreeMap<String, &'static str>) -> Result<(), LoggerError> {
        let mut directives: Vec<String> = self
            .0
            .base
            .iter()
            .filter(|d| {
                let target = d.split_once('=').map_or(d.as_str(), |(t, _)| t);
                let replaced_root = level_name(d).is_some() && overrides.contains_key(ROOT);
                !(replaced_root || d.contains('=') && overrides.contains_key(target))
            })
            .cloned()
            .collect();
        for (target, level) in overrides {
            let level = level.to_ascii_lowercase();
            if target == ROOT {
                directives.insert(0, level);
            } else {
                directives.push(format!("{target}={level}"));
            }
        }
        let filter = EnvFilter::try_new(directives.join(","))
            .map_err(|e| LoggerError::Reload(e.to_string()))?;
        (self.0.apply)(filter).map_err(LoggerError::Reload)
    }

    /// `GET /loggers`: `{levels, loggers: {name: {configuredLevel, effectiveLevel}}, changes}`.
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        let mut names: Vec<String> = vec![ROOT.to_owned()];
        names.extend(self.0.base_levels.keys().cloned());
        names.extend(self.0.known.iter().cloned());
        names.extend(self.state().overrides.keys().cloned());
        names.sort();
        names.dedup();
        let loggers: serde_json::Map<String, serde_json::Value> = names
            .into_iter()
            .map(|n| {
                let v = self.logger_json(&n);
                (n, v)
            })
            .collect();
        let changes: Vec<LevelChange> = self.state().changes.iter().cloned().collect();
        serde_json::json!({ "levels": LEVELS, "loggers": loggers, "changes": changes })
    }

    /// `GET /loggers/{name}`: `{configuredLevel, effectiveLevel}` (and `expiresAt` when the
    /// level set reverts by itself).
    #[must_use]
    pub fn logger_json(&self, logger: &str) -> serde_json::Value {
        let mut v = serde_json::json!({
            "configuredLevel": self.configured_level(logger),
            "effectiveLevel": self.effective_level(logger),
        });
        if let Some((_, at)) = self.state().overrides.get(logger).and_then(|o| o.expires) {
            v["expiresAt"] = humantime::format_rfc3339_millis(at).to_string().into();
        }
        v
    }

    /// Resets every change whose expiry has passed; answers the next expiry, if any.
    fn expire(&self) -> Option<Instant> {
        let now = Instant::now();
        let due: Vec<String> = self
            .state()
            .overrides
            .iter()
            .filter(|(_, o)| o.expires.is_some_and(|(at, _)| at <= now))
            .map(|(t, _)| t.clone())
            .collect();
        for logger in due {
            if let Ok(mut change) = self.set(&logger, None, None) {
                change.source = "expiry";
                let mut state = self.state();
                if let Some(last) = state.changes.back_mut() {
                    last.source = "expiry";
                }
                drop(state);
                tracing::info!(target: "vitals_diag::loggers", logger = %change.logger, "log level change expired");
            }
        }
        self.state()
            .overrides
            .values()
            .filter_map(|o| o.expires.map(|(at, _)| at))
            .min()
    }
}

/// The one task that reverts expired changes, while the [`Loggers`] lives.
async fn sweep(inner: std::sync::Weak<Inner>) {
    loop {
        let Some(inner) = inner.upgrade() else { return };
        let loggers = Loggers(inner);
        let next = loggers.expire();
        let inner = Arc::clone(&loggers.0);
        drop(loggers);
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = inner.wake.notified() => {}
                }
            }
            None => inner.wake.notified().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loggers(base: &str) -> (Loggers, Arc<Mutex<Vec<String>>>) {
        let applied = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&applied);
        let l = Loggers::from_apply(base, move |f| {
            let mut d: Vec<String> = f.to_string().split(',').map(str::to_owned).collect();
            d.sort();
            seen.lock().unwrap().push(d.join(","));
            Ok(())
        });
        (l, applied)
    }

    #[test]
    fn effective_level_is_the_most_specific_directive() {
        let (l, _) = loggers("warn,a=info,a::b=trace");
        assert_eq!(l.effective_level("a::b::c"), "TRACE");
        assert_eq!(l.effective_level("a::bc"), "INFO");
        assert_eq!(l.effective_level("z"), "WARN");
        assert_eq!(l.effective_level(ROOT), "WARN");
        assert_eq!(l.configured_level("a::b::c"), None);
        let (l, _) = loggers("a=debug");
        assert_eq!(l.effective_level("b"), "OFF");
    }

    #[test]
    fn a_change_replaces_the_startup_directive_and_a_reset_restores_it() {
        let (l, applied) = loggers("info,a=warn");
        l.set("a", Some("debug"), None).unwrap();
        assert_eq!(applied.lock().unwrap().last().unwrap(), "a=debug,info");
        l.set(ROOT, Some("ERROR"), None).unwrap();
        assert_eq!(applied.lock().unwrap().last().unwrap(), "a=debug,error");
        assert_eq!(l.effective_level("zzz"), "ERROR");
        l.set("a", None, None).unwrap();
        l.set(ROOT, None, None).unwrap();
        assert_eq!(applied.lock().unwrap().last().unwrap(), "a=warn,info");
        assert_eq!(l.effective_level("a"), "WARN");
        let json = l.json();
        assert_eq!(json["changes"].as_array().unwrap().len(), 4);
        assert_eq!(json["loggers"]["a"]["configuredLevel"], "WARN");
    }

    #[test]
    fn bad_input_is_refused_and_overrides_are_capped() {
        let (l, _) = loggers("info");
        assert!(matches!(
            l.set("a b", Some("DEBUG"), None),
            Err(LoggerError::BadTarget(_))
        ));
        assert!(matches!(
            l.set("a", Some("LOUD"), None),
            Err(LoggerError::BadLevel(_))
        ));
        assert_eq!(
            l.set("a", Some("DEBUG"), Some(Duration::ZERO)),
            Err(LoggerError::BadExpiry)
        );
        for i in 0..MAX_OVERRIDES {
            l.set(&format!("t{i}"), Some("DEBUG"), None).unwrap();
        }
        assert_eq!(
            l.set("one_more", Some("DEBUG"), None),
            Err(LoggerError::TooMany)
        );
        // Changing one already set is not a new one.
        l.set("t0", Some("TRACE"), None).unwrap();
        for _ in 0..CHANGE_LOG * 2 {
            l.set("t1", Some("INFO"), None).unwrap();
        }
        assert_eq!(l.state().changes.len(), CHANGE_LOG);
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_with_an_expiry_reverts_by_itself() {
        let (l, applied) = loggers("info");
        l.set("a", Some("DEBUG"), Some(Duration::from_secs(60)))
            .unwrap();
        assert!(l.logger_json("a")["expiresAt"].is_string());
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert_eq!(l.effective_level("a"), "DEBUG");
        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::task::yield_now().await;
        assert_eq!(l.effective_level("a"), "INFO");
        assert_eq!(applied.lock().unwrap().last().unwrap(), "info");
        assert_eq!(l.state().changes.back().unwrap().source, "expiry");
    }
}
