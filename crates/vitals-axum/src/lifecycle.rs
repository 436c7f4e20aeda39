//! Where the process is in its life, for the probes: starting (until the application says
//! start-up is complete, when it asked to be waited for), accepting traffic, or refusing it
//! (from the shutdown signal on, while in-flight requests drain). Two atomics, read by the
//! probe handlers only.

use std::sync::atomic::{AtomicBool, Ordering};

/// The probes' view of the process.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    started: AtomicBool,
    refusing: AtomicBool,
}

impl Lifecycle {
    /// Started at once, or only at [`Lifecycle::complete_startup`] when `await_startup`.
    pub(crate) fn new(await_startup: bool) -> Self {
        Self {
            started: AtomicBool::new(!await_startup),
            refusing: AtomicBool::new(false),
        }
    }

    pub(crate) fn complete_startup(&self) {
        self.started.store(true, Ordering::Release);
    }

    pub(crate) fn started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    pub(crate) fn set_refusing(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::Release);
    }

    pub(crate) fn refusing(&self) -> bool {
        self.refusing.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_move_as_told() {
        let l = Lifecycle::new(true);
        assert!(!l.started());
        l.complete_startup();
        assert!(l.started());
        assert!(!l.refusing());
        l.set_refusing(true);
        assert!(l.refusing());
        l.set_refusing(false);
        assert!(!l.refusing());
        assert!(Lifecycle::new(false).started());
    }
}
