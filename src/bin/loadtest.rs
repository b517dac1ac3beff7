//! The load harness: drives fan journeys against a server (or one it starts in-process), reports
//! latencies per endpoint, and verifies the invariants afterwards.

fn main() -> std::process::ExitCode {
    concert_reservation::loadtest::main()
}
