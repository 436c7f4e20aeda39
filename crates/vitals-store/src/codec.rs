//! The on-disk form of sparse histogram buckets: a BLOB of unsigned LEB128 varint pairs
//! `(index delta, count)`, indexes ascending, so a typical route-minute (a few dozen adjacent
//! buckets with small counts) costs about two bytes a bucket.
//!
//! Hand-written rather than a varint crate: the format is these 40 lines, and decoding must
//! reject (never panic on) any bytes a damaged file may hold, which the property tests below
//! check on arbitrary input.

use crate::model::Buckets;

/// Why a bucket BLOB could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The BLOB ends inside a varint or between an index and its count.
    #[error("bucket data is truncated")]
    Truncated,
    /// A varint is longer than ten bytes or does not fit its type.
    #[error("bucket data holds an oversized number")]
    Overflow,
    /// Indexes do not ascend, a count is zero, an index is past the last bucket or a varint
    /// is not in its shortest form.
    #[error("bucket data is not a sorted list of non-empty buckets")]
    Invalid,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Result<u64, CodecError> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let (&b, rest) = bytes.split_first().ok_or(CodecError::Truncated)?;
        *bytes = rest;
        let low = u64::from(b & 0x7F);
        if shift == 63 && low > 1 {
            return Err(CodecError::Overflow);
        }
        v |= low << shift;
        if b & 0x80 == 0 {
            // A trailing zero byte would be a second spelling of a shorter number.
            if b == 0 && shift > 0 {
                return Err(CodecError::Invalid);
            }
            return Ok(v);
        }
    }
    Err(CodecError::Overflow)
}

/// Encodes buckets (see the [module docs](self)).
#[must_use]
pub(crate) fn encode(buckets: &Buckets) -> Vec<u8> {
    let mut out = Vec::with_capacity(buckets.len() * 2);
    let mut previous = 0u32;
    for (i, &(index, count)) in buckets.iter().enumerate() {
        // The first index is stored whole, later ones as the gap from the previous one.
        put_varint(
            &mut out,
            u64::from(index - if i == 0 { 0 } else { previous }),
        );
        put_varint(&mut out, count);
        previous = index;
    }
    out
}

/// Decodes what [`encode`] wrote; any other input is an error, never a panic.
pub(crate) fn decode(mut bytes: &[u8]) -> Result<Buckets, CodecError> {
    let last = vitals::bucket_count() as u64 - 1;
    let mut out = Vec::with_capacity(bytes.len() / 2);
    let mut index = 0u64;
    while !bytes.is_empty() {
        let delta = take_varint(&mut bytes)?;
        let count = take_varint(&mut bytes)?;
        if !out.is_empty() && delta == 0 {
            return Err(CodecError::Invalid);
        }
        index = index.checked_add(delta).ok_or(CodecError::Invalid)?;
        if index > last || count == 0 {
            return Err(CodecError::Invalid);
        }
        out.push((index as u32, count));
    }
    Ok(Buckets::from_sorted_unchecked(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn buckets_strategy() -> impl Strategy<Value = Buckets> {
        let last = vitals::bucket_count() as u32 - 1;
        proptest::collection::btree_map(0..=last, 1..=u64::MAX, 0..200)
            .prop_map(|m| Buckets::from_sorted_unchecked(m.into_iter().collect()))
    }

    proptest! {
        #[test]
        fn round_trip(buckets in buckets_strategy()) {
            let bytes = encode(&buckets);
            prop_assert_eq!(decode(&bytes).unwrap(), buckets);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            // Either an error or buckets that encode back to the same bytes.
            if let Ok(buckets) = decode(&bytes) {
                prop_assert_eq!(encode(&buckets), bytes);
            }
        }
    }

    #[test]
    fn rejects_damaged_data() {
        assert_eq!(decode(&[0x80]), Err(CodecError::Truncated));
        assert_eq!(decode(&[5]), Err(CodecError::Truncated));
        assert_eq!(decode(&[5, 0]), Err(CodecError::Invalid)); // zero count
        assert_eq!(decode(&[5, 1, 0, 1]), Err(CodecError::Invalid)); // repeated index
        assert_eq!(decode(&[0xFF; 11]), Err(CodecError::Overflow));
        assert_eq!(decode(&[0xFF, 0xFF, 0x7F, 1]), Err(CodecError::Invalid)); // past the last
        assert_eq!(decode(&[]), Ok(Buckets::default()));
    }

    #[test]
    fn a_typical_minute_costs_about_two_bytes_a_bucket() {
        let mut b = Buckets::default();
        for i in 400..440 {
            b.add(i, 3);
        }
        // 400 takes two bytes, its count one, each later (gap 1, count 3) pair two.
        assert_eq!(encode(&b).len(), 3 + 39 * 2);
    }
}
