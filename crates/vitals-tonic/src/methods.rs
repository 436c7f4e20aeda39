//! [`Methods`]: the gRPC methods a service declares, the only ones recorded by name.

/// At most this many methods are declared; more are ignored (and recorded unmatched).
pub const MAX_METHODS: usize = 1024;

/// The method paths (`/package.Service/Method`) the layer names; a call to any other path is
/// recorded under [`vitals::UNMATCHED`]. Declared by the application, so a stranger sending
/// made-up paths cannot mint series (bounded by construction: at most [`MAX_METHODS`] plus
/// `(unmatched)`). tonic's generated servers answer such a path `UNIMPLEMENTED`, but an
/// interceptor or a layer may answer first, so the answer cannot decide what is known.
///
/// ```
/// let methods = vitals_tonic::Methods::new()
///     .service("helloworld.Greeter", ["SayHello", "SayHellos"]);
/// assert_eq!(methods.index("/helloworld.Greeter/SayHello"), Some(0));
/// assert_eq!(methods.index("/helloworld.Greeter/Nope"), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Methods {
    /// Sorted by path: (path, service, method).
    entries: Vec<(Box<str>, Box<str>, Box<str>)>,
}

impl Methods {
    /// No methods.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares `service`'s methods (`service` as in the proto, with its package:
    /// `helloworld.Greeter`, what tonic's `NamedService::NAME` says).
    #[must_use]
    pub fn service<I, M>(mut self, service: &str, methods: I) -> Self
    where
        I: IntoIterator<Item = M>,
        M: AsRef<str>,
    {
        for method in methods {
            if self.entries.len() >= MAX_METHODS {
                break;
            }
            let method = method.as_ref();
            let path = format!("/{service}/{method}");
            if self.entries.iter().all(|(p, ..)| **p != *path) {
                self.entries
                    .push((path.into(), service.into(), method.into()));
            }
        }
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        self
    }

    /// The index of the method at `path`, if declared.
    #[must_use]
    pub fn index(&self, path: &str) -> Option<usize> {
        self.entries.binary_search_by(|e| (*e.0).cmp(path)).ok()
    }

    /// Number of declared methods.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when none is declared.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The path, service and method of the method at `index`.
    pub(crate) fn get(&self, index: usize) -> Option<(&str, &str, &str)> {
        self.entries.get(index).map(|(p, s, m)| (&**p, &**s, &**m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_methods_are_bounded_and_found() {
        let methods = Methods::new()
            .service("a.B", ["Y", "X", "X"])
            .service("a.A", (0..2000).map(|i| format!("M{i}")));
        assert_eq!(methods.len(), MAX_METHODS);
        assert_eq!(
            methods.get(methods.index("/a.B/X").unwrap()).unwrap().2,
            "X"
        );
        assert!(methods.index("/a.B/Z").is_none());
        assert!(methods.index("/a.A/M1999").is_none());
    }
}
