//! Cluster mode against real nats-server processes on loopback.

#[path = "../common/mod.rs"]
mod common;

mod jetstream_log;
mod nodes;
