//! Fuzz target: `alpaca_auth::fuzzing::env_config` (see that function for the
//! invariants checked).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = alpaca_auth::fuzzing::env_config(data);
});
