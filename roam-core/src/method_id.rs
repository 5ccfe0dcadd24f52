//! Method IDs: the 64-bit number a request names its method by.
//!
//! The ID is the first 8 bytes, read little-endian, of the BLAKE3 hash of
//! `"<TraitName>.<method_name>"`, spelled exactly as in the Rust source. It deliberately ignores
//! argument and return types so that types can evolve without changing the ID; compatibility of
//! types is the schemas' job.

/// The string a method ID is hashed from: `"<TraitName>.<method_name>"`.
pub fn method_id_key(service: &str, method: &str) -> String {
    format!("{service}.{method}")
}

/// Computes the method ID of `service.method`.
///
/// ```
/// let id = roam_core::method_id("Calculator", "add");
/// assert_eq!(id, roam_core::method_id("Calculator", "add"));
/// assert_ne!(id, roam_core::method_id("Calculator", "sub"));
/// ```
pub fn method_id(service: &str, method: &str) -> u64 {
    let hash = blake3::hash(method_id_key(service, method).as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned against an independent computation:
    /// `python3 -c "import blake3; print(int.from_bytes(blake3.blake3(b'Calculator.add').digest()[:8], 'little'))"`
    /// (see `docs/protocol.md`). If this changes, every deployed client breaks.
    #[test]
    fn calculator_add_is_pinned() {
        assert_eq!(method_id("Calculator", "add"), CALCULATOR_ADD);
    }

    #[test]
    fn key_is_trait_dot_method() {
        assert_eq!(method_id_key("Calculator", "add"), "Calculator.add");
    }

    // BLAKE3("Calculator.add") = d86f5cd0b11fadcb f2592d7e…; first 8 bytes little-endian:
    const CALCULATOR_ADD: u64 = 0xcbad_1fb1_d05c_6fd8;
}
