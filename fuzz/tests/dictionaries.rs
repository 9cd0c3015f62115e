//! `dictionaries/config_load.dict` and `dictionaries/env_load.dict` are generated from
//! `extsvc_config::internal::KEYS`, so a new key reaches the fuzzer. This test fails when they are
//! stale; rerun it with `UPDATE_FUZZ_DICTIONARIES=1` to rewrite them.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use extsvc_config::internal::KEYS;

/// `"…"` in libFuzzer's dictionary syntax.
fn quoted(token: &str) -> String {
    let mut out = String::from("\"");
    for byte in token.bytes() {
        match byte {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(byte));
            }
            0x20..=0x7e => out.push(char::from(byte)),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out.push('"');
    out
}

fn render(header: &str, tokens: BTreeSet<String>) -> String {
    let mut text =
        format!("# {header}\n# Generated from extsvc_config::internal::KEYS by fuzz/tests/dictionaries.rs; do not edit.\n");
    for token in tokens {
        text.push_str(&quoted(&token));
        text.push('\n');
    }
    text
}

fn config_dictionary() -> String {
    let mut tokens: BTreeSet<String> = [
        "{", "}", "[", "]", ":", ",", "true", "false", "null", "\"\"", "1", "-1", "1e999",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for value in [
        "http://",
        "https://",
        "socks5://",
        "user:pass@",
        ":3128",
        "localhost",
        "*",
        "10.0.0.0/8",
        "1.2",
        "1.3",
        "TLS1.2",
        "1.1",
    ] {
        tokens.insert(format!("\"{value}\""));
    }
    for key in KEYS {
        for segment in key.segments() {
            tokens.insert(format!("\"{segment}\":"));
        }
    }
    render(
        "libFuzzer dictionary for config_load: JSON tokens, every key segment, typical values.",
        tokens,
    )
}

fn env_dictionary() -> String {
    let mut tokens: BTreeSet<String> = [
        "=",
        "\n",
        "#prefix=",
        ",",
        "true",
        "false",
        "1",
        "0",
        "http://",
        "https://",
        "user:Pw7xQz@",
        ":3128",
        "localhost",
        "*",
        "1.2",
        "1.3",
        "TLS1.3",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for name in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "NO_PROXY",
        "no_proxy",
        "TYK_GW_EXTERNAL_SERVICES_",
        "TYK_GW_EXTERNALSERVICES_",
    ] {
        tokens.insert(name.to_owned());
    }
    for key in KEYS {
        tokens.insert(format!("{}=", key.env_var("TYK_GW_")));
        tokens.insert(format!("{}=", key.tyk_env_var("TYK_GW_")));
    }
    render(
        "libFuzzer dictionary for env_load: every variable name in both spellings, typical values.",
        tokens,
    )
}

#[test]
fn generated_dictionaries_are_current() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    let update = std::env::var_os("UPDATE_FUZZ_DICTIONARIES").is_some();
    let mut stale = Vec::new();
    for (file, expected) in [
        ("config_load.dict", config_dictionary()),
        ("env_load.dict", env_dictionary()),
    ] {
        let path = folder.join(file);
        if fs::read_to_string(&path).ok().as_deref() == Some(expected.as_str()) {
            continue;
        }
        if update {
            fs::write(&path, expected).expect("writable dictionaries folder");
        } else {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "stale fuzz dictionaries {stale:?}: rerun with UPDATE_FUZZ_DICTIONARIES=1"
    );
}
