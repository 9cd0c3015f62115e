//! libFuzzer entry point of target `config_load`; the body is [`extsvc_fuzz::config_load::run`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| extsvc_fuzz::config_load::run(data));
