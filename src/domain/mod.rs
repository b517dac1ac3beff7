//! Pure, synchronous state machines of the service. No actors, no I/O; time is passed in.
//!
//! Each type decides a command against its state and returns the event that happened; its one
//! `apply` changes state from events, so the same code serves live requests and replay.

pub mod concert;
pub mod draw;
pub mod idempotency;
pub mod ids;
pub mod line_view;
#[cfg(test)]
mod money_model;
pub mod refund;
pub mod sale;
pub mod seat_map;
pub mod seq_slab;
pub mod spent_proofs;
pub mod text;
pub mod user;
pub mod waiting_line;
pub mod waiting_room;
pub mod waitlist;
pub mod wallet;

pub use ids::{ConcertId, PaymentId, ReservationId, TicketCode, Token, TokenSecret, TransactionId, UserId};
