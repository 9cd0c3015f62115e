//! Duplicate keys in the JSON text. `serde_json::Value` keeps the last of two equal keys
//! silently; a merge accident (`"oauth": {…}, "oauth": {…}`) could then turn
//! `insecure_skip_verify` on or off unnoticed. This walk finds them by dotted key path:
//! inside `external_services` they are configuration errors, elsewhere warnings (Tyk's own
//! keys are not ours to refuse).

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The dotted key paths of every key that appears twice in its object, in order.
/// Text that is not JSON yields what was found before the error (the parse reports it).
pub(crate) fn duplicate_keys(json: &str) -> Vec<String> {
    let found = RefCell::new(Vec::new());
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let _ = Walk {
        path: String::new(),
        found: &found,
    }
    .deserialize(&mut deserializer);
    found.into_inner()
}

struct Walk<'f> {
    path: String,
    found: &'f RefCell<Vec<String>>,
}

impl Walk<'_> {
    fn child(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = self.child(&key);
            if !seen.insert(key) {
                self.found.borrow_mut().push(path.clone());
            }
            map.next_value_seed(Walk {
                path,
                found: self.found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        while seq
            .next_element_seed(Walk {
                path: format!("{}[{index}]", self.path),
                found: self.found,
            })?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_repeated_key_is_found_by_path() {
        let json = r#"{"a":1,"external_services":{"oauth":{"mtls":{"x":1}},"oauth":{"mtls":{"insecure_skip_verify":true,"insecure_skip_verify":false}}},"a":[{"b":1,"b":2}]}"#;
        assert_eq!(
            duplicate_keys(json),
            [
                "external_services.oauth",
                "external_services.oauth.mtls.insecure_skip_verify",
                "a",
                "a[0].b"
            ]
        );
        assert!(duplicate_keys(r#"{"a":{"a":1}}"#).is_empty());
    }
}
