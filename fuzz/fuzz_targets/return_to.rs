#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doorward_fuzz::return_to::check(data));
