//! What the database stores and accepts: properties, their validation, and the errors of a
//! query.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest accepted property name, in characters, after trimming.
pub(crate) const NAME_MAX_CHARS: usize = 200;
/// Longest accepted property address, in characters, after trimming.
pub(crate) const ADDRESS_MAX_CHARS: usize = 500;
/// Smallest accepted number of units.
pub(crate) const UNITS_MIN: i64 = 1;
/// Largest accepted number of units.
pub(crate) const UNITS_MAX: i64 = 100_000;

/// A property (a building) owned by an organization, as stored and as served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Property {
    /// Database id, unique across organizations.
    pub(crate) id: i64,
    /// Id (slug) of the owning organization.
    pub(crate) organization_id: String,
    /// Display name.
    pub(crate) name: String,
    /// Postal address.
    pub(crate) address: String,
    /// Number of rentable units.
    pub(crate) units: u32,
    /// Creation time, RFC 3339 (UTC).
    pub(crate) created_at: String,
}

/// The fields a client supplies to create a [`Property`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewProperty {
    /// Display name, 1..=200 characters after trimming.
    #[schema(min_length = 1, max_length = 200)]
    pub(crate) name: String,
    /// Postal address, 1..=500 characters after trimming.
    #[schema(min_length = 1, max_length = 500)]
    pub(crate) address: String,
    /// Number of units, 1..=100000.
    #[schema(minimum = 1, maximum = 100_000)]
    pub(crate) units: u32,
}

impl NewProperty {
    /// Checks every field; on failure lists one [`FieldError`] per offending field.
    pub(crate) fn validate(&self) -> Result<(), Vec<FieldError>> {
        let errors: Vec<FieldError> = [
            validate_name(&self.name)
                .err()
                .map(|m| FieldError::new("name", m)),
            validate_address(&self.address)
                .err()
                .map(|m| FieldError::new("address", m)),
            validate_units(i64::from(self.units))
                .err()
                .map(|m| FieldError::new("units", m)),
        ]
        .into_iter()
        .flatten()
        .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The same property with surrounding whitespace removed from the text fields.
    pub(super) fn normalized(self) -> Self {
        Self {
            name: self.name.trim().to_owned(),
            address: self.address.trim().to_owned(),
            units: self.units,
        }
    }
}

/// Checks a property name (trimmed length 1..=200 characters).
pub(crate) fn validate_name(name: &str) -> Result<(), String> {
    validate_text(name, NAME_MAX_CHARS)
}

/// Checks a property address (trimmed length 1..=500 characters).
pub(crate) fn validate_address(address: &str) -> Result<(), String> {
    validate_text(address, ADDRESS_MAX_CHARS)
}

/// Checks a number of units (1..=100000).
pub(crate) fn validate_units(units: i64) -> Result<(), String> {
    if (UNITS_MIN..=UNITS_MAX).contains(&units) {
        Ok(())
    } else {
        Err(format!("must be between {UNITS_MIN} and {UNITS_MAX}"))
    }
}

fn validate_text(value: &str, max_chars: usize) -> Result<(), String> {
    let chars = value.trim().chars().count();
    if chars == 0 {
        Err("must not be empty".to_owned())
    } else if chars > max_chars {
        Err(format!(
            "must be at most {max_chars} characters (got {chars})"
        ))
    } else {
        Ok(())
    }
}

/// One invalid field of a request body: serialized as `{"field": .., "message": ..}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct FieldError {
    /// JSON name of the field (`name`, `address`, `units`, or `body` for the whole document).
    pub(crate) field: String,
    /// What is wrong with it, e.g. `must not be empty`.
    pub(crate) message: String,
}

impl FieldError {
    /// A field error.
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why a database operation failed.
///
/// `Display` never includes SQL text or file paths, so it is safe to show to clients; the
/// underlying SQLite error is available through [`std::error::Error::source`] and `Debug`, for
/// logs.
#[derive(Debug)]
pub(crate) enum DbError {
    /// SQLite reported an error.
    Sqlite(rusqlite::Error),
    /// The blocking task running the query panicked or was cancelled.
    Task(tokio::task::JoinError),
    /// The input failed validation; nothing was written.
    Validation(Vec<FieldError>),
    /// The circuit breaker is open: the database was not called.
    Unavailable {
        /// When a call may be tried again.
        retry_after: std::time::Duration,
    },
    /// The call took longer than the breaker's call timeout.
    Timeout,
    /// A failure injected through the demo fault switch.
    Injected,
    /// The organization already holds the most properties allowed; nothing was written.
    Full {
        /// The cap (`VITALS_MAX_PROPERTIES_PER_ORG`).
        limit: u64,
    },
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(_) => f.write_str("database query failed"),
            Self::Task(_) => f.write_str("database task failed"),
            Self::Unavailable { .. } => f.write_str("database unavailable (circuit open)"),
            Self::Timeout => f.write_str("database call timed out"),
            Self::Injected => f.write_str("database query failed (injected fault)"),
            Self::Full { limit } => write!(
                f,
                "the organization holds {limit} properties, the most allowed"
            ),
            Self::Validation(errors) => {
                f.write_str("invalid input")?;
                for (i, error) in errors.iter().enumerate() {
                    let sep = if i == 0 { ": " } else { "; " };
                    write!(f, "{sep}{} {}", error.field, error.message)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Sqlite(e) => Some(e),
            Self::Task(e) => Some(e),
            Self::Validation(_)
            | Self::Unavailable { .. }
            | Self::Timeout
            | Self::Injected
            | Self::Full { .. } => None,
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Sqlite(error)
    }
}
