//! gRPC status codes and how vitals counts them.
//!
//! A call's outcome is its `grpc-status` (in the response headers for a trailers-only answer,
//! else in the trailers), not its HTTP status, which is 200 for nearly every call. vitals'
//! route series count status *classes* (2xx, 4xx, 5xx), so each gRPC code is recorded as the
//! HTTP status Google's API design guide pairs it with (`google.rpc.Code`): `OK` is 200,
//! the caller's mistakes are 4xx (`NOT_FOUND` 404, `INVALID_ARGUMENT` 400, `UNAUTHENTICATED`
//! 401, ...), the server's failures 5xx (`INTERNAL` 500, `UNAVAILABLE` 503, `DEADLINE_EXCEEDED`
//! 504, ...), `CANCELLED` 499 as a client abort. The gRPC code itself is counted per method in
//! `vitals_grpc_server_calls_total{rpc_grpc_status_code}`.

/// Number of gRPC status codes (0 `OK` to 16 `UNAUTHENTICATED`).
pub const GRPC_CODES: usize = 17;

/// `UNKNOWN`: what a call that ended without a valid `grpc-status` is counted as.
pub(crate) const UNKNOWN: u8 = 2;
/// `CANCELLED`: a call whose client went away before it ended.
pub(crate) const CANCELLED: u8 = 1;
/// `UNAVAILABLE`: what a call shed under pressure is answered.
pub(crate) const UNAVAILABLE: u8 = 14;

/// The code a `grpc-status` value names (`UNKNOWN` for anything not `0`..=`16`).
///
/// ```
/// assert_eq!(vitals_tonic::parse_grpc_status(b"5"), 5);
/// assert_eq!(vitals_tonic::parse_grpc_status(b"16"), 16);
/// assert_eq!(vitals_tonic::parse_grpc_status(b"17"), 2);
/// assert_eq!(vitals_tonic::parse_grpc_status(b""), 2);
/// ```
#[must_use]
pub fn parse_grpc_status(value: &[u8]) -> u8 {
    match value {
        [d @ b'0'..=b'9'] => d - b'0',
        [b'1', d @ b'0'..=b'6'] => 10 + d - b'0',
        _ => UNKNOWN,
    }
}

/// The HTTP status a gRPC code is recorded as in vitals' route series (see the module docs).
///
/// ```
/// assert_eq!(vitals_tonic::vitals_status(0), 200);
/// assert_eq!(vitals_tonic::vitals_status(5), 404);
/// assert_eq!(vitals_tonic::vitals_status(13), 500);
/// ```
#[must_use]
pub const fn vitals_status(code: u8) -> u16 {
    match code {
        0 => 200,
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500, // UNKNOWN, INTERNAL, DATA_LOSS
    }
}

/// The gRPC code a non-200 HTTP answer stands for, as the gRPC HTTP/2 protocol maps them (a
/// proxy in front answered, not a gRPC server).
pub(crate) const fn from_http(status: u16) -> u8 {
    match status {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502..=504 => UNAVAILABLE,
        _ => UNKNOWN,
    }
}

/// The code's digits as a label value.
pub(crate) fn code_label(code: usize) -> &'static str {
    const LABELS: [&str; GRPC_CODES] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    ];
    LABELS[code.min(GRPC_CODES - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_parses_and_maps_to_a_class() {
        for code in 0..GRPC_CODES as u8 {
            assert_eq!(parse_grpc_status(code.to_string().as_bytes()), code);
            let status = vitals_status(code);
            assert!((200..600).contains(&status));
            assert_eq!(code == 0, status == 200, "code {code}");
        }
        assert_eq!(parse_grpc_status(b"05"), UNKNOWN);
        assert_eq!(parse_grpc_status(b"-1"), UNKNOWN);
        assert_eq!(from_http(404), 12);
        assert_eq!(from_http(503), UNAVAILABLE);
    }
}
