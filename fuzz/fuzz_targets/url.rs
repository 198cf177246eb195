//! Fuzz target: URL validation (`alpaca_auth::fuzzing::url`) and
//! `Retry-After` parsing (`alpaca_auth::fuzzing::retry_after`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = alpaca_auth::fuzzing::url(data);
    let _ = alpaca_auth::fuzzing::retry_after(data);
});
