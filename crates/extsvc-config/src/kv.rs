//! Tyk's top-level `kv` block (`vault`, `consul`), which `vault://` and `consul://`
//! references read (SPEC section 6), from tyk.conf and from `TYK_GW_KV_*`, as Tyk reads
//! them: Go's `encoding/json` for the file, `envconfig` for the environment (variables
//! win, key by key).
//!
//! The keys and their Go types are Tyk's `VaultConfig` and `ConsulConfig`
//! (`config/config.go`). Two of them are `time.Duration`, which Go reads differently from
//! each source: in tyk.conf an integer number of *nanoseconds* (a string or a fraction is
//! an error that stops Tyk), in the environment a duration text such as `5s` or `1m30s`
//! (`time.ParseDuration`; a bare number other than `0` is an error). `kv_version` is a Go
//! `int`: an integer in both (`strconv.ParseInt` with base prefixes in the environment).
//! A wrong type is an error naming the key path or variable, never the token's value.
//!
//! Variables, both spellings (the documented one wins when both are set and differ):
//! `TYK_GW_KV_VAULT_KV_VERSION` and Tyk's `TYK_GW_KV_VAULT_KVVERSION`,
//! `TYK_GW_KV_CONSUL_TLS_CONFIG_CA_FILE` and Tyk's `TYK_GW_KV_CONSUL_TLSCONFIG_CAFILE`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value as Json;

use crate::error::{ConfigError, Diagnostics};
use crate::json_tree::describe_type;
use crate::kv_keys::{KvKey, KvValues, Shape, Value, KV_KEYS};
use crate::{ConsulSettings, ConsulTlsSettings, EnvSnapshot, KvSettings, SecretText, VaultSettings};

/// The `kv` block of tyk.conf: each key we read, matched case-insensitively (the last
/// match wins, as Go); other keys are Tyk's and ignored. A wrong type is an error naming
/// the key (never a token's value).
pub(crate) fn read_file(value: &Json, diagnostics: &mut Diagnostics) -> KvValues {
    let mut values = KvValues::default();
    for key in &KV_KEYS {
        let mut node = Some(value);
        for segment in key.path.split('.') {
            node = match node {
                Some(Json::Object(members)) => members
                    .iter()
                    .rfind(|(name, _)| name.eq_ignore_ascii_case(segment))
                    .map(|(_, v)| v),
                _ => None,
            };
        }
        let Some(found) = node else { continue };
        let read = match (key.shape, found) {
            (_, Json::Null) => continue,
            (Shape::Text | Shape::Secret, Json::String(s)) => Ok(Value::Text(s.clone())),
            (Shape::Bool, Json::Bool(b)) => Ok(Value::Bool(*b)),
            // Go reads an `int` or `time.Duration` from an integer literal only: `2.0`,
            // `1e9` and strings are errors (strconv.ParseInt of the literal).
            (Shape::Integer, Json::Number(n)) => n.as_i64().map(Value::Integer).ok_or(()),
            (Shape::Duration, Json::Number(n)) => n.as_i64().map(Value::Duration).ok_or(()),
            _ => Err(()),
        };
        match read {
            Ok(read) => {
                values.0.insert(key.path, read);
            }
            Err(()) => wrong_type(key, found, diagnostics),
        }
    }
    values
}

fn wrong_type(key: &KvKey, found: &Json, diagnostics: &mut Diagnostics) {
    let path = key.full_path();
    let expected = match key.shape {
        Shape::Text | Shape::Secret => "a string",
        Shape::Integer => "an integer",
        Shape::Duration => "an integer number of nanoseconds (Go's time.Duration, e.g. 5000000000 for 5 s)",
        Shape::Bool => "true or false",
    };
    let found = match (key.shape, found) {
        (Shape::Secret, _) => describe_type(found),
        (_, Json::String(s)) => format!("string \"{}\"", crate::shown(s)),
        (_, Json::Number(n)) => format!("number {}", crate::shown(&n.to_string())),
        (_, other) => describe_type(other),
    };
    let error = ConfigError::WrongType {
        path: path.clone(),
        expected,
        found,
    };
    if key.tyk {
        diagnostics.error(path, error);
    } else {
        // Tyk has no such key and ignores it: ignored here too, with a warning.
        diagnostics.warn(format!("{error}; ignored (Tyk ignores this key)"));
    }
}

/// The `kv` settings: the file's values with `<prefix>KV_*` over them, key by key; every
/// unknown `<prefix>KV_*` variable is a warning with a "did you mean".
pub(crate) fn kv_settings(
    file: KvValues,
    env: &EnvSnapshot,
    prefix: &str,
    diagnostics: &mut Diagnostics,
) -> KvSettings {
    let mut values = file;
    let block = format!("{prefix}KV_");
    let names: Vec<String> = KV_KEYS
        .iter()
        .flat_map(|k| [k.env_var(prefix), k.tyk_env_var(prefix)])
        .collect();
    let unknown = env
        .with_prefix(&block)
        .map(|(name, _)| name)
        .chain(env.not_utf8_with_prefix(&block))
        .filter(|name| !names.iter().any(|n| n == name));
    for name in unknown {
        let suggestion = crate::suggest::kv_variable(&name[prefix.len()..], prefix)
            .map(|s| format!("; did you mean {s}?"))
            .unwrap_or_default();
        diagnostics.warn(format!(
            "{}: unknown variable, ignored{suggestion}",
            crate::escaped(name)
        ));
    }
    for key in &KV_KEYS {
        let path = key.full_path();
        let Some((variable, text)) =
            crate::env_layer::either_spelling(env, &key.env_var(prefix), &key.tyk_env_var(prefix), &path, diagnostics)
        else {
            continue;
        };
        let read = match key.shape {
            Shape::Text | Shape::Secret => Ok(Value::Text(text.to_owned())),
            Shape::Bool => crate::env_layer::parse_go_bool(text).map(Value::Bool),
            Shape::Integer => parse_go_int(text).map(Value::Integer),
            Shape::Duration => parse_go_duration(text).map(Value::Duration),
        };
        match read {
            Ok(value) => {
                values.0.insert(key.path, value);
            }
            Err(message) => diagnostics.error(path, ConfigError::InvalidEnvValue { variable, message }),
        }
    }
    for key in KV_KEYS.iter().filter(|k| k.unused.is_some_and(|why| !why.is_empty())) {
        let set = match values.0.get(key.path) {
            Some(Value::Text(text)) => !text.is_empty(),
            Some(Value::Integer(n) | Value::Duration(n)) => *n != 0,
            Some(Value::Bool(b)) => *b,
            None => false,
        };
        if set {
            diagnostics.warn(format!("{}: {}", key.full_path(), key.unused.unwrap_or_default()));
        }
    }
    build(&values, diagnostics)
}

/// The settings the values describe: a store exists when its address is set.
fn build(values: &KvValues, diagnostics: &mut Diagnostics) -> KvSettings {
    let text = |path: &str| match values.0.get(path) {
        Some(Value::Text(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let file = |path: &str| text(path).map(PathBuf::from);
    let timeout = |path: &'static str, diagnostics: &mut Diagnostics| match values.0.get(path) {
        // Tyk applies a timeout only when it is above zero.
        Some(&Value::Duration(nanos)) if nanos > 0 => {
            let nanos = nanos.unsigned_abs();
            if nanos < 1_000_000 {
                diagnostics.warn(format!(
                    "kv.{path}: {nanos} nanoseconds (Go's time.Duration counts nanoseconds), so every lookup \
                     times out; for {nanos} seconds write {}",
                    u128::from(nanos) * 1_000_000_000
                ));
            }
            Some(Duration::from_nanos(nanos))
        }
        _ => None,
    };
    let mut kv = KvSettings::default();
    if let Some(address) = text("vault.address") {
        let kv_version = match values.0.get("vault.kv_version") {
            Some(Value::Integer(1)) => 1,
            None | Some(Value::Integer(0 | 2)) => 2,
            Some(Value::Integer(other)) => {
                diagnostics.warn(format!(
                    "kv.vault.kv_version: {other} is neither 1 nor 2; read as 2, as Tyk reads every value but 1"
                ));
                2
            }
            Some(_) => 2,
        };
        kv.vault = Some(VaultSettings {
            address,
            token: text("vault.token").map(SecretText::new),
            kv_version,
            timeout: timeout("vault.timeout", diagnostics),
        });
    }
    if kv.vault.is_none() && text("vault.token").is_some() {
        // Tyk would build a Vault client for Vault's default address (VAULT_ADDR, else
        // https://127.0.0.1:8200); here a store needs its address written.
        diagnostics.warn(
            "kv.vault.token: set, but kv.vault.address is not: no Vault store is configured, so vault:// \
             references fail (Tyk would try Vault's default address); set kv.vault.address",
        );
    }
    if let Some(address) = text("consul.address") {
        kv.consul = Some(ConsulSettings {
            address,
            scheme: text("consul.scheme").unwrap_or_else(|| "http".to_owned()),
            token: text("consul.token").map(SecretText::new),
            datacenter: text("consul.datacenter"),
            timeout: timeout("consul.timeout", diagnostics),
            tls: ConsulTlsSettings {
                address: text("consul.tls_config.address"),
                ca_file: file("consul.tls_config.ca_file"),
                ca_path: file("consul.tls_config.ca_path"),
                cert_file: file("consul.tls_config.cert_file"),
                key_file: file("consul.tls_config.key_file"),
                insecure_skip_verify: values.0.get("consul.tls_config.insecure_skip_verify")
                    == Some(&Value::Bool(true)),
            },
        });
    }
    kv
}

/// An integer as Go's `strconv.ParseInt(text, 0, 64)` reads it (envconfig's `int`): an
/// optional sign, then decimal, `0x` hex, `0o` or leading-`0` octal, `0b` binary;
/// underscores between digits.
fn parse_go_int(text: &str) -> Result<i64, String> {
    let invalid = || format!("invalid integer \"{}\"", crate::shown(text));
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(hex) = lower.strip_prefix("0x") {
        (16, hex)
    } else if let Some(octal) = lower.strip_prefix("0o") {
        (8, octal)
    } else if let Some(binary) = lower.strip_prefix("0b") {
        (2, binary)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return Err(invalid());
    }
    let magnitude = u64::from_str_radix(&body.replace('_', ""), radix).map_err(|_| invalid())?;
    let value = if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    };
    value.ok_or_else(invalid)
}

/// A duration as Go's `time.ParseDuration` reads it (envconfig's `time.Duration`):
/// `300ms`, `-1.5h`, `2h45m`; units `ns`, `us` (`µs`), `ms`, `s`, `m`, `h`; a bare `0`.
/// The result in nanoseconds.
fn parse_go_duration(text: &str) -> Result<i64, String> {
    let invalid = |why: &str| format!("invalid duration \"{}\": {why}", crate::shown(text));
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid("expected a number and a unit, e.g. 5s or 1m30s"));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let whole_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (whole, after) = rest.split_at(whole_len);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => {
                let len = after.bytes().take_while(u8::is_ascii_digit).count();
                after.split_at(len)
            }
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid("expected a number and a unit, e.g. 5s or 1m30s"));
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after.len(), |(i, _)| i);
        let (unit, next) = after.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(invalid("missing unit (ns, us, ms, s, m or h)")),
            _ => return Err(invalid("unknown unit (ns, us, ms, s, m or h)")),
        };
        let too_large = || invalid("too large");
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_large())?
        };
        let mut part = whole.checked_mul(scale).ok_or_else(too_large)?;
        // The fraction's digits beyond nanoseconds do not count, as in Go.
        let mut place = scale;
        for digit in fraction.bytes() {
            place /= 10;
            part += u128::from(digit - b'0') * place;
        }
        total = total
            .checked_add(part)
            .filter(|t| *t <= 1 << 63)
            .ok_or_else(too_large)?;
        rest = next;
    }
    if negative {
        0i64.checked_sub_unsigned(u64::try_from(total).map_err(|_| invalid("too large"))?)
            .ok_or_else(|| invalid("too large"))
    } else {
        i64::try_from(total).map_err(|_| invalid("too large"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(json: &str, env: &[(&str, &str)]) -> (KvSettings, Diagnostics) {
        let mut diagnostics = Diagnostics::default();
        let file = read_file(&serde_json::from_str(json).unwrap(), &mut diagnostics);
        let env = EnvSnapshot::from_iter(env.iter().copied());
        let settings = kv_settings(file, &env, "TYK_GW_", &mut diagnostics);
        (settings, diagnostics)
    }

    fn errors(diagnostics: &Diagnostics) -> Vec<String> {
        diagnostics.errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_vault_timeout_is_go_nanoseconds_in_the_file() {
        let (kv, d) = load(r#"{"vault": {"address": "http://v:8200", "timeout": 1500000000}}"#, &[]);
        assert_eq!(kv.vault.unwrap().timeout, Some(Duration::from_millis(1500)));
        assert!(d.errors.is_empty() && d.warnings.is_empty(), "{d:?}");
        // Zero and negative: not set, as Tyk applies only a timeout above zero.
        for t in ["0", "-5", "null"] {
            let (kv, d) = load(&format!(r#"{{"vault": {{"address": "a", "timeout": {t}}}}}"#), &[]);
            assert_eq!(kv.vault.unwrap().timeout, None, "{t}");
            assert!(d.errors.is_empty(), "{t}: {d:?}");
        }
        // What Go's encoding/json refuses for a time.Duration: strings, fractions, exponents.
        for t in [r#""5s""#, "1.5", "5e9", "true", "18446744073709551615"] {
            let (kv, d) = load(&format!(r#"{{"vault": {{"address": "a", "timeout": {t}}}}}"#), &[]);
            assert_eq!(kv.vault.unwrap().timeout, None, "{t}");
            let e = errors(&d);
            assert_eq!(e.len(), 1, "{t}: {e:?}");
            assert!(
                e[0].starts_with("kv.vault.timeout: expected an integer number of nanoseconds"),
                "{e:?}"
            );
        }
        // A number of seconds written as nanoseconds: accepted as Go would, with a warning.
        let (kv, d) = load(r#"{"vault": {"address": "a", "timeout": 5}}"#, &[]);
        assert_eq!(kv.vault.unwrap().timeout, Some(Duration::from_nanos(5)));
        assert!(d.warnings[0].contains("for 5 seconds write 5000000000"), "{d:?}");
    }

    #[test]
    fn the_consul_timeout_is_read_alike_but_a_wrong_type_is_only_a_warning() {
        let (kv, d) = load(r#"{"consul": {"address": "c:8500", "timeout": 2000000000}}"#, &[]);
        assert_eq!(kv.consul.unwrap().timeout, Some(Duration::from_secs(2)));
        assert!(d.errors.is_empty(), "{d:?}");
        let (kv, d) = load(r#"{"consul": {"address": "c:8500", "timeout": "2s"}}"#, &[]);
        assert_eq!(kv.consul.unwrap().timeout, None);
        assert!(d.errors.is_empty(), "{d:?}");
        assert!(
            d.warnings[0].starts_with("kv.consul.timeout: expected an integer number of nanoseconds")
                && d.warnings[0].ends_with("ignored (Tyk ignores this key)"),
            "{d:?}"
        );
    }

    #[test]
    fn kv_version_is_a_go_int() {
        for (v, want) in [("1", 1), ("2", 2), ("0", 2), ("null", 2)] {
            let (kv, d) = load(&format!(r#"{{"vault": {{"address": "a", "kv_version": {v}}}}}"#), &[]);
            assert_eq!(kv.vault.unwrap().kv_version, want, "{v}");
            assert!(d.errors.is_empty() && d.warnings.is_empty(), "{v}: {d:?}");
        }
        let (kv, d) = load(r#"{"vault": {"address": "a", "kv_version": 3}}"#, &[]);
        assert_eq!(kv.vault.unwrap().kv_version, 2);
        assert!(
            d.warnings[0].starts_with("kv.vault.kv_version: 3 is neither 1 nor 2"),
            "{d:?}"
        );
        for v in [r#""1""#, "1.0", "true", "[1]"] {
            let (_, d) = load(&format!(r#"{{"vault": {{"address": "a", "kv_version": {v}}}}}"#), &[]);
            let e = errors(&d);
            assert_eq!(e.len(), 1, "{v}: {e:?}");
            assert!(e[0].starts_with("kv.vault.kv_version: expected an integer"), "{e:?}");
        }
    }

    #[test]
    fn a_vault_token_without_an_address_is_said() {
        let (kv, d) = load("{}", &[("TYK_GW_KV_VAULT_TOKEN", "s.t")]);
        assert!(kv.vault.is_none());
        assert!(
            d.warnings[0].starts_with("kv.vault.token: set, but kv.vault.address is not"),
            "{d:?}"
        );
        assert!(!d.warnings[0].contains("s.t"), "{d:?}");
    }

    #[test]
    fn tyk_keys_that_are_not_used_are_said_when_set() {
        let (_, d) = load(
            r#"{"vault": {"address": "a", "max_retries": 0, "agent_address": ""},
                "consul": {"address": "c", "wait_time": 5000000000, "http_auth": {"username": "u", "password": "pw-secret"}}}"#,
            &[("TYK_GW_KV_VAULT_MAXRETRIES", "3")],
        );
        assert!(d.errors.is_empty(), "{d:?}");
        assert_eq!(d.warnings.len(), 3, "{d:?}");
        assert!(d.warnings[0].starts_with("kv.vault.max_retries: not used"), "{d:?}");
        assert!(
            d.warnings[1].starts_with("kv.consul.http_auth.username: not used"),
            "{d:?}"
        );
        assert!(
            d.warnings[2].starts_with("kv.consul.http_auth.password: not used"),
            "{d:?}"
        );
        assert!(!format!("{d:?}").contains("pw-secret"));
        let (_, d) = load(r#"{"consul": {"address": "c", "http_auth": {"password": 1234}}}"#, &[]);
        assert_eq!(
            errors(&d),
            ["kv.consul.http_auth.password: expected a string, found a number"]
        );
    }

    #[test]
    fn a_token_of_the_wrong_type_is_never_echoed() {
        let (_, d) = load(r#"{"vault": {"address": "a", "token": 123456789}}"#, &[]);
        assert_eq!(errors(&d), ["kv.vault.token: expected a string, found a number"]);
    }

    #[test]
    fn consul_tls_config_as_tyk_names_it() {
        let (kv, d) = load(
            r#"{"Consul": {"address": "c:8501", "scheme": "https", "TLS_Config": {"address": "consul.internal:8501",
               "ca_file": "/ca.pem", "cert_file": "/c.pem", "key_file": "/k.pem", "ca_path": "", "insecure_skip_verify": true}}}"#,
            &[],
        );
        assert!(d.errors.is_empty(), "{d:?}");
        let tls = kv.consul.unwrap().tls;
        assert_eq!(tls.address.as_deref(), Some("consul.internal:8501"));
        assert_eq!(tls.ca_file, Some(PathBuf::from("/ca.pem")));
        assert_eq!(
            (tls.cert_file.is_some(), tls.key_file.is_some(), tls.ca_path),
            (true, true, None)
        );
        assert!(tls.insecure_skip_verify);
        let (_, d) = load(
            r#"{"consul": {"address": "c", "tls_config": {"insecure_skip_verify": "yes"}}}"#,
            &[],
        );
        assert_eq!(
            errors(&d),
            ["kv.consul.tls_config.insecure_skip_verify: expected true or false, found string \"yes\""]
        );
    }

    #[test]
    fn variables_as_envconfig_names_and_reads_them_over_the_file() {
        let (kv, d) = load(
            r#"{"vault": {"address": "http://file:8200", "kv_version": 1, "timeout": 1}}"#,
            &[
                ("TYK_GW_KV_VAULT_ADDRESS", "http://env:8200"),
                ("TYK_GW_KV_VAULT_TOKEN", "s.env"),
                ("TYK_GW_KV_VAULT_KVVERSION", "2"),
                ("TYK_GW_KV_VAULT_TIMEOUT", "1m30.5s"),
                ("TYK_GW_KV_CONSUL_ADDRESS", "consul:8501"),
                ("TYK_GW_KV_CONSUL_SCHEME", "https"),
                ("TYK_GW_KV_CONSUL_DATACENTER", "dc2"),
                ("TYK_GW_KV_CONSUL_TLSCONFIG_CAFILE", "/ca.pem"),
                ("TYK_GW_KV_CONSUL_TLS_CONFIG_CERT_FILE", "/c.pem"),
                ("TYK_GW_KV_CONSUL_TLSCONFIG_KEYFILE", "/k.pem"),
                ("TYK_GW_KV_CONSUL_TLSCONFIG_INSECURESKIPVERIFY", "T"),
                ("TYK_GW_KV_CONSUL_TIMEOUT", "250ms"),
            ],
        );
        assert!(d.errors.is_empty() && d.warnings.is_empty(), "{d:?}");
        let vault = kv.vault.unwrap();
        assert_eq!(vault.address, "http://env:8200");
        assert_eq!(vault.token.unwrap().expose(), "s.env");
        assert_eq!(vault.kv_version, 2);
        assert_eq!(vault.timeout, Some(Duration::from_millis(90_500)));
        let consul = kv.consul.unwrap();
        assert_eq!(
            (consul.scheme.as_str(), consul.datacenter.as_deref()),
            ("https", Some("dc2"))
        );
        assert_eq!(consul.timeout, Some(Duration::from_millis(250)));
        assert_eq!(consul.tls.ca_file, Some(PathBuf::from("/ca.pem")));
        assert_eq!(consul.tls.cert_file, Some(PathBuf::from("/c.pem")));
        assert!(consul.tls.key_file.is_some() && consul.tls.insecure_skip_verify);
    }

    #[test]
    fn bad_variables_name_themselves_and_unknown_ones_get_a_suggestion() {
        let (_, d) = load(
            "{}",
            &[
                ("TYK_GW_KV_VAULT_ADDRESS", "http://v"),
                ("TYK_GW_KV_VAULT_TIMEOUT", "5000000000"),
                ("TYK_GW_KV_VAULT_KV_VERSION", "two"),
                ("TYK_GW_KV_VAULT_ADRESS", "x"),
                ("TYK_GW_KV_CONSUL_TLSCONFIG_CERTFIL", "x"),
            ],
        );
        assert_eq!(
            errors(&d),
            [
                "TYK_GW_KV_VAULT_TIMEOUT: invalid duration \"5000000000\": missing unit (ns, us, ms, s, m or h)",
                "TYK_GW_KV_VAULT_KV_VERSION: invalid integer \"two\"",
            ]
        );
        assert_eq!(
            d.warnings,
            [
                "TYK_GW_KV_CONSUL_TLSCONFIG_CERTFIL: unknown variable, ignored; did you mean \
                 TYK_GW_KV_CONSUL_TLSCONFIG_CERTFILE?",
                "TYK_GW_KV_VAULT_ADRESS: unknown variable, ignored; did you mean TYK_GW_KV_VAULT_ADDRESS?",
            ]
        );
    }

    #[test]
    fn a_kv_variable_written_under_external_services_suggests_its_own_name() {
        for name in [
            "TYK_GW_EXTERNAL_SERVICES_KV_VAULT_ADDRESS",
            "TYK_GW_EXTERNALSERVICES_KV_VAULT_ADDRESS",
        ] {
            assert_eq!(
                crate::suggest::variable(name, "TYK_GW_").as_deref(),
                Some("TYK_GW_KV_VAULT_ADDRESS"),
                "{name}"
            );
        }
    }

    #[test]
    fn a_token_variable_that_is_not_utf8_is_an_error_naming_it() {
        use std::os::unix::ffi::OsStringExt;
        let env = EnvSnapshot::from_os_vars([
            (
                std::ffi::OsString::from("TYK_GW_KV_VAULT_TOKEN"),
                std::ffi::OsString::from_vec(b"s.\xe9".to_vec()),
            ),
            ("TYK_GW_KV_VAULT_ADDRESS".into(), "http://v".into()),
        ]);
        let mut diagnostics = Diagnostics::default();
        let kv = kv_settings(KvValues::default(), &env, "TYK_GW_", &mut diagnostics);
        assert_eq!(kv.vault.unwrap().token, None);
        assert_eq!(
            errors(&diagnostics),
            ["TYK_GW_KV_VAULT_TOKEN: the value is not valid UTF-8"]
        );
    }

    #[test]
    fn go_integers_and_durations() {
        for (text, want) in [
            ("2", 2),
            ("+1", 1),
            ("-3", -3),
            ("0x10", 16),
            ("010", 8),
            ("0b11", 3),
            ("1_000", 1000),
        ] {
            assert_eq!(parse_go_int(text), Ok(want), "{text}");
        }
        for text in ["", "1.0", "two", "0x", "1__0", "_1", "9223372036854775808", " 1"] {
            assert!(parse_go_int(text).is_err(), "{text}");
        }
        for (text, want) in [
            ("0", 0),
            ("5s", 5_000_000_000),
            ("1.5h", 5_400_000_000_000),
            ("2h45m", 9_900_000_000_000),
            ("300ms", 300_000_000),
            ("-1.5us", -1_500),
            ("1µs", 1_000),
            (".5s", 500_000_000),
            ("1.000000001s", 1_000_000_001),
        ] {
            assert_eq!(parse_go_duration(text), Ok(want), "{text}");
        }
        for text in ["", "5", "s", "5x", "1.s.", "-", "9999999999h", "5 s"] {
            assert!(parse_go_duration(text).is_err(), "{text}");
        }
    }
}
