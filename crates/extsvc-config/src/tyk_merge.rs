//! Where Tyk's own reading of the same tyk.conf routes differently, said as warnings
//! (SPEC section 1): never silently.
//!
//! - Tyk's gateway replaces the whole global proxy block with a service's block as soon as
//!   that block sets any proxy URL; extsvc inherits field by field, as the documented
//!   precedence says. For each field the service inherits, a warning names the service,
//!   the field and what Tyk would have done.
//! - A legacy top-level `http_proxy` / `https_proxy` that `external_services.global`
//!   overrides (or switches off) has no effect: a warning says so.

use crate::error::Diagnostics;
use crate::redact::redact_url_credentials;
use crate::{ExternalServicesConfig, ProxySettings, ProxyUrl, ServiceKind, Sourced};

/// Adds the warnings of the model `config`.
pub(crate) fn warn_divergences(config: &ExternalServicesConfig, diagnostics: &mut Diagnostics) {
    warn_overridden_legacy(config, diagnostics);
    for kind in ServiceKind::ALL {
        warn_block_replacement(config, kind, diagnostics);
    }
}

fn url_set(field: &Option<Sourced<Option<ProxyUrl>>>) -> Option<&ProxyUrl> {
    field.as_ref().and_then(|f| f.value.as_ref())
}

/// A proxy URL as warnings show it (`user:***@`).
fn shown_url(url: &ProxyUrl) -> String {
    redact_url_credentials(&url.to_string())
}

fn warn_overridden_legacy(config: &ExternalServicesConfig, diagnostics: &mut Diagnostics) {
    let global = &config.global;
    let legacy = &config.legacy;
    for (name, legacy_field, global_field) in [
        ("http_proxy", &legacy.http_proxy, &global.http_proxy),
        ("https_proxy", &legacy.https_proxy, &global.https_proxy),
    ] {
        let Some(old) = legacy_field else { continue };
        if let Some(enabled) = global.enabled.as_ref().filter(|e| !e.value) {
            diagnostics.warn(format!(
                "{name}: the legacy key ({}) has no effect: external_services.global.enabled is false ({})",
                old.source, enabled.source
            ));
        } else if let Some(new) = global_field {
            diagnostics.warn(format!(
                "{name}: the legacy key ({}) is overridden by external_services.global.{name} ({}); remove one of them",
                old.source, new.source
            ));
        }
    }
}

/// True when the global block (or a legacy key) turns global proxying on.
fn global_active(config: &ExternalServicesConfig) -> bool {
    match &config.global.enabled {
        Some(enabled) => enabled.value,
        None => config.legacy.http_proxy.is_some() || config.legacy.https_proxy.is_some(),
    }
}

fn warn_block_replacement(config: &ExternalServicesConfig, kind: ServiceKind, diagnostics: &mut Diagnostics) {
    let service: &ProxySettings = &config.service(kind).proxy;
    if !service.enabled.as_ref().is_some_and(|e| e.value) || !global_active(config) {
        return;
    }
    let own = [
        ("http_proxy", url_set(&service.http_proxy)),
        ("https_proxy", url_set(&service.https_proxy)),
    ];
    let Some((set_field, _)) = own.iter().find(|(_, url)| url.is_some()) else {
        return;
    };
    let block = format!("external_services.{kind}.proxy");
    let global = &config.global;
    let legacy = &config.legacy;
    // What resolution inherits: the global value when set (even to ""), else the legacy key.
    let inherited = |global_field: &'_ Option<Sourced<Option<ProxyUrl>>>,
                     legacy_field: &'_ Option<Sourced<Option<ProxyUrl>>>| {
        if global_field.is_some() {
            url_set(global_field).cloned()
        } else {
            url_set(legacy_field).cloned()
        }
    };
    let inherited_http = inherited(&global.http_proxy, &legacy.http_proxy);
    if service.http_proxy.is_none() {
        if let Some(url) = &inherited_http {
            diagnostics.warn(format!(
                "{block}: sets {set_field}, so Tyk uses this block alone and would send {kind}'s http:// targets \
                 direct; extsvc inherits the global http_proxy ({}), as the documented precedence says",
                shown_url(url)
            ));
        }
    }
    if service.https_proxy.is_none() {
        if let Some(url) = &inherited(&global.https_proxy, &legacy.https_proxy) {
            let tyk = match url_set(&service.http_proxy) {
                Some(own_http) => format!("through this block's http_proxy ({})", shown_url(own_http)),
                None => "direct".to_owned(),
            };
            diagnostics.warn(format!(
                "{block}: sets {set_field}, so Tyk uses this block alone and would send {kind}'s https:// targets \
                 {tyk}; extsvc inherits the global https_proxy ({}), as the documented precedence says",
                shown_url(url)
            ));
        }
    }
    if service.bypass_proxy.is_none() {
        if let Some(list) = global.bypass_proxy.as_ref().filter(|l| !l.value.is_empty()) {
            diagnostics.warn(format!(
                "{block}: sets {set_field}, so Tyk uses this block alone and would bypass no host for {kind}; \
                 extsvc inherits the global bypass_proxy ({} entries, {}), as the documented precedence says",
                list.value.len(),
                list.source
            ));
        }
    }
}
