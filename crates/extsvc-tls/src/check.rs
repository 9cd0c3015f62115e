//! [`check`]: build every service's TLS for real and report every problem at once.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use extsvc_resolve::{Resolution, ResolvedService};
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::config::assemble;
use crate::error::{key_path, Origin, TlsError};
use crate::material::{load_material, LoadedChain};
use crate::options::{within, TlsOptions};
use crate::provider::provider;
use crate::store::{CertificateStore, DeadlineStore};

/// Certificates expiring within this many days are warned about.
#[doc(hidden)]
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// What [`check`] found: problems (the build fails) and warnings (it builds, but look).
/// Each entry is one line naming the service's key path and the file or id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckReport {
    /// One line per problem.
    pub problems: Vec<String>,
    /// One line per warning.
    pub warnings: Vec<String>,
    /// Lines that are neither: how many default roots came from where (SPEC section 3).
    pub notes: Vec<String>,
}

impl CheckReport {
    /// True when there is no problem (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for CheckReport {
    /// Problems first, then warnings prefixed with `warning: `, one per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in &self.problems {
            writeln!(f, "{problem}")?;
        }
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        Ok(())
    }
}

/// `YYYY-MM-DD` (UTC) of a Unix timestamp.
fn date(timestamp: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = timestamp.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Where a certificate sits, for messages: `client certificate /x.crt` or
/// `CA certificate 2 of store entry root-ca`.
fn describe(what: &str, origin: &Origin, index: usize, count: usize) -> String {
    if count > 1 {
        format!("{what} {} of {count} in {origin}", index + 1)
    } else {
        format!("{what} {origin}")
    }
}

/// Validity of one certificate against `now`: expired / not yet valid / expiring soon.
/// `expired_is_problem` decides where an expired certificate goes.
fn check_validity(
    report: &mut CheckReport,
    key_path: &str,
    what: &str,
    certificate: &X509Certificate<'_>,
    now: i64,
    expired_is_problem: bool,
) {
    let not_after = certificate.validity().not_after.timestamp();
    let not_before = certificate.validity().not_before.timestamp();
    if not_after < now {
        let line = format!("{key_path}: {what} expired on {}", date(not_after));
        if expired_is_problem {
            report.problems.push(line);
        } else {
            report.warnings.push(line);
        }
    } else if not_before > now {
        let line = format!("{key_path}: {what} is not valid before {}", date(not_before));
        if expired_is_problem {
            report.problems.push(line);
        } else {
            report.warnings.push(line);
        }
    } else if not_after - now < EXPIRY_WARNING_DAYS * 86_400 {
        let days = (not_after - now) / 86_400;
        report.warnings.push(format!(
            "{key_path}: {what} expires on {} (in {days} days)",
            date(not_after)
        ));
    }
}

fn parse<'a>(certificate: &'a CertificateDer<'_>) -> Option<X509Certificate<'a>> {
    X509Certificate::from_der(certificate).ok().map(|(_, parsed)| parsed)
}

/// Builds every service's TLS configuration for real — loads files, looks ids up in
/// `store`, parses keys, checks that each key matches its certificate — and reports:
///
/// - problems: every [`crate::TlsError`], each piece on its own line (a service's client
///   certificate, its key, their match, its CA file or each CA id are loaded separately,
///   so one failure does not hide another), ids configured without a store, an expired
///   or not yet valid client certificate chain;
/// - warnings, about whatever did load (also when another piece failed): certificates
///   (client chain or CA) expiring within [`EXPIRY_WARNING_DAYS`] of `now` (naming the
///   file or id and the date), an expired CA certificate, a client certificate whose
///   extended key usage lacks clientAuth.
///
/// The resolution's own warnings (`insecure_skip_verify` in effect, ignored settings) are
/// not repeated. No refresh task is started.
pub async fn check(resolution: &Resolution, store: Option<&dyn CertificateStore>, now: SystemTime) -> CheckReport {
    check_services(resolution.services().values(), store, now).await
}

/// [`check`] for some services only: `extsvc check` leaves out a service whose TLS
/// settings have configuration errors (those errors are its problems).
pub async fn check_services<'a>(
    services: impl IntoIterator<Item = &'a ResolvedService>,
    store: Option<&dyn CertificateStore>,
    now: SystemTime,
) -> CheckReport {
    check_services_within(services, store, now, &TlsOptions::default()).await
}

/// [`check_services`] with the deadlines of `options` ([`TlsOptions::store_timeout`] for
/// each store lookup, [`TlsOptions::load_timeout`] for each service); a service whose
/// material misses a deadline is a problem naming its key path (and the store and id).
#[doc(hidden)]
pub async fn check_services_within<'a>(
    services: impl IntoIterator<Item = &'a ResolvedService>,
    store: Option<&dyn CertificateStore>,
    now: SystemTime,
    options: &TlsOptions,
) -> CheckReport {
    let mut report = CheckReport::default();
    let now = unix_seconds(now);
    let provider = provider();
    let bounded = store.map(|store| DeadlineStore::new(store, options.store_timeout));
    let store = bounded.as_ref().map(|s| s as &dyn CertificateStore);
    let secrets = crate::rotation::secret_sources(options);
    for service in services {
        // The system roots (every proxy leg's, and a target's without its own CA): one
        // line per distinct place to look, normally one for all five services.
        let roots = crate::system_roots::system_roots(&service.mtls.system_roots);
        let summary = roots.summary();
        // No system roots at all (a distroless image) is a warning: a CA installed in the
        // system store would not be trusted.
        let lines = if roots.webpki_fallback {
            &mut report.warnings
        } else {
            &mut report.notes
        };
        if !lines.contains(&summary) {
            lines.push(summary);
        }
        if !service.mtls.errors.is_empty() {
            report
                .problems
                .extend(service.mtls.errors.iter().map(ToString::to_string));
            continue;
        }
        let loading = load_material(service.kind, &service.mtls, store, &secrets, &provider);
        let Some(pieces) = within(options.load_timeout, loading).await else {
            report.problems.push(
                TlsError::Timeout {
                    service: service.kind,
                    key_path: key_path(service.kind, "", None),
                    after: options.load_timeout,
                }
                .to_string(),
            );
            continue;
        };
        report.problems.extend(pieces.errors.iter().map(ToString::to_string));
        if let Some(chain) = &pieces.chain {
            check_client_chain(&mut report, chain, now);
        }
        for ca in pieces.material.ca.iter().flatten() {
            for (index, certificate) in ca.certificates.iter().enumerate() {
                let Some(parsed) = parse(certificate) else {
                    continue;
                };
                let what = describe("CA certificate", &ca.origin, index, ca.certificates.len());
                check_validity(&mut report, &ca.key_path, &what, &parsed, now, false);
            }
        }
        // What rustls itself refuses (a CA that cannot be an anchor, versions) shows only
        // once every piece is there.
        if let Ok(material) = pieces.into_material() {
            if let Err(e) = assemble(service, &material) {
                report.problems.push(e.to_string());
            }
        }
    }
    report
}

/// Validity of each certificate of a client chain, and the clientAuth usage of its
/// end-entity certificate.
fn check_client_chain(report: &mut CheckReport, client: &LoadedChain, now: i64) {
    for (index, certificate) in client.chain.iter().enumerate() {
        let Some(parsed) = parse(certificate) else {
            continue;
        };
        let what = describe("client certificate", &client.origin, index, client.chain.len());
        check_validity(report, &client.key_path, &what, &parsed, now, true);
        if index == 0 {
            if let Ok(Some(eku)) = parsed.extended_key_usage() {
                if !eku.value.client_auth && !eku.value.any {
                    report.warnings.push(format!(
                        "{}: {what} lacks the clientAuth extended key usage; servers will reject it as a client certificate",
                        client.key_path
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_798_761_599), "2026-12-31");
        assert_eq!(date(-86_400), "1969-12-31");
    }
}
