//! Header values made per request (a generated `x-request-id`, `traceparent`, the rate-limit
//! fields) cut from a per-thread buffer instead of each allocating its own bytes.
//!
//! A `HeaderValue` owns its bytes through `Bytes`; made with `HeaderValue::from_str` every value
//! is one allocation (and one free), a fifth of what the monitor layer costs per request. Here
//! each thread writes values one after another into a 4 KiB `BytesMut` and splits each off as
//! a `Bytes` that shares the buffer (a reference-count increment), so the allocator is called
//! once per buffer, about once every hundred requests. A buffer is freed when the last value
//! cut from it is dropped, so at most one buffer per thread plus those still referenced by
//! responses in flight are held.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};
use http::HeaderValue;

/// Size of each thread's buffer.
const BUFFER: usize = 4096;

thread_local! {
    static ARENA: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// A header value holding `bytes` (which must be visible ASCII, as header values are; anything
/// else gives `invalid`).
pub(crate) fn header_value(bytes: &[u8]) -> HeaderValue {
    split_off(bytes.len(), |arena| arena.extend_from_slice(bytes))
        .map_or_else(
            || HeaderValue::from_bytes(bytes),
            HeaderValue::from_maybe_shared,
        )
        .unwrap_or(HeaderValue::from_static("invalid"))
}

/// A header value holding `parts` one after another (written straight into the buffer, so a
/// composed value needs no buffer of its own first).
#[cfg(feature = "rate-limit")]
pub(crate) fn header_value_of(parts: &[&[u8]]) -> HeaderValue {
    let len = parts.iter().map(|p| p.len()).sum();
    split_off(len, |arena| {
        for part in parts {
            arena.extend_from_slice(part);
        }
    })
    .map_or_else(
        || HeaderValue::from_bytes(&parts.concat()),
        HeaderValue::from_maybe_shared,
    )
    .unwrap_or(HeaderValue::from_static("invalid"))
}

/// Like [`header_value`] without `HeaderValue`'s byte-by-byte check (~120 instructions per
/// request for a generated id in the profile), for bytes that are valid by construction.
///
/// # Safety
/// Every byte must be visible ASCII (`0x21..=0x7e`) or a space: what a `HeaderValue` may hold.
#[allow(unsafe_code)]
pub(crate) unsafe fn header_value_unchecked(bytes: &[u8]) -> HeaderValue {
    debug_assert!(bytes.iter().all(|b| (0x20..0x7f).contains(b)));
    match split_off(bytes.len(), |arena| arena.extend_from_slice(bytes)) {
        // SAFETY: the caller promises visible ASCII (valid UTF-8 and a valid value).
        Some(shared) => unsafe { HeaderValue::from_maybe_shared_unchecked(shared) },
        None => header_value(bytes),
    }
}

/// Writes `len` bytes into the thread's buffer with `write` and splits them off, sharing the
/// buffer; `None` at thread teardown or on a re-entrant call (the caller allocates as usual).
fn split_off(len: usize, write: impl FnOnce(&mut BytesMut)) -> Option<Bytes> {
    ARENA
        .try_with(|arena| {
            let mut arena = arena.try_borrow_mut().ok()?;
            if arena.capacity() < len {
                *arena = BytesMut::with_capacity(BUFFER.max(len));
            }
            write(&mut arena);
            Some(arena.split().freeze())
        })
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_independent_and_survive_new_buffers() {
        let values: Vec<_> = (0..1000)
            .map(|i| (i, header_value(format!("value-{i}").as_bytes())))
            .collect();
        for (i, v) in &values {
            assert_eq!(v.to_str().unwrap(), format!("value-{i}"));
        }
        let long = "z".repeat(BUFFER * 2);
        assert_eq!(header_value(long.as_bytes()).len(), BUFFER * 2);
        assert_eq!(header_value(b"bad\nvalue"), "invalid");
        assert_eq!(header_value(b"after"), "after");
        #[cfg(feature = "rate-limit")]
        assert_eq!(header_value_of(&[b"a", b"", b";r=", b"12"]), "a;r=12");
    }
}
