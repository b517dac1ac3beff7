//! What the tests of the real binaries share: starting a binary and reading what it prints
//! ([`process`]), the HTTP client they speak to it with ([`client`]), and NATS servers for
//! cluster mode ([`nats`]).

// Each test binary uses its own part of these.
#![allow(dead_code)]

pub mod client;
pub mod nats;
pub mod process;
