//! The delivery engine: bounded queues, one task per channel, retries, repeats, counters.

mod options;
mod retry;
mod stats;
mod worker;

pub use options::DeliveryOptions;
pub(crate) use stats::ChannelState;
pub use stats::{ChannelSnapshot, DeadLetter, NotifySnapshot};
pub(crate) use worker::{Command, Worker};
