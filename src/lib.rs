//! A concert ticketing backend for the moment a popular concert goes on sale.
//!
//! # Layout
//! - [`domain`]: pure, synchronous state machines (waiting room, seat map, wallet, idempotency),
//!   with time passed in; every change is an event applied by one `apply`.
//! - [`actors`]: thin actix actors that own the domain state, one writer each, behind typed handles.
//! - [`services`]: work that spans actors (the payment saga) and the shared read-mostly registries.
//! - [`http`]: the actix-web front end of the API contract, one file per resource.
//! - [`config`], [`error`], [`clock`]: the limits, the one error type, the injected clock.
//! - [`startup`]: builds the whole application for the server binary and the tests.

pub mod actors;
pub mod clock;
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
