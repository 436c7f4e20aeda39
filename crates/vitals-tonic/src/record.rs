//! [`Call`]: what is recorded once a call ends, its poll timing and its message count.

use std::time::{Duration, Instant};

use vitals::{InlineStr, Method, Monitor, RequestSample, RouteKey, TenantSource};

use crate::calls::GrpcCalls;
use crate::status::{CANCELLED, vitals_status};

/// Counts length-prefixed gRPC messages (1 flag byte, 4 length bytes, the payload) across
/// data frames, which may split a message or carry several.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MessageCounter {
    header_got: u8,
    length: u32,
    payload_left: u64,
    pub(crate) messages: u64,
}

impl MessageCounter {
    pub(crate) fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(data.len() as u64);
                self.payload_left -= n;
                data = &data[n as usize..];
                continue;
            }
            if self.header_got > 0 {
                self.length = self.length << 8 | u32::from(data[0]);
            }
            data = &data[1..];
            self.header_got += 1;
            if self.header_got == 5 {
                self.messages += 1;
                self.payload_left = u64::from(self.length);
                self.header_got = 0;
                self.length = 0;
            }
        }
    }
}

/// A call in progress: recorded once, by [`Call::finish`], or as `CANCELLED` (client gone)
/// when dropped before.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) monitor: Monitor,
    pub(crate) calls: GrpcCalls,
    pub(crate) method: Option<usize>,
    pub(crate) start: Instant,
    pub(crate) request_id: InlineStr,
    pub(crate) trace_id: Option<[u8; 16]>,
    pub(crate) organization: InlineStr,
    pub(crate) tenant_source: TenantSource,
    pub(crate) span: tracing::Span,
    /// The code from the response headers (a trailers-only answer), if any.
    pub(crate) header_code: Option<u8>,
    pub(crate) counter: MessageCounter,
    polls: u32,
    longest: Duration,
    busy: Duration,
    poll_start: Instant,
    armed: bool,
}

impl Call {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        monitor: Monitor,
        calls: GrpcCalls,
        method: Option<usize>,
        start: Instant,
        request_id: InlineStr,
        trace_id: Option<[u8; 16]>,
        (organization, tenant_source): (InlineStr, TenantSource),
        span: tracing::Span,
    ) -> Self {
        monitor.request_started();
        Self {
            monitor,
            calls,
            method,
            start,
            request_id,
            trace_id,
            organization,
            tenant_source,
            span,
            header_code: None,
            counter: MessageCounter::default(),
            polls: 0,
            longest: Duration::ZERO,
            busy: Duration::ZERO,
            poll_start: start,
            armed: true,
        }
    }

    /// Times `poll` as one poll of the call (its busy time is the sum of its polls).
    pub(crate) fn timed<R>(&mut self, poll: impl FnOnce() -> R) -> (R, Instant) {
        self.poll_start = Instant::now();
        let out = poll();
        let now = Instant::now();
        let took = now.saturating_duration_since(self.poll_start);
        self.polls += 1;
        self.longest = self.longest.max(took);
        self.busy += took;
        (out, now)
    }

    /// Records the call as ended at `end` with gRPC `code`.
    pub(crate) fn finish(&mut self, code: u8, aborted: bool, end: Instant) {
        if !std::mem::replace(&mut self.armed, false) {
            return;
        }
        self.monitor.request_finished();
        self.span.record("rpc.grpc.status_code", code);
        self.calls.count(self.method, code, self.counter.messages);
        let route = match self.method.and_then(|i| self.calls.methods().get(i)) {
            Some((path, ..)) => RouteKey::Template(path),
            None => RouteKey::Unmatched,
        };
        self.monitor.record(&RequestSample {
            method: Method::Post,
            route,
            status: vitals_status(code),
            start: self.start,
            duration: end.saturating_duration_since(self.start),
            organization: (!self.organization.is_empty()).then(|| self.organization.as_str()),
            tenant_source: self.tenant_source,
            correlation_id: self.request_id.as_str(),
            trace_id: self.trace_id,
            aborted,
            panicked: false,
            resources: None,
            polls: Some(vitals::Polls {
                count: self.polls,
                longest: self.longest,
                busy: self.busy,
            }),
        });
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if self.armed {
            let panicked = std::thread::panicking();
            self.finish(
                if panicked {
                    crate::status::UNKNOWN
                } else {
                    CANCELLED
                },
                !panicked,
                Instant::now(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: u32) -> Vec<u8> {
        let mut v = vec![0];
        v.extend_from_slice(&len.to_be_bytes());
        v.extend(std::iter::repeat_n(7, len as usize));
        v
    }

    #[test]
    fn counts_messages_however_frames_split_them() {
        let mut all = Vec::new();
        for len in [0, 3, 300, 1, 70_000] {
            all.extend(frame(len));
        }
        for split in [1, 2, 5, 7, 64, 100_000] {
            let mut c = MessageCounter::default();
            for chunk in all.chunks(split) {
                c.feed(chunk);
            }
            assert_eq!(c.messages, 5, "split {split}");
        }
    }
}
