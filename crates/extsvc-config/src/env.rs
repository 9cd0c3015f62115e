use std::collections::BTreeMap;

/// An explicit, immutable snapshot of environment variables.
///
/// Everything in extsvc that depends on the environment takes one of these, so tests
/// pass a map and never touch the process environment. [`EnvSnapshot::from_process_env`]
/// is the one function in the library that reads it; the `extsvc` command calls it, and
/// so does `ExternalServices::builder()` when it is given no snapshot.
///
/// `Debug` lists the variables' names only: their values include proxy passwords, the
/// certificate store's encoding secret (`TYK_GW_SECRET`) and, from the process, anything.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EnvSnapshot {
    vars: BTreeMap<String, String>,
}

impl std::fmt::Debug for EnvSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvSnapshot")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl EnvSnapshot {
    /// An empty environment.
    pub fn empty() -> Self {
        EnvSnapshot::default()
    }

    /// Reads the process environment once (variables whose name or value is not UTF-8
    /// are skipped): the one place in the library that touches it.
    pub fn from_process_env() -> Self {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect()
    }

    /// The value of one variable, if set (an empty value is set).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
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
        }
    }
}
