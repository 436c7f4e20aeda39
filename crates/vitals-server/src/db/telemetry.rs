//! The database's own metrics, through the `metrics` facade (served by vitals' registry once
//! it is installed, see `crate::business`): `db_query_duration_seconds{query}` (a histogram of
//! the time each query holds its connection) and `db_pool_waiters` (a gauge of the callers
//! blocked waiting for a connection). The handles are registered once, when the database is
//! opened, so recording is an atomic update with no lookup.

use std::time::Duration;

use metrics::{Gauge, Histogram, Unit};

/// The queries the server runs, one histogram series each.
#[derive(Debug, Clone, Copy)]
pub(super) enum Query {
    Ping,
    OrgExists,
    ListProperties,
    GetProperty,
    CreateProperty,
    OrganizationIds,
}

impl Query {
    const ALL: [Self; 6] = [
        Self::Ping,
        Self::OrgExists,
        Self::ListProperties,
        Self::GetProperty,
        Self::CreateProperty,
        Self::OrganizationIds,
    ];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::OrgExists => "org_exists",
            Self::ListProperties => "list_properties",
            Self::GetProperty => "get_property",
            Self::CreateProperty => "create_property",
            Self::OrganizationIds => "organization_ids",
        }
    }
}

/// Name of the query-duration histogram.
const QUERY_DURATION: &str = "db_query_duration_seconds";
/// Name of the pool-waiters gauge.
const POOL_WAITERS: &str = "db_pool_waiters";

/// Registered handles, one per query, and the waiters gauge.
pub(super) struct DbMetrics {
    durations: [Histogram; Query::ALL.len()],
    pub(super) waiters: Gauge,
}

impl DbMetrics {
    /// Describes and registers the metrics with the current recorder (a no-op one when none
    /// is installed).
    pub(super) fn register() -> Self {
        metrics::describe_histogram!(
            QUERY_DURATION,
            Unit::Seconds,
            "Time a database query held its pooled connection, by query."
        );
        metrics::describe_gauge!(
            POOL_WAITERS,
            "Callers blocked waiting for a pooled database connection."
        );
        let waiters = metrics::gauge!(POOL_WAITERS);
        waiters.set(0.0);
        Self {
            durations: Query::ALL
                .map(|q| metrics::histogram!(QUERY_DURATION, "query" => q.as_str())),
            waiters,
        }
    }

    /// Records that `query` held its connection for `took`.
    pub(super) fn record(&self, query: Query, took: Duration) {
        self.durations[query as usize].record(took.as_secs_f64());
    }
}
