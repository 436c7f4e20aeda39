//! Delivery of vitals alert transitions to the places on-call people watch: Prometheus
//! Alertmanager, PagerDuty Events API v2, Slack incoming webhooks and generic webhooks signed
//! per Standard Webhooks.
//!
//! At least once, never on the request path: [`Notifier::notify`] puts envelopes into a bounded
//! queue per channel (what does not fit is counted as dropped) and returns; a task per channel
//! stores them in an [`Outbox`], sends them in order, retries timeouts, connection errors, 429
//! and 5xx with exponential backoff and full jitter (honouring `Retry-After`), keeps other 4xx
//! as dead letters, and sends still-firing alerts again (every minute to Alertmanager, every
//! 4 h elsewhere). Secrets never appear in `Debug` output, errors, logs or the snapshot.
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use vitals_notify::{Config, Notification, Severity, Transition};
//! let notifier = Config::from_env()?.start()?;
//! let mut n = Notification::new("heap-1", "HeapHigh", Severity::Critical, Transition::Fired);
//! n.summary = "heap above 800 MB".into();
//! notifier.notify(&[n]);
//! for c in notifier.snapshot().channels {
//!     println!("{} sent={} depth={}", c.name, c.sent, c.queue_depth);
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod channels;
mod config;
mod delivery;
mod envelope;
mod notification;
mod notifier;
mod outbox;
mod secret;

pub use channels::ChannelKind;
pub use config::{Config, ConfigError};
pub use delivery::{ChannelSnapshot, DeadLetter, DeliveryOptions, NotifySnapshot};
pub use envelope::{Envelope, EnvelopeKind};
pub use notification::{Notification, Severity, Transition};
pub use notifier::Notifier;
#[cfg(feature = "sqlite")]
pub use outbox::SqliteOutbox;
pub use outbox::{Loaded, MemoryOutbox, Outbox, OutboxError};
pub use secret::{Secret, SecretUrl};
