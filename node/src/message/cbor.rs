//! Deterministic CBOR for everything a member signs (`docs/PROTOCOL.md` §8.4).
//!
//! A signed message has exactly one encoding: RFC 8949 §4.2.1 "core deterministic encoding"
//! (shortest integer, length and float arguments, definite lengths only, map keys sorted by
//! the bytes of their encodings, no duplicate keys), plus two rules of Cove's own: no tags
//! and no `null`/`undefined` (an absent optional field is left out). [`to_canonical_vec`]
//! produces it, and [`check_canonical`] refuses anything else.
//!
//! The check decodes the item into a generic [`Value`], walks it (tags, `null`, key order,
//! duplicates), then re-encodes it against the input, each piece compared as it is written
//! (no second copy is allocated): every length, integer and float that was not written in
//! its shortest definite form makes the bytes differ. That is simpler to get right than a
//! hand-written strict reader (the float rule alone needs half-precision arithmetic) and it
//! reuses the encoder Cove signs with, so what Cove writes and what it accepts cannot drift
//! apart. Its cost (one generic decode and one encode of at most 64 KiB) is small next to the
//! Ed25519 verification that follows.

use ciborium::Value;
use serde::Serialize;

/// Why bytes are not the deterministic encoding of their value.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CanonicalError {
    /// A CBOR tag (Cove's signed data has none).
    #[error("CBOR tag {0} (signed data uses no tags)")]
    Tag(u64),
    /// `null` or `undefined` (an absent optional field is left out instead).
    #[error("CBOR null (an absent optional field is left out, not null)")]
    Null,
    /// Two map keys out of the order of their encodings.
    #[error("map key {key} is out of order (keys are sorted by their encoded bytes)")]
    KeyOrder {
        /// The key out of place, as CBOR diagnostic text.
        key: String,
    },
    /// The same key twice in one map.
    #[error("map key {key} appears twice")]
    DuplicateKey {
        /// The repeated key, as CBOR diagnostic text.
        key: String,
    },
    /// An integer, length or float longer than needed, or an indefinite length.
    #[error("an integer, length or float is not in its shortest form, or a length is indefinite")]
    NotShortest,
}

/// The deterministic encoding of `value`.
pub(crate) fn to_canonical_vec<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising Cove's plain data types into a CBOR value cannot fail.
    let mut value = Value::serialized(value).expect("serialises to a CBOR value");
    sort_maps(&mut value);
    encode(&value)
}

/// Checks that `bytes` are the deterministic encoding of `value`, which the caller decoded
/// from exactly these bytes.
pub(crate) fn check_canonical(bytes: &[u8], value: &Value) -> Result<(), CanonicalError> {
    walk(value)?;
    // Encoded straight against the input, so that a check allocates no second copy.
    let mut rest = Matching(bytes);
    match ciborium::into_writer(value, &mut rest) {
        Ok(()) if rest.0.is_empty() => Ok(()),
        _ => Err(CanonicalError::NotShortest),
    }
}

/// A writer that accepts exactly the bytes it still holds, in order, and fails at the first
/// byte that differs.
struct Matching<'a>(&'a [u8]);

impl std::io::Write for Matching<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.strip_prefix(buf) {
            Some(rest) => {
                self.0 = rest;
                Ok(buf.len())
            }
            None => Err(std::io::ErrorKind::InvalidData.into()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(value, &mut out);
    out
}

fn encode_into(value: &Value, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail.
    ciborium::into_writer(value, out).expect("CBOR encoding into a Vec");
}

fn sort_maps(value: &mut Value) {
    match value {
        Value::Map(entries) => {
            for (k, v) in entries.iter_mut() {
                sort_maps(k);
                sort_maps(v);
            }
            entries.sort_by_cached_key(|(k, _)| encode(k));
        }
        Value::Array(items) => items.iter_mut().for_each(sort_maps),
        Value::Tag(_, inner) => sort_maps(inner),
        _ => {}
    }
}

/// Tags, nulls, key order and duplicates; lengths and widths are left to the re-encoding.
/// Recursion is bounded by the decoder's own nesting limit.
fn walk(value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Tag(tag, _) => Err(CanonicalError::Tag(*tag)),
        Value::Null => Err(CanonicalError::Null),
        Value::Array(items) => items.iter().try_for_each(walk),
        Value::Map(entries) => {
            // The encodings of the previous key and this one, in two buffers reused.
            let (mut previous, mut key) = (Vec::new(), Vec::new());
            for (i, (k, v)) in entries.iter().enumerate() {
                walk(k)?;
                walk(v)?;
                key.clear();
                encode_into(k, &mut key);
                if i > 0 {
                    match previous.cmp(&key) {
                        std::cmp::Ordering::Less => {}
                        std::cmp::Ordering::Equal => {
                            return Err(CanonicalError::DuplicateKey { key: diag(k) })
                        }
                        std::cmp::Ordering::Greater => {
                            return Err(CanonicalError::KeyOrder { key: diag(k) })
                        }
                    }
                }
                std::mem::swap(&mut previous, &mut key);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A short human form of a map key for error messages.
fn diag(key: &Value) -> String {
    match key {
        Value::Text(t) => format!("{t:?}"),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8]) -> Result<(), CanonicalError> {
        let value: Value = ciborium::from_reader(bytes).unwrap();
        check_canonical(bytes, &value)
    }

    #[test]
    fn canonical_items_pass() {
        // {"a": 1, "bb": [h'00', 1.5, true], "ccc": -24}
        let bytes =
            hex::decode("a3616101626262834100f93e00f563636363 37".replace(' ', "")).unwrap();
        assert_eq!(check(&bytes), Ok(()));
    }

    #[test]
    fn bytes_must_be_the_whole_encoding_not_a_prefix_or_more() {
        let bytes = hex::decode("a26161016162820102").unwrap(); // {"a": 1, "b": [1, 2]}
        let value: Value = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(check_canonical(&bytes, &value), Ok(()));
        let longer = [bytes.as_slice(), &[0]].concat();
        assert_eq!(
            check_canonical(&longer, &value),
            Err(CanonicalError::NotShortest)
        );
        assert_eq!(
            check_canonical(&bytes[..bytes.len() - 1], &value),
            Err(CanonicalError::NotShortest)
        );
    }

    #[test]
    fn every_non_canonical_form_is_named() {
        let cases: [(&str, CanonicalError); 8] = [
            ("1801", CanonicalError::NotShortest),       // 1 in two bytes
            ("bf616101ff", CanonicalError::NotShortest), // indefinite map
            ("5f4100ff", CanonicalError::NotShortest),   // indefinite bytes
            ("fb3ff8000000000000", CanonicalError::NotShortest), // 1.5 as a double
            ("c11a5f5e1000", CanonicalError::Tag(1)),
            ("a16161f6", CanonicalError::Null),
            (
                "a2616201616101",
                CanonicalError::KeyOrder {
                    key: "\"a\"".into(),
                },
            ),
            (
                "a2616101616102",
                CanonicalError::DuplicateKey {
                    key: "\"a\"".into(),
                },
            ),
        ];
        for (hex, want) in cases {
            assert_eq!(check(&hex::decode(hex).unwrap()), Err(want), "{hex}");
        }
    }

    #[test]
    fn keys_sort_by_encoded_bytes_so_shorter_keys_come_first() {
        #[derive(Serialize)]
        struct S {
            body: u8,
            v: u8,
            sig: u8,
        }
        let bytes = to_canonical_vec(&S {
            body: 1,
            v: 2,
            sig: 3,
        });
        assert_eq!(hex::encode(&bytes), "a3617602637369670364626f647901");
        assert_eq!(check(&bytes), Ok(()));
    }
}
