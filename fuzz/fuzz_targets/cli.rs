#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| geodyn_cli::fuzzing::check_cli(data));
