//! A fixed ring of the most recent requests, written by many threads without a lock.

use std::sync::atomic::{AtomicU64, Ordering, fence};

/// Bytes kept of each inline string.
pub const INLINE_BYTES: usize = 64;
const STR_WORDS: usize = INLINE_BYTES / 8;
// A slot is four cache lines, laid out so that a typical request writes only the first two:
// line 0: seq, order, unix_ns, duration, packed, lens, trace id (2 words); line 1: correlation
// id (8); line 2: organization (8); line 3: cpu, allocated, freed, polls, busy, padding to
// 256 bytes. Strings are written up to their length and the resource words only when there is
// something to put in them (a bit in the lens word says so); a request polled once keeps that
// poll's length in the lens word's high half instead (its busy time is that poll's length). So a request without an organization or
// a measurement touches two lines:
// the ring is cold memory (2000 slots are 512 KB), and every line written is a cache miss.
// Slots start on cache lines, so writers of neighbouring slots (usually on different threads)
// never share one.
const WORDS: usize = 32;
const TRACE: usize = 6;
const CID: usize = 8;
const ORG: usize = CID + STR_WORDS;
const RES: usize = ORG + STR_WORDS;
const USED_WORDS: usize = RES + 5;
const _: () = assert!(USED_WORDS <= WORDS && TRACE + 2 == CID && CID % 8 == 0 && ORG % 8 == 0);
/// Bit of the lens word: the resource words were written.
const HAS_RESOURCES: u64 = 1 << 16;
/// Bit of the lens word: polled once; the high 32 bits hold that poll's length in µs.
const ONE_POLL: u64 = 1 << 17;
/// Bytes per slot.
pub const SLOT_BYTES: usize = WORDS * 8;

/// One request as the ring stores it (ids rather than names for routes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// Position in the stream of pushed entries (0-based); higher is newer.
    pub order: u64,
    /// Start of the request, ns since the Unix epoch.
    pub unix_ns: u64,
    /// Time from the request to the end of its response body, ns.
    pub duration_ns: u64,
    /// Route id in the monitor's route table.
    pub route_id: u32,
    /// Method index ([`crate::method::Method::index`]).
    pub method: u8,
    /// HTTP status (499 for a client that went away before the response ended).
    pub status: u16,
    /// Flag bits ([`Entry::ABORTED`]).
    pub flags: u8,
    /// Organization id, truncated to [`INLINE_BYTES`].
    pub organization: InlineStr,
    /// Correlation id, truncated to [`INLINE_BYTES`].
    pub correlation_id: InlineStr,
    /// W3C trace id, if any (all zero: none).
    pub trace_id: [u8; 16],
    /// CPU time spent in the request's polls, ns (0: not measured).
    pub cpu_ns: u64,
    /// Bytes allocated during the request's polls (0: not measured).
    pub allocated_bytes: u64,
    /// Bytes freed during the request's polls (0: not measured).
    pub freed_bytes: u64,
    /// Number of polls (low 32 bits) and longest poll in µs (high 32 bits); 0 when the polls
    /// were not timed.
    pub polls: u64,
    /// Busy time (the sum of the polls), ns; for a request polled once, its one poll (to the
    /// µs); 0 when the polls were not timed.
    pub busy_ns: u64,
}

impl Entry {
    /// The client went away before the response ended.
    pub const ABORTED: u8 = 1;
    /// The handler panicked.
    pub const PANICKED: u8 = 2;
    /// CPU and allocation were measured for this request.
    pub const MEASURED: u8 = 4;
    /// More CPU than the high-CPU threshold.
    pub const HIGH_CPU: u8 = 8;
    /// More allocation than the high-memory threshold.
    pub const HIGH_MEMORY: u8 = 16;
    /// A poll longer than the blocking threshold.
    pub const BLOCKED: u8 = 32;
}

/// A string of at most [`INLINE_BYTES`] bytes stored by value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InlineStr {
    len: u8,
    bytes: [u8; INLINE_BYTES],
}

impl Default for InlineStr {
    fn default() -> Self {
        Self {
            len: 0,
            bytes: [0; INLINE_BYTES],
        }
    }
}

impl AsRef<str> for InlineStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for InlineStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for InlineStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

impl InlineStr {
    /// Copies `s`, cut at [`INLINE_BYTES`] on a character boundary.
    #[must_use]
    pub fn new(s: &str) -> Self {
        let mut end = s.len().min(INLINE_BYTES);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0; INLINE_BYTES];
        bytes[..end].copy_from_slice(&s.as_bytes()[..end]);
        Self {
            len: end as u8,
            bytes,
        }
    }

    /// Copies ASCII bytes, cut at [`INLINE_BYTES`]; `None` if a byte is not ASCII. Cheaper
    /// than [`InlineStr::new`] after `str::from_utf8` for text known to be ASCII (ids made
    /// on every request): one word-at-a-time check instead of UTF-8 validation.
    ///
    /// ```
    /// use vitals::InlineStr;
    ///
    /// assert_eq!(InlineStr::from_ascii(b"req-1").unwrap().as_str(), "req-1");
    /// assert!(InlineStr::from_ascii("é".as_bytes()).is_none());
    /// ```
    #[must_use]
    pub fn from_ascii(ascii: &[u8]) -> Option<Self> {
        if !is_ascii_by_words(ascii) {
            return None;
        }
        let end = ascii.len().min(INLINE_BYTES);
        let mut bytes = [0; INLINE_BYTES];
        bytes[..end].copy_from_slice(&ascii[..end]);
        Some(Self {
            len: end as u8,
            bytes,
        })
    }

    /// [`InlineStr::from_ascii`] for an array that fits: a fixed-size copy the compiler
    /// writes inline, for ids made on every request.
    ///
    /// ```
    /// use vitals::InlineStr;
    ///
    /// assert_eq!(InlineStr::from_ascii_array(*b"abc").unwrap().as_str(), "abc");
    /// ```
    #[must_use]
    pub fn from_ascii_array<const N: usize>(ascii: [u8; N]) -> Option<Self> {
        const { assert!(N <= INLINE_BYTES) };
        if !is_ascii_by_words(&ascii) {
            return None;
        }
        let mut bytes = [0; INLINE_BYTES];
        bytes[..N].copy_from_slice(&ascii);
        Some(Self {
            len: N as u8,
            bytes,
        })
    }

    /// The stored text.
    ///
    /// ```
    /// let id = vitals::InlineStr::new("acme");
    /// assert_eq!(id.as_str(), "acme");
    /// assert_eq!(id.to_string(), "acme");
    /// assert_eq!(AsRef::<str>::as_ref(&id), "acme");
    /// ```
    #[must_use]
    #[allow(unsafe_code)]
    pub fn as_str(&self) -> &str {
        let bytes = &self.bytes[..usize::from(self.len).min(INLINE_BYTES)];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: every constructor stores a prefix of a `&str` cut on a character boundary
        // (`new`), ASCII bytes (`from_ascii`, `from_ascii_array`), or bytes checked with
        // `from_utf8` (`get_str`); the fields are private. This runs several times per
        // request, where re-validating showed in the profile.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// True when nothing is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[repr(align(64))]
struct Slot {
    words: [AtomicU64; WORDS],
}

/// The fields of one request to push, borrowed (see [`Entry`] for their meaning).
#[derive(Debug, Clone, Copy, Default)]
pub struct EntryRef<'a> {
    /// See [`Entry::unix_ns`].
    pub unix_ns: u64,
    /// See [`Entry::duration_ns`].
    pub duration_ns: u64,
    /// See [`Entry::route_id`].
    pub route_id: u32,
    /// See [`Entry::method`].
    pub method: u8,
    /// See [`Entry::status`].
    pub status: u16,
    /// See [`Entry::flags`].
    pub flags: u8,
    /// Organization id; cut at [`INLINE_BYTES`].
    pub organization: &'a str,
    /// Correlation id; cut at [`INLINE_BYTES`].
    pub correlation_id: &'a str,
    /// See [`Entry::trace_id`].
    pub trace_id: [u8; 16],
    /// See [`Entry::cpu_ns`].
    pub cpu_ns: u64,
    /// See [`Entry::allocated_bytes`].
    pub allocated_bytes: u64,
    /// See [`Entry::freed_bytes`].
    pub freed_bytes: u64,
    /// See [`Entry::polls`].
    pub polls: u64,
    /// See [`Entry::busy_ns`].
    pub busy_ns: u64,
}

impl<'a> From<&'a Entry> for EntryRef<'a> {
    fn from(e: &'a Entry) -> Self {
        Self {
            unix_ns: e.unix_ns,
            duration_ns: e.duration_ns,
            route_id: e.route_id,
            method: e.method,
            status: e.status,
            flags: e.flags,
            organization: e.organization.as_str(),
            correlation_id: e.correlation_id.as_str(),
            trace_id: e.trace_id,
            cpu_ns: e.cpu_ns,
            allocated_bytes: e.allocated_bytes,
            freed_bytes: e.freed_bytes,
            polls: e.polls,
            busy_ns: e.busy_ns,
        }
    }
}

/// `<[u8]>::is_ascii` a word at a time: the standard one goes byte by byte on short slices,
/// which showed in the profile for the 36-byte ids made on every request.
fn is_ascii_by_words(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    let high = chunks.by_ref().fold(0, |acc, c| {
        acc | u64::from_le_bytes(c.try_into().unwrap_or([0x80; 8]))
    });
    let tail = chunks.remainder().iter().fold(0, |acc, &b| acc | b);
    high & 0x8080_8080_8080_8080 == 0 && tail & 0x80 == 0
}

/// The length of `s` cut at [`INLINE_BYTES`] on a character boundary.
fn inline_len(s: &str) -> usize {
    let mut end = s.len().min(INLINE_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// The ring of recent requests.
///
/// Each slot is a run of `AtomicU64` words guarded by a sequence number (a seqlock): a writer
/// claims a slot with a `fetch_add` on the head, marks it odd while it writes, even when done;
/// a reader copies the words and keeps the copy only if the sequence did not move. A writer that
/// finds its slot held by another (the ring wrapped around during one write) drops its record
/// rather than wait. Strings (organization, correlation id) are stored inline up to
/// [`INLINE_BYTES`] bytes, so the ring's memory is fixed at `capacity * SLOT_BYTES`.
///
/// Hand-written: the crates that offer lock-free rings (`crossbeam`'s `ArrayQueue`, `ringbuf`)
/// are queues that consumers drain, not a window that readers scan while writers overwrite.
///
/// # Example
///
/// ```
/// use vitals::{Ring, RingEntryRef};
///
/// let ring = Ring::new(2);
/// for status in [200, 201, 500] {
///     ring.push(&RingEntryRef { status, ..RingEntryRef::default() });
/// }
/// let recent: Vec<u16> = ring.snapshot().iter().map(|e| e.status).collect();
/// assert_eq!(recent, vec![201, 500]);
/// ```
pub struct Ring {
    slots: Box<[Slot]>,
    head: AtomicU64,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.slots.len())
            .field("pushed", &self.head.load(Ordering::Relaxed))
            .finish()
    }
}

/// Stores the first `len` bytes of `s` into the words (zero-padded), touching only the words
/// the text needs.
fn put_str(words: &[AtomicU64], s: &[u8]) {
    let mut chunks = s.chunks_exact(8);
    let mut words = words.iter();
    // `chunks` first: zip stops on it without taking one more word.
    for (chunk, w) in chunks.by_ref().zip(words.by_ref()) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk); // fixed size: no memcpy call
        w.store(u64::from_le_bytes(b), Ordering::Relaxed);
    }
    let rest = chunks.remainder();
    if let (false, Some(w)) = (rest.is_empty(), words.next()) {
        let mut b = [0u8; 8];
        for (dst, src) in b.iter_mut().zip(rest) {
            *dst = *src;
        }
        w.store(u64::from_le_bytes(b), Ordering::Relaxed);
    }
}

fn get_str(words: &[u64], len: u8) -> InlineStr {
    let mut out = InlineStr {
        len: len.min(INLINE_BYTES as u8),
        bytes: [0; INLINE_BYTES],
    };
    for (i, w) in words.iter().enumerate() {
        out.bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    // Words past the text may hold an older entry's bytes: keep only the text.
    out.bytes[usize::from(out.len)..].fill(0);
    if std::str::from_utf8(&out.bytes[..usize::from(out.len)]).is_err() {
        out.len = 0;
    }
    out
}

impl Ring {
    /// A ring of `capacity` slots (at least 1), allocated once.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let slots = (0..capacity.max(1))
            .map(|_| Slot {
                words: std::array::from_fn(|_| AtomicU64::new(0)),
            })
            .collect();
        Self {
            slots,
            head: AtomicU64::new(0),
        }
    }

    /// Number of slots.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Entries pushed since creation (including overwritten ones).
    #[must_use]
    pub fn pushed(&self) -> u64 {
        self.head.load(Ordering::Relaxed)
    }

    /// Bytes the ring holds.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.slots.len() * SLOT_BYTES
    }

    /// Stores an entry, overwriting the oldest. Never blocks.
    pub fn push(&self, e: &EntryRef<'_>) {
        let order = self.head.fetch_add(1, Ordering::Relaxed);
        let slot = &self.slots[(order % self.slots.len() as u64) as usize];
        let w = &slot.words;
        let seq = w[0].load(Ordering::Relaxed);
        if seq & 1 == 1
            || w[0]
                .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return; // another writer holds this slot: drop rather than wait
        }
        fence(Ordering::Release);
        w[1].store(order + 1, Ordering::Relaxed);
        w[2].store(e.unix_ns, Ordering::Relaxed);
        w[3].store(e.duration_ns, Ordering::Relaxed);
        let packed = u64::from(e.route_id)
            | u64::from(e.method) << 32
            | u64::from(e.status) << 40
            | u64::from(e.flags) << 56;
        w[4].store(packed, Ordering::Relaxed);
        let (org_len, cid_len) = (inline_len(e.organization), inline_len(e.correlation_id));
        let one_poll = e.polls & 0xFFFF_FFFF == 1;
        let has_resources =
            e.cpu_ns | e.allocated_bytes | e.freed_bytes != 0 || (e.polls != 0 && !one_poll);
        let mut lens = org_len as u64 | (cid_len as u64) << 8;
        if has_resources {
            lens |= HAS_RESOURCES;
        }
        if one_poll {
            lens |= ONE_POLL | (e.polls & !0xFFFF_FFFF);
        }
        w[5].store(lens, Ordering::Relaxed);
        w[TRACE].store(
            u64::from_le_bytes(e.trace_id[..8].try_into().unwrap_or_default()),
            Ordering::Relaxed,
        );
        w[TRACE + 1].store(
            u64::from_le_bytes(e.trace_id[8..].try_into().unwrap_or_default()),
            Ordering::Relaxed,
        );
        put_str(&w[CID..ORG], &e.correlation_id.as_bytes()[..cid_len]);
        put_str(&w[ORG..RES], &e.organization.as_bytes()[..org_len]);
        if has_resources {
            w[RES].store(e.cpu_ns, Ordering::Relaxed);
            w[RES + 1].store(e.allocated_bytes, Ordering::Relaxed);
            w[RES + 2].store(e.freed_bytes, Ordering::Relaxed);
            w[RES + 3].store(e.polls, Ordering::Relaxed);
            w[RES + 4].store(e.busy_ns, Ordering::Relaxed);
        }
        w[0].store(seq + 2, Ordering::Release);
    }

    fn read(slot: &Slot) -> Option<Entry> {
        let w = &slot.words;
        for _ in 0..4 {
            let seq = w[0].load(Ordering::Acquire);
            if seq & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let copy: [u64; USED_WORDS] = std::array::from_fn(|i| w[i].load(Ordering::Relaxed));
            fence(Ordering::Acquire);
            if w[0].load(Ordering::Relaxed) != seq {
                continue;
            }
            if copy[1] == 0 {
                return None; // never written
            }
            let mut trace_id = [0u8; 16];
            trace_id[..8].copy_from_slice(&copy[TRACE].to_le_bytes());
            trace_id[8..].copy_from_slice(&copy[TRACE + 1].to_le_bytes());
            // Resource words left from an earlier entry are not this one's.
            let res = |i: usize| {
                if copy[5] & HAS_RESOURCES == 0 {
                    0
                } else {
                    copy[RES + i]
                }
            };
            return Some(Entry {
                order: copy[1] - 1,
                unix_ns: copy[2],
                duration_ns: copy[3],
                route_id: copy[4] as u32,
                method: (copy[4] >> 32) as u8,
                status: (copy[4] >> 40) as u16,
                flags: (copy[4] >> 56) as u8,
                organization: get_str(&copy[ORG..RES], copy[5] as u8),
                correlation_id: get_str(&copy[CID..ORG], (copy[5] >> 8) as u8),
                trace_id,
                cpu_ns: res(0),
                allocated_bytes: res(1),
                freed_bytes: res(2),
                polls: if copy[5] & ONE_POLL == 0 {
                    res(3)
                } else {
                    1 | (copy[5] & !0xFFFF_FFFF)
                },
                busy_ns: if copy[5] & ONE_POLL == 0 {
                    res(4)
                } else {
                    (copy[5] >> 32) * 1_000
                },
            });
        }
        None // too busy: skip this slot
    }

    /// Copies the current entries, oldest first.
    #[must_use]
    pub fn snapshot(&self) -> Vec<Entry> {
        let mut out: Vec<Entry> = self.slots.iter().filter_map(Self::read).collect();
        out.sort_unstable_by_key(|e| e.order);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn keeps_the_newest_entries_in_order() {
        let ring = Ring::new(3);
        for i in 0..10u64 {
            ring.push(&EntryRef {
                duration_ns: i,
                ..EntryRef::default()
            });
        }
        let got: Vec<u64> = ring.snapshot().iter().map(|e| e.duration_ns).collect();
        assert_eq!(got, vec![7, 8, 9]);
        assert_eq!(ring.pushed(), 10);
    }

    proptest::proptest! {
        #[test]
        fn from_ascii_takes_ascii_only(
            mut bytes in proptest::collection::vec(0u8..128, 0..80),
            bad in proptest::option::of((proptest::num::usize::ANY, 128u8..)),
        ) {
            if let Some((at, byte)) = bad {
                bytes.insert(at % (bytes.len() + 1), byte);
            }
            let got = InlineStr::from_ascii(&bytes);
            proptest::prop_assert_eq!(got.is_some(), bytes.is_ascii());
            if let Some(s) = got {
                let end = bytes.len().min(INLINE_BYTES);
                proptest::prop_assert_eq!(s.as_str().as_bytes(), &bytes[..end]);
            }
        }
    }

    #[test]
    fn an_entry_without_resources_does_not_show_an_older_ones() {
        let ring = Ring::new(1);
        ring.push(&EntryRef {
            cpu_ns: 5,
            allocated_bytes: 6,
            freed_bytes: 8,
            polls: 7,
            organization: "a-long-organization-name",
            correlation_id: "a-long-correlation-id",
            trace_id: [1; 16],
            ..EntryRef::default()
        });
        ring.push(&EntryRef {
            status: 200,
            organization: "b",
            ..EntryRef::default()
        });
        let got = ring.snapshot();
        assert_eq!(got.len(), 1);
        let e = &got[0];
        assert_eq!(
            (e.cpu_ns, e.allocated_bytes, e.freed_bytes, e.polls),
            (0, 0, 0, 0)
        );
        assert_eq!(e.organization.as_str(), "b");
        assert_eq!(e.correlation_id.as_str(), "");
        assert_eq!(e.trace_id, [0; 16]);
        assert_eq!(e.status, 200);
    }

    #[test]
    fn one_poll_needs_no_resource_words_and_round_trips() {
        let ring = Ring::new(1);
        // An older entry's resource words must not show through.
        ring.push(&EntryRef {
            cpu_ns: 5,
            polls: 3 | (40 << 32),
            ..EntryRef::default()
        });
        ring.push(&EntryRef {
            status: 200,
            polls: 1 | (1_234 << 32),
            ..EntryRef::default()
        });
        let e = &ring.snapshot()[0];
        assert_eq!(e.polls, 1 | (1_234 << 32));
        assert_eq!((e.cpu_ns, e.allocated_bytes, e.freed_bytes), (0, 0, 0));
        // The second entry left the resource line as the first wrote it.
        let words = &ring.slots[0].words;
        assert_eq!(words[RES].load(Ordering::Relaxed), 5);
        assert_eq!(words[RES + 3].load(Ordering::Relaxed), 3 | (40 << 32));

        // One poll with resources: both read back.
        ring.push(&EntryRef {
            cpu_ns: 7,
            allocated_bytes: 64,
            freed_bytes: 32,
            polls: 1 | (99 << 32),
            busy_ns: 99_123,
            ..EntryRef::default()
        });
        let e = &ring.snapshot()[0];
        assert_eq!(
            (e.cpu_ns, e.allocated_bytes, e.freed_bytes, e.polls),
            (7, 64, 32, 1 | (99 << 32))
        );
        // One poll: its busy time is that poll, kept in µs.
        assert_eq!(e.busy_ns, 99_000);
    }

    #[test]
    fn round_trips_every_field() {
        let ring = Ring::new(1);
        let e = Entry {
            order: 0,
            unix_ns: 1_700_000_000_000_000_000,
            duration_ns: 123_456,
            route_id: 42,
            method: 3,
            status: 503,
            flags: Entry::ABORTED,
            organization: InlineStr::new("acme"),
            correlation_id: InlineStr::new("req-1"),
            trace_id: [7; 16],
            cpu_ns: 9,
            allocated_bytes: 10,
            freed_bytes: 12,
            polls: 11,
            busy_ns: 13,
        };
        ring.push(&EntryRef::from(&e));
        assert_eq!(ring.snapshot(), vec![e]);
    }

    #[test]
    fn inline_str_cuts_on_char_boundary() {
        let s = "é".repeat(40); // 80 bytes
        let inline = InlineStr::new(&s);
        assert_eq!(inline.as_str().len(), 64);
        assert!(s.starts_with(inline.as_str()));
    }

    #[test]
    fn concurrent_writers_never_tear_entries() {
        let ring = Arc::new(Ring::new(64));
        let writers: Vec<_> = (0..4u64)
            .map(|t| {
                let ring = Arc::clone(&ring);
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        // every field derived from one value, so a torn read shows
                        let v = t * 1_000_000 + i;
                        let text = v.to_string();
                        ring.push(&EntryRef {
                            unix_ns: v,
                            duration_ns: v,
                            cpu_ns: v,
                            correlation_id: &text,
                            ..EntryRef::default()
                        });
                    }
                })
            })
            .collect();
        let mut checked = 0;
        while checked < 200 {
            for e in ring.snapshot() {
                assert_eq!(e.unix_ns, e.duration_ns);
                assert_eq!(e.cpu_ns, e.duration_ns);
                assert_eq!(e.correlation_id.as_str(), e.duration_ns.to_string());
            }
            checked += 1;
        }
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(ring.pushed(), 80_000);
    }
}
