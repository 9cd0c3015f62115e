//! libFuzzer entry point of target `pem_load`; the body is [`extsvc_fuzz::pem_load::run`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| extsvc_fuzz::pem_load::run(data));
