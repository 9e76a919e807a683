#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doorward_fuzz::token_verify::check(data));
