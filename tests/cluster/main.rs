//! Cluster mode against real nats-server processes on loopback.

#[path = "../common/mod.rs"]
mod common;

mod date_owner;
mod date_rpc;
mod history;
mod jetstream_log;
mod leases;
mod nodes;
mod orders;
mod ownership;
mod waitlist;
