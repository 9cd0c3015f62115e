use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

use crate::ConfigError;

/// An explicit, immutable snapshot of environment variables.
///
/// Everything in extsvc that depends on the environment takes one of these, so tests
/// pass a map and never touch the process environment. [`EnvSnapshot::from_process_env`]
/// is the one function in the library that reads it; the `extsvc` command calls it, and
/// so does `ExternalServices::builder()` when it is given no snapshot.
///
/// `Debug` lists the variables' names only: their values include proxy passwords, the
/// certificate store's encoding secret (`TYK_GW_SECRET`) and, from the process, anything.
///
/// A variable whose value is not valid UTF-8 is kept as such: [`EnvSnapshot::get`] does not
/// see it, and [`EnvSnapshot::get_checked`] (what every reader in extsvc uses) answers
/// with an error naming it, so that such a value is never skipped without a word.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EnvSnapshot {
    vars: BTreeMap<String, String>,
    not_utf8: BTreeMap<String, OsString>,
}

impl std::fmt::Debug for EnvSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvSnapshot")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .field("not_utf8", &self.not_utf8.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl EnvSnapshot {
    /// An empty environment.
    pub fn empty() -> Self {
        EnvSnapshot::default()
    }

    /// Reads the process environment once: the one place in the library that touches it.
    /// A variable whose *name* is not UTF-8 is skipped (no variable extsvc reads has such a
    /// name); one whose *value* is not is kept, see [`EnvSnapshot::get_checked`].
    pub fn from_process_env() -> Self {
        EnvSnapshot::from_os_vars(std::env::vars_os())
    }

    /// A snapshot of variables as the operating system gives them: values need not be
    /// UTF-8. Names that are not UTF-8 are skipped.
    ///
    /// ```
    /// use std::ffi::OsString;
    /// use std::os::unix::ffi::OsStringExt;
    /// use extsvc::config::EnvSnapshot;
    ///
    /// let latin1 = OsString::from_vec(b"http://pr\xf6xy:3128".to_vec());
    /// let env = EnvSnapshot::from_os_vars([(OsString::from("HTTPS_PROXY"), latin1)]);
    /// assert_eq!(env.get("HTTPS_PROXY"), None);
    /// assert_eq!(
    ///     env.get_checked("HTTPS_PROXY").unwrap_err().to_string(),
    ///     "HTTPS_PROXY: the value is not valid UTF-8"
    /// );
    /// ```
    pub fn from_os_vars<K: Into<OsString>, V: Into<OsString>>(vars: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut env = EnvSnapshot::default();
        for (name, value) in vars {
            let Ok(name) = name.into().into_string() else {
                continue;
            };
            match value.into().into_string() {
                Ok(value) => {
                    env.not_utf8.remove(&name);
                    env.vars.insert(name, value);
                }
                Err(raw) => {
                    env.vars.remove(&name);
                    env.not_utf8.insert(name, raw);
                }
            }
        }
        env
    }

    /// The value of one variable, if set (an empty value is set) and valid UTF-8. Readers
    /// of extsvc's own variables use [`EnvSnapshot::get_checked`].
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The value of one variable, if set; an error naming the variable when its value is
    /// not valid UTF-8 (never a silent "unset").
    pub fn get_checked(&self, name: &str) -> Result<Option<&str>, ConfigError> {
        if self.not_utf8.contains_key(name) {
            return Err(ConfigError::NotUtf8 {
                variable: name.to_owned(),
            });
        }
        Ok(self.get(name))
    }

    /// The value of one variable as the operating system gave it (a path need not be
    /// UTF-8), if set.
    pub fn get_os(&self, name: &str) -> Option<&OsStr> {
        self.vars
            .get(name)
            .map(|v| OsStr::new(v.as_str()))
            .or_else(|| self.not_utf8.get(name).map(OsString::as_os_str))
    }

    /// The names of the variables starting with `prefix` whose value is not valid UTF-8,
    /// sorted.
    pub fn not_utf8_with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.not_utf8
            .range(prefix.to_owned()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.as_str())
    }

    /// Every variable, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Every variable whose name starts with `prefix`, sorted by name.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.vars
            .range(prefix.to_owned()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EnvSnapshot {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        EnvSnapshot {
            vars: iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            not_utf8: BTreeMap::new(),
        }
    }
}
