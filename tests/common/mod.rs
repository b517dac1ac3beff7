//! What the tests of the real binaries share: starting a binary and reading what it prints
//! ([`process`]), and the HTTP client they speak to it with ([`client`]).

// Each test binary uses its own part of these.
#![allow(dead_code)]

pub mod client;
pub mod process;
