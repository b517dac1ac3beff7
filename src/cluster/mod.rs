//! Cluster mode (`--nats`): the state lives in NATS JetStream, so that a sale outlives any one
//! machine. One node at a time holds the engine's lease and serves every partition from its
//! engine; every node answers every request through its gateway, which carries it to that node.
//! When the node dies, another takes the lease once it expires, reads the partitions from
//! JetStream and serves them (see `docs/cluster.md`).
//!
//! - [`lease`]: leases and the list of live nodes in JetStream key-value buckets.
//! - [`node`]: a node's life: follow, take over, renew, step down.
//! - [`gateway`]: a node's public listener, forwarding to the engine.
//! - [`placement`]: which live node should own a partition.
//! - [`ownership`]: the groups of partitions a node holds a lease for, as placement says.
//! - [`date_rpc`]: a date's actor asked over NATS by nodes that do not own it.
//! - [`date_owner`]: a date read, claimed and served by a node apart from the engine.

pub mod date_owner;
pub mod date_rpc;
pub mod gateway;
pub mod lease;
pub mod node;
pub mod ownership;
pub mod placement;
