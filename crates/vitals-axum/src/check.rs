//! Dependency checks run by `GET /health` and the probes: a name, an async check, the probes it
//! answers in, and the error a failing check reports.

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;

/// Why a health check failed: its text is the check's `output` in `/health`.
///
/// Made from a message (`Err("database down".into())`, a `String`) or from any error type
/// (`?` on an `io::Error`, `Err(e.into())`), whose `Display` text becomes the reason. It does
/// not implement `std::error::Error` itself, so that the conversion from every error type can
/// exist (as with `anyhow::Error`).
///
/// ```
/// use vitals_axum::CheckError;
///
/// let from_text: CheckError = "database down".into();
/// assert_eq!(from_text.to_string(), "database down");
/// let from_io: CheckError = std::io::Error::other("refused").into();
/// assert_eq!(from_io.to_string(), "refused");
/// ```
pub struct CheckError(Box<dyn std::error::Error + Send + Sync>);

impl CheckError {
    /// A failure with `reason`.
    #[must_use]
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into().into())
    }

    /// The error behind the failure.
    #[must_use]
    pub fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

/// Messages (`&str`, `String`) and every `std::error::Error + Send + Sync`.
impl<E> From<E> for CheckError
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CheckError").field(&self.0).finish()
    }
}

/// An async health check: `Ok(())` healthy, `Err(reason)` not.
pub type CheckFn = Arc<dyn Fn() -> BoxFuture<'static, Result<(), CheckError>> + Send + Sync>;

/// The Kubernetes-style probes a health check can answer in (its groups).
///
/// - [`Probe::Live`] (`GET /health/live`): the process works; a failing liveness check gets the
///   process restarted, so only checks a restart would cure belong here (none by default).
/// - [`Probe::Ready`] (`GET /health/ready`): the process can take traffic now; the default
///   group of a check (a dependency such as the database). A failing check takes the instance
///   out of the load balancer, without a restart.
/// - [`Probe::Startup`] (`GET /health/startup`): start-up has finished (warm-up, migrations);
///   Kubernetes holds the other probes back until it passes.
///
/// `GET /health` runs every check, whatever its groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Probe {
    /// `GET /health/live`.
    Live,
    /// `GET /health/ready`.
    Ready,
    /// `GET /health/startup`.
    Startup,
}

impl Probe {
    /// The probe's name as in its path (`live`, `ready`, `startup`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Probe::Live => "live",
            Probe::Ready => "ready",
            Probe::Startup => "startup",
        }
    }
}

/// A named dependency check run by `GET /health` and by the probes of its groups.
#[derive(Clone)]
pub struct HealthCheck {
    /// Component name (`database`).
    pub name: String,
    /// The check.
    pub check: CheckFn,
    /// The probes it answers in (default `[Probe::Ready]`).
    pub groups: Vec<Probe>,
}

impl HealthCheck {
    /// Whether the check belongs to `probe`'s group.
    #[must_use]
    pub fn in_group(&self, probe: Probe) -> bool {
        self.groups.contains(&probe)
    }
}

impl fmt::Debug for HealthCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthCheck")
            .field("name", &self.name)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}
