//! The wire form of a message: the outer `{v, body, sig}` map and the body, decoded field by
//! field so that anything other than PROTOCOL.md §4 is refused with the field named.

use super::*;

#[derive(Serialize, Deserialize)]
pub(super) struct WireMessage {
    pub(super) v: u64,
    #[serde(with = "serde_bytes")]
    pub(super) body: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub(super) sig: Vec<u8>,
}

impl WireMessage {
    /// The outer map is closed: exactly `v`, `body` and `sig`. Nothing outside `body` is
    /// signed, so any other key would let a relay change a message without changing its id.
    /// The version is checked before the keys, so a later version is reported as such.
    pub(super) fn from_value(value: Value) -> Result<Self, MessageError> {
        let Value::Map(entries) = value else {
            return Err(MessageError::Malformed(
                "the signed message is not a CBOR map".into(),
            ));
        };
        let (mut v, mut body, mut sig, mut unknown) = (None, None, None, None);
        for (key, value) in entries {
            match key.as_text() {
                Some("v") => v = Some(value),
                Some("body") => body = Some(value),
                Some("sig") => sig = Some(value),
                _ => {
                    unknown.get_or_insert(key);
                }
            }
        }
        let v = uint(field(v, "signed message", "v")?, "\"v\"")?;
        if v != u64::from(MESSAGE_VERSION) {
            return Err(MessageError::UnsupportedVersion {
                got: v,
                max: MESSAGE_VERSION,
            });
        }
        if let Some(key) = unknown {
            return Err(MessageError::Malformed(format!(
                "unknown key {key:?} in the signed-message map (only \"v\", \"body\", \"sig\")"
            )));
        }
        Ok(WireMessage {
            v,
            body: bytes(field(body, "signed message", "body")?, "\"body\"")?,
            sig: bytes(field(sig, "signed message", "sig")?, "\"sig\"")?,
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct WireBody {
    #[serde(with = "serde_bytes")]
    pub(super) group: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub(super) author: Vec<u8>,
    pub(super) kind: String,
    pub(super) created_at: u64,
    pub(super) content: Value,
    /// The tag of the epoch the author sealed under (§8.2); absent when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(super) epoch: u64,
}

fn is_zero(epoch: &u64) -> bool {
    *epoch == 0
}

impl WireBody {
    /// The body's fields with their exact CBOR types; keys this version does not know are
    /// ignored (they are signed, so only the author can have put them there).
    pub(super) fn from_value(value: Value) -> Result<Self, MessageError> {
        let Value::Map(entries) = value else {
            return Err(MessageError::Malformed("body is not a CBOR map".into()));
        };
        let (mut group, mut author, mut kind, mut created_at, mut content, mut epoch) =
            (None, None, None, None, None, None);
        for (key, value) in entries {
            match key.as_text() {
                Some("group") => group = Some(value),
                Some("author") => author = Some(value),
                Some("kind") => kind = Some(value),
                Some("created_at") => created_at = Some(value),
                Some("content") => content = Some(value),
                Some("epoch") => epoch = Some(value),
                _ => {}
            }
        }
        let kind = match field(kind, "body", "kind")? {
            Value::Text(kind) => kind,
            _ => {
                return Err(MessageError::Malformed(
                    "body: kind is not a text string".into(),
                ))
            }
        };
        Ok(WireBody {
            group: bytes(field(group, "body", "group")?, "body: group")?,
            author: bytes(field(author, "body", "author")?, "body: author")?,
            kind,
            created_at: uint(field(created_at, "body", "created_at")?, "body: created_at")?,
            content: field(content, "body", "content")?,
            epoch: match epoch {
                None => 0,
                Some(epoch) => match uint(epoch, "body: epoch")? {
                    tag if tag <= u64::from(u32::MAX) => tag,
                    tag => {
                        return Err(MessageError::Malformed(format!(
                            "body: epoch {tag} does not fit in 32 bits"
                        )))
                    }
                },
            },
        })
    }
}

pub(super) fn field(value: Option<Value>, map: &str, key: &str) -> Result<Value, MessageError> {
    value.ok_or_else(|| MessageError::Malformed(format!("{map} lacks {key:?}")))
}

pub(super) fn uint(value: Value, what: &str) -> Result<u64, MessageError> {
    match value {
        Value::Integer(i) => u64::try_from(i).ok(),
        _ => None,
    }
    .ok_or_else(|| MessageError::Malformed(format!("{what} is not an unsigned integer")))
}

pub(super) fn bytes(value: Value, what: &str) -> Result<Vec<u8>, MessageError> {
    match value {
        Value::Bytes(b) => Ok(b),
        _ => Err(MessageError::Malformed(format!(
            "{what} is not a byte string"
        ))),
    }
}

/// Where the `content` a message carries differs from Cove's own encoding of what it decoded
/// from it, ignoring keys Cove does not know: a field of another CBOR type (a text string
/// for a byte string, an integer for a float, an array for a map) that serde's lenient
/// decoding would otherwise let through. `None` when every known field matches.
pub(super) fn content_mismatch(received: &Value, ours: &Value) -> Option<String> {
    match (received, ours) {
        (Value::Map(received), Value::Map(ours)) => ours.iter().find_map(|(key, ours)| {
            let name = key.as_text().unwrap_or("?");
            match received.iter().find(|(k, _)| k == key) {
                None => Some(name.to_string()),
                Some((_, received)) => content_mismatch(received, ours).map(|path| {
                    if path.is_empty() {
                        name.to_string()
                    } else {
                        format!("{name}.{path}")
                    }
                }),
            }
        }),
        (Value::Array(received), Value::Array(ours)) if received.len() == ours.len() => received
            .iter()
            .zip(ours)
            .enumerate()
            .find_map(|(i, (r, o))| content_mismatch(r, o).map(|path| format!("[{i}]{path}"))),
        _ if received == ours => None,
        _ => Some(String::new()),
    }
}
