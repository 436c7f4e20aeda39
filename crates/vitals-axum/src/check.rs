//! Dependency checks run by `GET /health`: a name, an async check, and the error a failing
//! check reports.

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

/// A named dependency check run by `GET /health`.
#[derive(Clone)]
pub struct HealthCheck {
    /// Component name (`database`).
    pub name: String,
    /// The check.
    pub check: CheckFn,
}

impl fmt::Debug for HealthCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthCheck")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
