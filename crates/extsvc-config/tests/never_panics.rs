//! Property tests: whatever the file text and the environment, loading returns a value
//! or errors, never panics, every error starts with the location it names, and a proxy
//! password never appears in an error or a warning.

use extsvc_config::internal::KEYS;
use extsvc_config::{load_str, EnvSnapshot, LoadOptions};
use proptest::prelude::*;
use serde_json::Value;

/// A password that only ever appears inside `user:password@` of generated values.
const PASSWORD: &str = "pw-SECRET-1";

fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("http://proxy:3128".to_owned()),
        Just("https://localhost:3129".to_owned()),
        Just("proxy.internal:8080".to_owned()),
        Just("http://badproxy:wrong_port".to_owned()),
        Just(format!("http://alice:{PASSWORD}@proxy:3128")),
        Just(format!("http://alice:{PASSWORD}@proxy:bad")),
        Just(format!("alice:{PASSWORD}@proxy")),
        Just("socks5://p:1".to_owned()),
        Just("localhost,127.0.0.1,.internal,*.local".to_owned()),
        Just("10.0.0.0/33,host:notaport,[::1]:80,*".to_owned()),
        Just("1.2".to_owned()),
        Just("1.0".to_owned()),
        Just("TLS1.3".to_owned()),
        Just("true".to_owned()),
        Just("0".to_owned()),
        Just("/etc/tyk/certs/client.crt".to_owned()),
        "[ -~]{0,30}",
        any::<String>(),
    ]
}

fn key_name() -> impl Strategy<Value = String> {
    let mut names: Vec<&'static str> = KEYS.iter().flat_map(|k| k.path.split('.')).collect();
    names.sort_unstable();
    names.dedup();
    prop_oneof![
        4 => proptest::sample::select(names).prop_map(str::to_owned),
        1 => "[a-z_]{1,12}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        interesting_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((key_name(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// A tyk.conf-like document: mostly an object with `external_services` at the top.
fn tyk_conf() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (json_value(), proptest::collection::vec((key_name(), json_value()), 0..4)).prop_map(|(services, extra)| {
            let mut top: serde_json::Map<String, Value> = extra.into_iter().collect();
            top.insert("external_services".to_owned(), services);
            Value::Object(top).to_string()
        }),
        1 => json_value().prop_map(|v| v.to_string()),
        1 => r#"[{}\[\]":,a-z_0-9 ./\n-]{0,200}"#,
        1 => any::<String>(),
    ]
}

fn var_name() -> impl Strategy<Value = String> {
    let names: Vec<String> = KEYS
        .iter()
        .flat_map(|k| [k.env_var("TYK_GW_"), k.tyk_env_var("TYK_GW_")])
        .collect();
    prop_oneof![
        4 => proptest::sample::select(names),
        1 => "TYK_GW_EXTERNAL_?SERVICES_[A-Z_]{0,30}",
        1 => "[A-Z_]{1,20}",
    ]
}

fn env_map() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((var_name(), interesting_string()), 0..8)
}

fn check(json: &str, vars: Vec<(String, String)>) {
    let env = EnvSnapshot::from_iter(vars);
    let (messages, warnings) = match load_str(json, "tyk.conf", &env, &LoadOptions::default()) {
        Ok(loaded) => (Vec::new(), loaded.warnings),
        Err(errors) => {
            assert!(!errors.0.is_empty());
            for e in &errors.0 {
                assert!(e.to_string().starts_with(&format!("{}:", e.path())), "{e}");
            }
            (errors.0.iter().map(ToString::to_string).collect(), Vec::new())
        }
    };
    for text in messages.iter().chain(&warnings) {
        assert!(!text.contains(PASSWORD), "password leaked: {text}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_files_never_panic(json in tyk_conf()) {
        check(&json, Vec::new());
    }

    #[test]
    fn arbitrary_environments_never_panic(vars in env_map()) {
        check("{}", vars);
    }

    #[test]
    fn arbitrary_files_and_environments_together_never_panic(json in tyk_conf(), vars in env_map()) {
        check(&json, vars);
    }
}
