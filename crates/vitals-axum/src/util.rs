//! Small helpers shared by the endpoints and the middleware.

/// `get_ref`, `get_mut` and `into_inner` for a middleware service whose inner service is the
/// field `inner` (as tower-http's `define_inner_service_accessors!`).
macro_rules! inner_service_accessors {
    () => {
        /// The wrapped service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The wrapped service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Unwraps the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

/// RFC 3339 with milliseconds, the timestamp format of every JSON answer.
pub(crate) fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}
