//! cargo-fuzz target: see `agora_tests::fuzz::frame_json` for the property.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| agora_tests::fuzz::frame_json(data));
