//! Build identity: [`BuildInfo`] (`GET /info`, Spring Boot Actuator's `/info` shape with `build`
//! and `git` sections) and the `vitals_build_info{...} 1` family in `/metrics`.

use std::time::SystemTime;

use serde::Serialize;
use vitals::MetricFamily;

/// What was built, from what, and when the process started.
///
/// Filled by [`build_info!`](crate::build_info) in the binary's crate from the variables its
/// build script sets (the names `vergen` uses, so either works): `VERGEN_GIT_SHA`,
/// `VERGEN_GIT_COMMIT_TIMESTAMP`, `VERGEN_GIT_BRANCH`, `VERGEN_RUSTC_SEMVER`,
/// `VERGEN_CARGO_TARGET_TRIPLE`, `VERGEN_CARGO_FEATURES`, `VERGEN_BUILD_TIMESTAMP`; and
/// `PROFILE` (`VITALS_BUILD_PROFILE`). A missing one is `None`, never a guess.
///
/// ```
/// let info = vitals_diag::build_info!();
/// assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
/// assert!(info.json()["build"]["startTime"].is_string());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildInfo {
    /// The package's name.
    pub name: String,
    /// The package's version.
    pub version: String,
    /// The commit built (40 hex digits).
    pub git_sha: Option<String>,
    /// When that commit was made (RFC 3339).
    pub git_commit_time: Option<String>,
    /// The branch built, if any.
    pub git_branch: Option<String>,
    /// The compiler (`rustc` semver).
    pub rustc: Option<String>,
    /// The target triple.
    pub target: Option<String>,
    /// `debug` or `release` (Cargo's `PROFILE` of the build script).
    pub profile: Option<String>,
    /// The package's Cargo features, comma-separated.
    pub features: Option<String>,
    /// When it was built (RFC 3339).
    pub build_time: Option<String>,
    /// When this process started (set by [`build_info!`](crate::build_info): its first call).
    pub start_time: SystemTime,
}

/// The [`BuildInfo`] of the crate that calls it, from its build script's variables (see
/// [`BuildInfo`]) and the package's own `CARGO_PKG_*`. The start time is the first call's.
#[macro_export]
macro_rules! build_info {
    () => {
        $crate::BuildInfo {
            name: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            git_sha: option_env!("VERGEN_GIT_SHA").map(str::to_owned),
            git_commit_time: option_env!("VERGEN_GIT_COMMIT_TIMESTAMP").map(str::to_owned),
            git_branch: option_env!("VERGEN_GIT_BRANCH").map(str::to_owned),
            rustc: option_env!("VERGEN_RUSTC_SEMVER").map(str::to_owned),
            target: option_env!("VERGEN_CARGO_TARGET_TRIPLE").map(str::to_owned),
            profile: option_env!("VITALS_BUILD_PROFILE").map(str::to_owned),
            features: option_env!("VERGEN_CARGO_FEATURES").map(str::to_owned),
            build_time: option_env!("VERGEN_BUILD_TIMESTAMP").map(str::to_owned),
            start_time: $crate::process_start(),
        }
    };
}

/// When this process started: the first call's time (call it early; [`build_info!`] does).
///
/// [`build_info!`]: crate::build_info
#[must_use]
pub fn process_start() -> SystemTime {
    static START: std::sync::OnceLock<SystemTime> = std::sync::OnceLock::new();
    *START.get_or_init(SystemTime::now)
}

impl BuildInfo {
    /// `GET /info`: `{build: {name, version, time, rustc, target, profile, features,
    /// startTime}, git: {commit: {id, time}, branch}}` (Actuator's sections; absent values
    /// are `null`).
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "build": {
                "name": self.name,
                "version": self.version,
                "time": self.build_time,
                "rustc": self.rustc,
                "target": self.target,
                "profile": self.profile,
                "features": self.features.as_deref().map(|f| {
                    f.split(',').filter(|s| !s.is_empty()).collect::<Vec<_>>()
                }),
                "startTime": humantime::format_rfc3339_millis(self.start_time).to_string(),
            },
            "git": {
                "commit": { "id": self.git_sha, "time": self.git_commit_time },
                "branch": self.git_branch,
            },
        })
    }

    /// `vitals_build_info{version,git_sha,rustc,target,profile} 1` (the usual `*_build_info`
    /// gauge: join on it to mark version changes in a graph).
    #[must_use]
    pub fn metric_family(&self) -> MetricFamily {
        let mut family = MetricFamily::gauge(
            "vitals_build_info",
            "The build running: version, git commit, compiler, target and profile (always 1).",
        );
        let label = |v: &Option<String>| v.clone().unwrap_or_default();
        family.push(
            vec![
                ("version", self.version.clone()),
                ("git_sha", label(&self.git_sha)),
                ("rustc", label(&self.rustc)),
                ("target", label(&self.target)),
                ("profile", label(&self.profile)),
            ],
            1.0,
        );
        family
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_has_actuator_sections_and_nulls_for_unknowns() {
        let mut info = crate::build_info!();
        info.git_sha = Some("ab".repeat(20));
        info.features = Some("a,b".into());
        info.rustc = None;
        let v = info.json();
        assert_eq!(v["git"]["commit"]["id"], "ab".repeat(20));
        assert_eq!(v["build"]["features"], serde_json::json!(["a", "b"]));
        assert!(v["build"]["rustc"].is_null());
        let family = info.metric_family();
        assert_eq!(family.name, "vitals_build_info");
    }
}
