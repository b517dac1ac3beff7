//! A concert ticketing backend for the moment a popular concert goes on sale.
//!
//! # Layout
//! Each layer imports only those above it in this list.
//! - [`config`], [`error`], [`clock`]: the limits, the one error type, the injected clock.
//! - [`domain`]: pure, synchronous state machines (waiting room, seat map, wallet, idempotency)
//!   and the vocabulary (ids, users, concerts), with time passed in; every change is an event
//!   applied by one `apply`.
//! - [`persistence`]: the partitions and the event-log trait they append through, the journal
//!   (its local implementation), snapshots and recovery, which is replay and nothing else.
//! - [`actors`]: thin actix actors that own the domain state, one writer each, behind typed
//!   handles; they finish at start what a crash cut short.
//! - [`services`]: work that spans actors (the payment saga), the read-mostly registries,
//!   idempotency and snapshots of the running service.
//! - [`http`]: the actix-web front end of the API contract, one file per resource.
//! - [`cluster`]: cluster mode on NATS JetStream: leases, a node's life, the gateway that carries
//!   each request to the node serving the partitions.
//! - [`startup`]: builds the whole application for the server binary and the tests.
//! - [`loadtest`], [`demo`]: the load harness and the embedded demo, over HTTP.

pub mod actors;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod http;
pub mod loadtest;
pub mod persistence;
pub mod services;
pub mod startup;

pub use config::Config;
pub use error::{Error, ErrorCode};
pub use startup::Application;
