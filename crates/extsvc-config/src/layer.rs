//! Layering with figment: each source (the file, the environment in Tyk's spelling, the
//! environment in the documented spelling) becomes a figment [`Provider`]; figment
//! merges them (later wins), extracts the serde model and remembers, per value, which
//! provider set it.
//!
//! The values handed to figment are already checked (known keys, right types), so the
//! extraction cannot fail on user input; finding and reporting problems is done before,
//! where every problem can be collected with its key path or variable.

use figment::value::{Dict, Map, Tag, Value};
use figment::{Figment, Metadata, Profile, Provider};

use crate::file::TykConfFile;
use crate::keys::{find_key, KeySpec};
use crate::Source;

/// A checked value of one key, in the shape of its [`KeyType`](crate::keys::KeyType).
///
/// Its `Debug` shows strings as [`shown`](crate::shown) does (userinfo redacted, PEM text as
/// its size): a value may be a proxy URL with a password or an inline private key, and the
/// builders of configuration in code derive their `Debug` from it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum RawValue {
    Bool(bool),
    String(String),
    List(Vec<String>),
}

impl std::fmt::Debug for RawValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RawValue::Bool(b) => write!(f, "{b}"),
            RawValue::String(s) => write!(f, "\"{}\"", crate::shown(s)),
            RawValue::List(items) => f
                .debug_list()
                .entries(items.iter().map(|item| format!("{}", crate::shown(item))))
                .finish(),
        }
    }
}

impl RawValue {
    fn into_figment(self) -> Value {
        match self {
            RawValue::Bool(b) => Value::Bool(Tag::Default, b),
            RawValue::String(s) => Value::String(Tag::Default, s),
            RawValue::List(items) => Value::Array(
                Tag::Default,
                items.into_iter().map(|s| Value::String(Tag::Default, s)).collect(),
            ),
        }
    }
}

/// Which source a layer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LayerKind {
    /// The configuration file.
    File,
    /// Values set in code ([`ExternalServicesConfig::builder`](crate::ExternalServicesConfig::builder)),
    /// in place of the file.
    Code,
    /// `TYK_GW_EXTERNALSERVICES_…` (Tyk's spelling).
    EnvTyk,
    /// `TYK_GW_EXTERNAL_SERVICES_…` (documented spelling) and the legacy variables.
    EnvDocumented,
}

impl LayerKind {
    /// The metadata name figment keeps for the layer; [`Layered::source`] maps it back.
    const fn metadata_name(self) -> &'static str {
        match self {
            LayerKind::File => "configuration file",
            LayerKind::Code => "configuration in code",
            LayerKind::EnvTyk => "environment variables (Tyk spelling)",
            LayerKind::EnvDocumented => "environment variables (documented spelling)",
        }
    }
}

/// The checked values of one source.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    kind: LayerKind,
    /// The file name (for [`LayerKind::File`]) or the variable prefix.
    label: String,
    values: Vec<(&'static KeySpec, RawValue)>,
    /// The file's top-level `secrets` map (not a key of [`KEYS`](crate::KEYS): its names are
    /// the user's), when it has one.
    pub(crate) secrets: Option<std::collections::BTreeMap<String, crate::SecretText>>,
    /// The file's top-level `kv` block, type-checked.
    pub(crate) kv: crate::kv_keys::KvValues,
}

impl Layer {
    pub(crate) fn new(kind: LayerKind, label: impl Into<String>) -> Self {
        Layer {
            kind,
            label: label.into(),
            values: Vec::new(),
            secrets: None,
            kv: crate::kv_keys::KvValues::default(),
        }
    }

    pub(crate) fn push(&mut self, key: &'static KeySpec, value: RawValue) {
        self.values.retain(|(k, _)| k.path != key.path);
        self.values.push((key, value));
    }

    pub(crate) fn get(&self, key: &KeySpec) -> Option<&RawValue> {
        self.values.iter().find(|(k, _)| k.path == key.path).map(|(_, v)| v)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &'static KeySpec> + '_ {
        self.values.iter().map(|(k, _)| *k)
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        let name = self.kind.metadata_name();
        match self.kind {
            LayerKind::File | LayerKind::Code => Metadata::named(name).source(self.label.clone()),
            LayerKind::EnvTyk | LayerKind::EnvDocumented => {
                let prefix = self.label.clone();
                let kind = self.kind;
                Metadata::named(name).interpolater(move |_profile: &Profile, keys: &[&str]| {
                    let path = keys.join(".");
                    match find_key(&path) {
                        Some(key) if kind == LayerKind::EnvTyk => key.tyk_env_var(&prefix),
                        Some(key) => key.env_var(&prefix),
                        None => path,
                    }
                })
            }
        }
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for (key, value) in &self.values {
            let segments: Vec<&str> = key.segments().collect();
            insert(&mut root, &segments, value.clone().into_figment());
        }
        Ok(Map::from([(Profile::Default, root)]))
    }
}

fn insert(dict: &mut Dict, segments: &[&str], value: Value) {
    match segments {
        [] => {}
        [last] => {
            dict.insert((*last).to_owned(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry((*first).to_owned())
                .or_insert_with(|| Value::Dict(Tag::Default, Dict::new()));
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

/// The layers merged by figment, lowest precedence first.
pub(crate) struct Layered {
    figment: Figment,
}

impl Layered {
    /// Merges `layers` in order: each one overrides the ones before it.
    pub(crate) fn new(layers: impl IntoIterator<Item = Layer>) -> Self {
        let figment = layers
            .into_iter()
            .fold(Figment::new(), |figment, layer| figment.merge(layer));
        Layered { figment }
    }

    /// The effective tyk.conf (file overridden by environment).
    pub(crate) fn extract(&self) -> Result<TykConfFile, Box<figment::Error>> {
        self.figment.extract().map_err(Box::new)
    }

    /// Which source set `key`, from the metadata figment keeps per value: a file key is
    /// `file:<path>` (`legacy:<key>` for the top-level keys), a variable `env:<NAME>`
    /// in the spelling that was used, a value set in code `code:<path>`.
    /// [`Source::Default`] when nothing set it.
    pub(crate) fn source(&self, key: &KeySpec) -> Source {
        let Some(metadata) = self.figment.find_metadata(key.path) else {
            return Source::Default;
        };
        if metadata.name == LayerKind::Code.metadata_name() {
            Source::Code(key.path.to_owned())
        } else if metadata.name == LayerKind::File.metadata_name() {
            if key.is_legacy() {
                Source::Legacy(key.path.to_owned())
            } else {
                Source::File(key.path.to_owned())
            }
        } else {
            let segments: Vec<&str> = key.segments().collect();
            Source::Env(metadata.interpolate(&Profile::Default, &segments))
        }
    }
}
