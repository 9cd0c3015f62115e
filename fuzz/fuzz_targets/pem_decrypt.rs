//! libFuzzer entry point of target `pem_decrypt`; the body is [`extsvc_fuzz::pem_decrypt::run`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| extsvc_fuzz::pem_decrypt::run(data));
