//! Label names as `&'static str`, as the core's exposition model wants them.
//!
//! Label names come from code (`counter!("x", "route" => ...)`) and are few, so each distinct
//! (sanitised) name is leaked once into a process-wide table. The table holds at most
//! [`MAX_LABEL_NAMES`] names of at most [`crate::names::MAX_NAME_LEN`] bytes: the leak is
//! bounded by 1,024 × 200 bytes (200 KiB) even if a label *name* is fed from user input.
//! Beyond the cap new names are refused. Interning happens only when a series is registered,
//! never on a handle's increment.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Most distinct label names interned per process; new names beyond it are refused.
pub const MAX_LABEL_NAMES: usize = 1024;

static TABLE: LazyLock<papaya::HashMap<Box<str>, &'static str>> =
    LazyLock::new(papaya::HashMap::new);
/// Names leaked so far (reserved before leaking, so it never exceeds the cap).
static LEAKED: AtomicUsize = AtomicUsize::new(0);

/// The interned copy of `name`, or `None` when the table is full.
pub(crate) fn intern(name: &str) -> Option<&'static str> {
    let table = TABLE.pin();
    if let Some(&interned) = table.get(name) {
        return Some(interned);
    }
    LEAKED
        .fetch_update(Relaxed, Relaxed, |n| (n < MAX_LABEL_NAMES).then_some(n + 1))
        .ok()?;
    let leaked: &'static str = Box::leak(name.into());
    // A racing thread may have interned the same name; both stay in the cap's count.
    Some(match table.try_insert(name.into(), leaked) {
        Ok(&inserted) => inserted,
        Err(occupied) => *occupied.current,
    })
}

/// Label names interned so far.
pub(crate) fn interned() -> usize {
    LEAKED.load(Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_name_is_interned_once() {
        let a = intern("interned_once_test").unwrap();
        let before = interned();
        let b = intern("interned_once_test").unwrap();
        assert!(std::ptr::eq(a, b));
        assert_eq!(interned(), before);
    }
}
