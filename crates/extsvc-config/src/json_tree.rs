//! The JSON of a tyk.conf in document order, with the position of every key.
//!
//! Go's `encoding/json` (Tyk's reader) matches keys case-insensitively and lets the last of
//! two equal keys win. Reading a file as Tyk does therefore needs what
//! `serde_json::Value` does not keep: the order of the keys of an object (`"Enabled"` and
//! `"enabled"` are two keys to serde, one field to Go) and where each one was written, so
//! that a duplicate is named by both positions (`tyk.conf:3:5`).
//!
//! [`parse`] scans text that `serde_json` has already accepted; it keeps spans, and leaves
//! the decoding of keys and values to `serde_json`.

use serde_json::Value as Json;

/// Where a key was written: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// A JSON value with its objects' keys in document order.
#[derive(Debug)]
pub(crate) enum Node<'a> {
    /// An object's members, in the order written (duplicates kept).
    Object(Vec<Member<'a>>),
    /// An array's elements.
    Array(Vec<Node<'a>>),
    /// A string, number, boolean or null, as written.
    Scalar(&'a str),
}

/// One key of an object and its value.
#[derive(Debug)]
pub(crate) struct Member<'a> {
    /// The key, decoded.
    pub(crate) key: String,
    /// Where the key starts.
    pub(crate) position: Position,
    pub(crate) value: Node<'a>,
}

impl Node<'_> {
    /// The value as `serde_json` reads it (for an object, the last of equal keys wins).
    pub(crate) fn to_json(&self) -> Json {
        match self {
            Node::Scalar(text) => serde_json::from_str(text).unwrap_or(Json::Null),
            Node::Array(items) => Json::Array(items.iter().map(Node::to_json).collect()),
            Node::Object(members) => Json::Object(
                members
                    .iter()
                    .map(|member| (member.key.clone(), member.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// The tree of `json`, which `serde_json` has accepted; `None` when the scan disagrees
/// (it then reports nothing rather than something wrong).
pub(crate) fn parse(json: &str) -> Option<Node<'_>> {
    let mut scanner = Scanner {
        text: json,
        bytes: json.as_bytes(),
        at: 0,
        line_starts: std::iter::once(0)
            .chain(
                json.bytes()
                    .enumerate()
                    .filter(|(_, b)| *b == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .collect(),
    };
    let node = scanner.value()?;
    scanner.skip_whitespace();
    (scanner.at == scanner.bytes.len()).then_some(node)
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    line_starts: Vec<usize>,
}

impl<'a> Scanner<'a> {
    fn skip_whitespace(&mut self) {
        while self.at < self.bytes.len() && matches!(self.bytes[self.at], b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn position(&self, offset: usize) -> Position {
        let line = self.line_starts.partition_point(|start| *start <= offset);
        let start = self.line_starts[line - 1];
        let column = self.text.get(start..offset).map_or(1, |s| s.chars().count() + 1);
        Position { line, column }
    }

    fn value(&mut self) -> Option<Node<'a>> {
        self.skip_whitespace();
        match self.peek()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => {
                let span = self.string()?;
                Some(Node::Scalar(&self.text[span]))
            }
            _ => {
                let start = self.at;
                while self
                    .peek()
                    .is_some_and(|b| !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                {
                    self.at += 1;
                }
                (self.at > start).then(|| Node::Scalar(&self.text[start..self.at]))
            }
        }
    }

    /// The span of the string starting here, quotes included.
    fn string(&mut self) -> Option<std::ops::Range<usize>> {
        let start = self.at;
        self.at += 1;
        loop {
            match self.peek()? {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    return Some(start..self.at);
                }
                _ => self.at += 1,
            }
        }
    }

    fn object(&mut self) -> Option<Node<'a>> {
        self.at += 1;
        let mut members = Vec::new();
        loop {
            self.skip_whitespace();
            match self.peek()? {
                b'}' => {
                    self.at += 1;
                    return Some(Node::Object(members));
                }
                b',' => self.at += 1,
                b'"' => {
                    let position = self.position(self.at);
                    let span = self.string()?;
                    let key: String = serde_json::from_str(&self.text[span]).ok()?;
                    self.skip_whitespace();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.at += 1;
                    let value = self.value()?;
                    members.push(Member { key, position, value });
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self) -> Option<Node<'a>> {
        self.at += 1;
        let mut items = Vec::new();
        loop {
            self.skip_whitespace();
            match self.peek()? {
                b']' => {
                    self.at += 1;
                    return Some(Node::Array(items));
                }
                b',' => self.at += 1,
                _ => items.push(self.value()?),
            }
        }
    }
}

/// The JSON type of a value, without the value.
pub(crate) fn describe_type(value: &Json) -> String {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_order_with_positions() {
        let json = "{\"a\": 1,\n  \"B\": {\"x\": [true, \"s\\\"\"], \"b\": null},\n  \"a\": \"é\", \"é\": 2}";
        let Some(Node::Object(members)) = parse(json) else {
            panic!("not an object")
        };
        let keys: Vec<(&str, usize, usize)> = members
            .iter()
            .map(|m| (m.key.as_str(), m.position.line, m.position.column))
            .collect();
        assert_eq!(keys, [("a", 1, 2), ("B", 2, 3), ("a", 3, 3), ("é", 3, 13)]);
        assert_eq!(
            members[1].value.to_json(),
            serde_json::json!({"x": [true, "s\""], "b": null})
        );
        assert_eq!(members[2].value.to_json(), serde_json::json!("é"));
    }

    #[test]
    fn scalars_and_empty_containers() {
        assert_eq!(parse(" 12 ").map(|n| n.to_json()), Some(serde_json::json!(12)));
        assert_eq!(parse("{}").map(|n| n.to_json()), Some(serde_json::json!({})));
        assert_eq!(parse("[]").map(|n| n.to_json()), Some(serde_json::json!([])));
    }
}
