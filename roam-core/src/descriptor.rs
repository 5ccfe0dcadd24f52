//! Static service descriptors: what a service is called, what it documents, and which methods
//! it has under which IDs.
//!
//! `#[roam::service]` emits one `ServiceDescriptor` per trait as a `static`; the runtime's router
//! reads it to route requests and to report duplicate method IDs. Descriptors are plain
//! `&'static` data so that they cost nothing at runtime and can be inspected by tools.

/// A service as declared by a `#[roam::service]` trait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceDescriptor {
    /// The trait's name as written in Rust, e.g. `"Calculator"`.
    pub name: &'static str,
    /// The trait's doc comment, trimmed, lines joined with `\n` (empty if none).
    pub doc: &'static str,
    /// The methods in declaration order.
    pub methods: &'static [MethodDescriptor],
}

/// One method of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodDescriptor {
    /// The method's name as written in Rust, e.g. `"add"`.
    pub name: &'static str,
    /// The method's doc comment (empty if none).
    pub doc: &'static str,
    /// The method ID, see [`crate::method_id`].
    pub id: u64,
    /// The wire arguments in order (a `&Context` parameter is not a wire argument).
    pub args: &'static [ArgDescriptor],
    /// The return type as written in Rust (the `T` of `Result<T, E>` when fallible), e.g. `"i32"`.
    pub returns: &'static str,
    /// The user error type as written in Rust when the method returns `Result<T, E>`.
    pub error: Option<&'static str>,
    /// Whether the method is safe to run more than once: a reconnecting client may re-send it
    /// on a fresh session when the session it was sent on was lost. Set with
    /// `#[roam(idempotent)]` on the trait method; `false` otherwise, and then a call whose
    /// session was lost is never re-sent (the server may have run it already).
    pub idempotent: bool,
}

/// One wire argument of a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgDescriptor {
    /// The argument's name as written in Rust.
    pub name: &'static str,
    /// The argument's type as written in Rust, e.g. `"&str"` or `"Rx<i32>"`.
    pub ty: &'static str,
}

impl ServiceDescriptor {
    /// Finds a method by ID.
    pub fn method(&self, id: u64) -> Option<&'static MethodDescriptor> {
        self.methods.iter().find(|m| m.id == id)
    }

    /// Finds a method by its Rust name.
    pub fn method_named(&self, name: &str) -> Option<&'static MethodDescriptor> {
        self.methods.iter().find(|m| m.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SERVICE: ServiceDescriptor = ServiceDescriptor {
        name: "Store",
        doc: "",
        methods: &[
            MethodDescriptor {
                name: "get",
                doc: "Reads a key.",
                id: 1,
                args: &[ArgDescriptor {
                    name: "key",
                    ty: "&str",
                }],
                returns: "Option<Vec<u8>>",
                error: None,
                idempotent: true,
            },
            MethodDescriptor {
                name: "append",
                doc: "",
                id: 2,
                args: &[],
                returns: "()",
                error: Some("StoreError"),
                idempotent: false,
            },
        ],
    };

    #[test]
    fn methods_are_found_by_id_and_by_name() {
        assert_eq!(SERVICE.method(1).map(|m| m.name), Some("get"));
        assert_eq!(SERVICE.method(3), None);
        let append = SERVICE.method_named("append").expect("append");
        assert_eq!(append.id, 2);
        assert!(!append.idempotent);
        assert!(SERVICE.method_named("get").is_some_and(|m| m.idempotent));
        assert_eq!(SERVICE.method_named("put"), None);
    }
}
