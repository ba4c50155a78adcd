//! libFuzzer entry point for the stream parser; the checks live in
//! `src/lib.rs` so that the seed replay test runs the very same code.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bitcoim_fuzz::check(data));
