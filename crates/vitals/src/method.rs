//! HTTP methods as a small closed set, so that per-method series are an array, not a map.
//!
//! # Example
//!
//! ```
//! use vitals::Method;
//!
//! assert_eq!(Method::from_bytes(b"GET"), Method::Get);
//! assert_eq!(Method::from_bytes(b"PROPFIND"), Method::Other);
//! assert_eq!(Method::Post.as_str(), "POST");
//! ```

use serde::Serialize;

/// An HTTP method; extension methods fold into [`Method::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "&'static str")]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// PATCH
    Patch,
    /// OPTIONS
    Options,
    /// CONNECT
    Connect,
    /// TRACE
    Trace,
    /// Any extension method.
    Other,
}

impl Method {
    /// Every method, in index order.
    pub const ALL: [Method; 10] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Patch,
        Method::Options,
        Method::Connect,
        Method::Trace,
        Method::Other,
    ];

    /// Parses a method token.
    #[must_use]
    pub fn from_bytes(method: &[u8]) -> Self {
        match method {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"PATCH" => Method::Patch,
            b"OPTIONS" => Method::Options,
            b"CONNECT" => Method::Connect,
            b"TRACE" => Method::Trace,
            _ => Method::Other,
        }
    }

    /// The method's name (`OTHER` for extension methods).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Connect => "CONNECT",
            Method::Trace => "TRACE",
            Method::Other => "OTHER",
        }
    }

    /// Position in [`Method::ALL`].
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }

    /// The method at a position of [`Method::ALL`] (`Other` when out of range).
    #[must_use]
    pub fn from_index(index: usize) -> Self {
        Method::ALL.get(index).copied().unwrap_or(Method::Other)
    }
}

impl From<Method> for &'static str {
    fn from(m: Method) -> Self {
        m.as_str()
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_round_trips() {
        for m in Method::ALL {
            assert_eq!(Method::from_index(m.index()), m);
            assert_eq!(
                Method::from_bytes(m.as_str().as_bytes()),
                if m == Method::Other { Method::Other } else { m }
            );
        }
    }
}
