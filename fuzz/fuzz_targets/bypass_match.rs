//! libFuzzer entry point of target `bypass_match`; the body is [`extsvc_fuzz::bypass_match::run`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| extsvc_fuzz::bypass_match::run(data));
