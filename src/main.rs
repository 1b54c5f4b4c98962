//! `coupon-book`: parses the command line and runs the command (see `cli`).

use std::process::ExitCode;

fn main() -> ExitCode {
    match coupon_book::cli::parse() {
        Ok(cli) => coupon_book::cli::run(cli),
        Err(code) => code,
    }
}

// Many small, short-lived allocations per request (JSON bodies, rows, events), freed
// across threads: mimalloc serves them faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
