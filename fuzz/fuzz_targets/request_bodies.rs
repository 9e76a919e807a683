#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doorward_fuzz::request_bodies::check(data));
