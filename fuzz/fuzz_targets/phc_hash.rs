#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doorward_fuzz::phc_hash::check(data));
