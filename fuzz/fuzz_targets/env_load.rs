//! libFuzzer entry point of target `env_load`; the body is [`extsvc_fuzz::env_load::run`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| extsvc_fuzz::env_load::run(data));
