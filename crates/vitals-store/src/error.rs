//! The store's errors: opening (a clear reason the caller logs before serving on without
//! history), writing and reading, and query validation (each a 400 for the HTTP layer).

use std::path::PathBuf;

use crate::codec::CodecError;

/// Why [`Store::open`](crate::Store::open) failed. The message names the file and the reason.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file is not an SQLite database, or its pages are damaged.
    #[error("history store {path}: the file is corrupt or not a database ({source})")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// SQLite's report.
        source: rusqlite::Error,
    },
    /// The file or its directory cannot be written.
    #[error("history store {path}: the file is read-only ({source})")]
    ReadOnly {
        /// The file.
        path: PathBuf,
        /// SQLite's report.
        source: rusqlite::Error,
    },
    /// Another process holds the database locked.
    #[error("history store {path}: the database is locked by another process ({source})")]
    Locked {
        /// The file.
        path: PathBuf,
        /// SQLite's report.
        source: rusqlite::Error,
    },
    /// The file was written by a newer version of the store.
    #[error("history store {path}: schema version {found} is newer than {supported}")]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: i64,
        /// Newest version this build reads.
        supported: i64,
    },
    /// Any other failure (cannot create the file, out of disk, ...).
    #[error("history store {path}: cannot open ({source})")]
    Other {
        /// The file.
        path: PathBuf,
        /// SQLite's report.
        source: rusqlite::Error,
    },
}

impl OpenError {
    pub(crate) fn classify(path: PathBuf, source: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match source.sqlite_error_code() {
            Some(C::NotADatabase | C::DatabaseCorrupt) => OpenError::Corrupt { path, source },
            Some(C::ReadOnly | C::PermissionDenied) => OpenError::ReadOnly { path, source },
            Some(C::DatabaseBusy | C::DatabaseLocked) => OpenError::Locked { path, source },
            Some(C::CannotOpen) if path.exists() => OpenError::ReadOnly { path, source },
            _ => OpenError::Other { path, source },
        }
    }
}

/// A failure while writing or reading an open store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed (disk full, I/O error, damaged page).
    #[error("history store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored bucket BLOB could not be decoded.
    #[error("history store: damaged bucket data: {0}")]
    Codec(#[from] CodecError),
}

/// A history query that cannot be answered as asked: each is the client's mistake (a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The series name is not `service`, `system`, `route:<METHOD> <template>` or
    /// `tenant:<id>`.
    #[error(transparent)]
    BadSeries(#[from] crate::model::SeriesSyntaxError),
    /// The series has no history.
    #[error("unknown series {0}")]
    UnknownSeries(String),
    /// A time is neither unix seconds nor RFC 3339.
    #[error("unparsable time {0:?} (expected unix seconds or RFC 3339)")]
    BadTime(String),
    /// `from` is after `to`.
    #[error("from ({from}) is after to ({to})")]
    FromAfterTo {
        /// Start, unix seconds.
        from: i64,
        /// End, unix seconds.
        to: i64,
    },
    /// The span holds more steps than a query may return.
    #[error("the span holds {steps} steps, more than {max}; use a coarser step")]
    TooManyPoints {
        /// Steps in the span.
        steps: i64,
        /// The limit.
        max: i64,
    },
    /// The step is not `1m`, `1h` or `1d`.
    #[error("unknown step {0:?} (expected 1m, 1h or 1d)")]
    BadStep(String),
}

/// A history query's failure: the client's ([`QueryError`], a 400) or the store's.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The query is invalid.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for HistoryError {
    fn from(e: rusqlite::Error) -> Self {
        HistoryError::Store(StoreError::Sqlite(e))
    }
}

impl From<CodecError> for HistoryError {
    fn from(e: CodecError) -> Self {
        HistoryError::Store(StoreError::Codec(e))
    }
}
