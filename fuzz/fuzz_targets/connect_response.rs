//! libFuzzer entry point of target `connect_response`; the body is [`extsvc_fuzz::connect_response::run`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| extsvc_fuzz::connect_response::run(data));
