//! Black-box tests of the HTTP API: each starts the real application on port 0 and talks to it
//! over HTTP like any client.

mod helpers;

mod abuse;
mod admin;
mod concerts;
mod concurrency;
mod connections;
mod errors;
mod openapi;
mod operations;
mod orders;
mod parser_errors;
mod payments;
mod pow;
mod queue;
mod real_time;
mod reservations;
mod sales;
mod tickets;
mod users;
mod waitlist;
mod wallet;
