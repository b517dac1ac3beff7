//! Black-box tests of the HTTP API: each starts the real application on port 0 and talks to it
//! over HTTP like any client.

mod helpers;

mod concurrency;
