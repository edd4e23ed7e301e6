#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| geodyn_fuzz_props::check_integrate(data));
