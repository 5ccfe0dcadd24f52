//! Parity-based ID allocation.
//!
//! The initiator allocates odd IDs and the acceptor even IDs (never 0), for requests and,
//! later, channels and virtual connections, so both sides can open things on one session
//! without coordinating.

/// Which end of the link a side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The side that connected. Allocates odd IDs.
    Initiator,
    /// The side that accepted. Allocates even IDs and issues the session key.
    Acceptor,
}

impl Role {
    /// The other side's role.
    pub fn peer(self) -> Role {
        match self {
            Role::Initiator => Role::Acceptor,
            Role::Acceptor => Role::Initiator,
        }
    }

    /// The `n`-th ID (from 0) this role allocates: 1, 3, 5, … for the initiator, 2, 4, 6, …
    /// for the acceptor.
    pub fn request_id(self, n: u64) -> u64 {
        // 2^63 IDs at one per nanosecond last 292 years, so wrapping is not a practical concern.
        let first = match self {
            Role::Initiator => 1,
            Role::Acceptor => 2,
        };
        n.wrapping_mul(2).wrapping_add(first)
    }

    /// Whether `id` is one this role allocates.
    pub fn owns(self, id: u64) -> bool {
        id != 0
            && match self {
                Role::Initiator => !id.is_multiple_of(2),
                Role::Acceptor => id.is_multiple_of(2),
            }
    }
}

/// Hands out this side's IDs in increasing order.
#[derive(Debug, Clone)]
pub struct IdAllocator {
    next: u64,
}

impl IdAllocator {
    /// An allocator for `role`.
    pub fn new(role: Role) -> Self {
        IdAllocator {
            next: match role {
                Role::Initiator => 1,
                Role::Acceptor => 2,
            },
        }
    }

    /// The next unused ID.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next;
        // 2^63 IDs at one per nanosecond last 292 years, so wrapping is not a practical concern.
        self.next = self.next.wrapping_add(2);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initiator_is_odd_acceptor_is_even() {
        let mut i = IdAllocator::new(Role::Initiator);
        let mut a = IdAllocator::new(Role::Acceptor);
        assert_eq!([i.next_id(), i.next_id(), i.next_id()], [1, 3, 5]);
        assert_eq!([a.next_id(), a.next_id()], [2, 4]);
        assert!(Role::Initiator.owns(7) && !Role::Initiator.owns(8));
        assert_eq!(Role::Initiator.request_id(2), 5);
        assert_eq!(Role::Acceptor.request_id(0), 2);
        assert!(Role::Acceptor.owns(8) && !Role::Acceptor.owns(0));
    }
}
