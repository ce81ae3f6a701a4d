//! Property tests of the message codec: for every kind, what [`sign`] produces,
//! [`verify_and_decode`] turns back into the same message, and no change to the wire bytes
//! yields a different message that still verifies. (The fuzz target `fuzz/fuzz_targets/
//! message.rs` covers arbitrary bytes; these cover arbitrary *valid* content.) The decoder
//! accepts exactly the encodings §8.4 allows: the deterministic one, and no other encoding of
//! the same value.

use proptest::prelude::*;

use super::*;

/// Non-blank text of 1 to `max_chars` characters (at most 4 bytes each, so callers pick
/// `max_chars` as a quarter of the byte limit).
fn text(max_chars: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("\\PC{{1,{max_chars}}}"))
        .expect("valid regex")
        .prop_filter("not blank", |s| !s.trim().is_empty())
}

fn id() -> impl Strategy<Value = MessageId> {
    any::<[u8; 32]>().prop_map(MessageId)
}

fn key() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(|b| Pseudonym::from_secret_bytes(b).public())
}

fn targeting_key() -> impl Strategy<Value = String> {
    "[a-z]{1,12}:[a-z0-9_-]{1,40}"
}

fn place() -> impl Strategy<Value = Place> {
    (
        text(MAX_FIELD_BYTES / 4),
        text(MAX_FIELD_BYTES / 4),
        proptest::option::of(-90.0f64..=90.0),
        proptest::option::of(-180.0f64..=180.0),
    )
        .prop_map(|(name, address, lat, lon)| Place {
            name,
            address,
            lat,
            lon,
        })
}

/// A targeting expression within the depth and key-count limits.
fn targeting() -> impl Strategy<Value = Targeting> {
    let leaf = targeting_key().prop_map(|k| Targeting {
        key: Some(k),
        ..Targeting::default()
    });
    // Depth 1 (root) + 3 levels = MAX_TARGETING_DEPTH.
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| Targeting {
                any: Some(v),
                ..Targeting::default()
            }),
            proptest::collection::vec(inner, 0..4).prop_map(|v| Targeting {
                all: Some(v),
                ..Targeting::default()
            }),
        ]
    })
    .prop_filter("at most MAX_TARGETING_KEYS keys", |t| {
        t.keys().len() <= MAX_TARGETING_KEYS
    })
}

fn charter() -> impl Strategy<Value = Charter> {
    (
        text(MAX_NAME_BYTES / 4),
        key(),
        proptest::collection::vec(key(), 0..MAX_ADMINS),
        any::<prop::sample::Index>(),
        any::<u64>(),
    )
        .prop_map(|(name, founder, mut admins, at, skew)| {
            // The founder must be among the admins, anywhere in the list.
            admins.insert(at.index(admins.len() + 1), founder);
            Charter {
                name,
                founder,
                admins,
                policy: Policy {
                    max_future_skew_secs: skew,
                    ..Policy::default()
                },
            }
        })
}

/// Valid content of every kind, each kind equally likely.
fn content() -> impl Strategy<Value = Content> {
    let title = || proptest::option::of(text(MAX_TITLE_BYTES / 4));
    prop_oneof![
        charter().prop_map(Content::Charter),
        (
            text(MAX_NAME_BYTES / 4),
            proptest::option::of(text(MAX_BIO_BYTES / 4))
        )
            .prop_map(|(nickname, bio)| Content::Profile(Profile { nickname, bio })),
        (title(), text(512)).prop_map(|(title, text)| Content::Post(Post { title, text })),
        (id(), id(), text(512)).prop_map(|(root, parent, text)| Content::Reply(Reply {
            root,
            parent,
            text
        })),
        (id(), title(), text(512)).prop_map(|(target, title, text)| Content::Edit(Edit {
            target,
            title,
            text
        })),
        id().prop_map(|target| Content::Delete(Target { target })),
        text(MAX_NAME_BYTES / 4).prop_map(|name| Content::Room(Room { name })),
        (id(), text(MAX_CHAT_BYTES / 4))
            .prop_map(|(room, text)| Content::Chat(Chat { room, text })),
        (id(), any::<bool>())
            .prop_map(|(target, active)| Content::Recommend(Recommend { target, active })),
        (key(), any::<bool>()).prop_map(|(member, active)| Content::Ban(Ban { member, active })),
        id().prop_map(|target| Content::Remove(Target { target })),
        (
            key(),
            text(MAX_NAME_BYTES / 4),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            proptest::collection::vec(targeting_key(), 0..=MAX_TARGETING_KEYS),
        )
            .prop_map(|(advertiser, name, a, b, daily_quota, targeting)| {
                Content::Grant(Grant {
                    advertiser,
                    name,
                    not_before: a.min(b),
                    not_after: a.max(b),
                    daily_quota,
                    targeting,
                })
            }),
        id().prop_map(|grant| Content::Revoke(Revoke { grant })),
        (text(MAX_NAME_BYTES / 4), place(), text(MAX_FIELD_BYTES / 4)).prop_map(
            |(name, place, contact)| Content::Advertiser(Advertiser {
                name,
                place,
                contact
            })
        ),
        (
            id(),
            text(MAX_TITLE_BYTES / 4),
            text(MAX_AD_BODY_BYTES / 4),
            targeting(),
            proptest::option::of((
                place(),
                proptest::option::of(text(MAX_FIELD_BYTES / 4)),
                any::<u64>()
            )),
        )
            .prop_map(|(grant, title, body, targeting, offer)| {
                Content::Ad(Ad {
                    grant,
                    title,
                    body,
                    targeting,
                    offer: offer.map(|(place, coupon, valid_until)| Offer {
                        place,
                        coupon,
                        valid_until,
                    }),
                })
            }),
    ]
}

/// A signed message of any kind from any author in any group.
fn signed() -> impl Strategy<Value = SignedMessage> {
    signed_by().prop_map(|(_, signed)| signed)
}

/// A signed message and its author's secret key.
fn signed_by() -> impl Strategy<Value = ([u8; 32], SignedMessage)> {
    (
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<u64>(),
        content(),
    )
        .prop_map(|(author, group, created_at, content)| {
            let me = Pseudonym::from_secret_bytes(author);
            let signed = sign(&me, &GroupId::from_bytes(group), created_at, content)
                .expect("generated content is within the limits");
            (author, signed)
        })
}

/// A CBOR head: the shortest argument, or (`widen`) the next longer one.
fn head(out: &mut Vec<u8>, major: u8, arg: u64, widen: bool) {
    let major = major << 5;
    let shortest = match arg {
        0..=23 => 0,
        24..=0xff => 1,
        0x100..=0xffff => 2,
        0x1_0000..=0xffff_ffff => 4,
        _ => 8,
    };
    match (shortest, widen) {
        (0, false) => out.push(major | arg as u8),
        (0, true) | (1, false) => out.extend_from_slice(&[major | 24, arg as u8]),
        (1, true) | (2, false) => {
            out.push(major | 25);
            out.extend_from_slice(&(arg as u16).to_be_bytes());
        }
        (2, true) | (4, false) => {
            out.push(major | 26);
            out.extend_from_slice(&(arg as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend_from_slice(&arg.to_be_bytes());
        }
    }
}

fn can_widen(arg: u64) -> bool {
    arg <= 0xffff_ffff
}

/// Writes `value` deterministically, except at the `pick`-th place (counting in pre-order
/// every place where the same value has another encoding) where it uses that other encoding:
/// a longer head, an indefinite length, two map keys swapped, a float in 8 bytes. `seen`
/// counts the places, so a first pass with `pick = None` finds how many there are.
fn loose(value: &Value, pick: Option<usize>, seen: &mut usize, out: &mut Vec<u8>) {
    let mut hit = |eligible: bool| {
        if !eligible {
            return false;
        }
        *seen += 1;
        pick == Some(*seen - 1)
    };
    match value {
        Value::Integer(i) => {
            let n = i128::from(*i);
            let (major, arg) = if n >= 0 {
                (0, n as u64)
            } else {
                (1, (-1 - n) as u64)
            };
            head(out, major, arg, hit(can_widen(arg)));
        }
        Value::Bytes(_) | Value::Text(_) => {
            let (major, data) = match value {
                Value::Bytes(b) => (2, b.as_slice()),
                Value::Text(t) => (3, t.as_bytes()),
                _ => unreachable!(),
            };
            let (widen, indefinite) = (hit(can_widen(data.len() as u64)), hit(true));
            if indefinite {
                out.push(major << 5 | 31);
            }
            head(out, major, data.len() as u64, widen);
            out.extend_from_slice(data);
            if indefinite {
                out.push(0xff);
            }
        }
        Value::Array(items) => {
            let (widen, indefinite) = (hit(can_widen(items.len() as u64)), hit(true));
            if indefinite {
                out.push(0x9f);
            } else {
                head(out, 4, items.len() as u64, widen);
            }
            for item in items {
                loose(item, pick, seen, out);
            }
            if indefinite {
                out.push(0xff);
            }
        }
        Value::Map(entries) => {
            let widen = hit(can_widen(entries.len() as u64));
            let indefinite = hit(true);
            let swap = hit(entries.len() >= 2);
            if indefinite {
                out.push(0xbf);
            } else {
                head(out, 5, entries.len() as u64, widen);
            }
            let mut order: Vec<_> = entries.iter().collect();
            if swap {
                order.swap(0, 1);
            }
            for (k, v) in order {
                loose(k, pick, seen, out);
                loose(v, pick, seen, out);
            }
            if indefinite {
                out.push(0xff);
            }
        }
        Value::Float(f) => {
            let mut shortest = Vec::new();
            ciborium::into_writer(value, &mut shortest).unwrap();
            if hit(shortest.len() < 9) {
                out.push(0xfb);
                out.extend_from_slice(&f.to_be_bytes());
            } else {
                out.extend_from_slice(&shortest);
            }
        }
        Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        other => panic!("signed messages hold no {other:?}"),
    }
}

/// The deterministic bytes of `value` (checked against `loose` with nothing picked) and one
/// other encoding of it, chosen by `at`.
fn other_encoding(value: &Value, at: prop::sample::Index) -> (Vec<u8>, Vec<u8>) {
    let (mut seen, mut same) = (0, Vec::new());
    loose(value, None, &mut seen, &mut same);
    let mut other = Vec::new();
    loose(value, Some(at.index(seen)), &mut 0, &mut other);
    (same, other)
}

proptest! {
    #[test]
    fn prop_sign_then_verify_round_trips(signed in signed()) {
        let decoded = verify_and_decode(&signed.bytes).expect("a signed message verifies");
        prop_assert_eq!(&decoded, &signed);
        // The stored path decodes the same bytes to the same message.
        let stored = decode_stored(&signed.bytes);
        prop_assert_eq!(stored.as_ref(), Ok(&signed));
    }

    #[test]
    fn prop_content_survives_its_cbor_value(content in content()) {
        let kind = content.kind();
        prop_assert_eq!(Content::from_value(kind, content.to_value()), Ok(content));
    }

    #[test]
    fn prop_id_is_hash_of_signed_body(signed in signed()) {
        let wire: WireMessage = ciborium::from_reader(signed.bytes.as_slice()).unwrap();
        prop_assert_eq!(signed.message.id, MessageId::of_body(&wire.body));
        let body: WireBody = ciborium::from_reader(wire.body.as_slice()).unwrap();
        prop_assert_eq!(body.kind.as_str(), signed.message.content.kind());
    }

    /// Changing any one byte never yields a *different* message that verifies: the signature
    /// covers everything the message says.
    #[test]
    fn prop_no_byte_change_forges_a_message(
        signed in signed(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..,
    ) {
        let mut bytes = signed.bytes.clone();
        let i = at.index(bytes.len());
        bytes[i] ^= xor;
        if let Ok(decoded) = verify_and_decode(&bytes) {
            prop_assert_eq!(decoded.message, signed.message);
        }
    }

    /// Truncated messages are typed errors, never panics.
    #[test]
    fn prop_truncation_is_an_error(signed in signed(), at in any::<prop::sample::Index>()) {
        let cut = at.index(signed.bytes.len());
        prop_assert!(verify_and_decode(&signed.bytes[..cut]).is_err());
    }

    /// What Cove signs is the deterministic encoding, and every other encoding of the same
    /// outer map (which a relay could produce without the author's key) is refused.
    #[test]
    fn prop_only_the_deterministic_outer_map_is_accepted(
        signed in signed(),
        at in any::<prop::sample::Index>(),
    ) {
        let outer: Value = ciborium::from_reader(signed.bytes.as_slice()).unwrap();
        let (same, other) = other_encoding(&outer, at);
        prop_assert_eq!(&same, &signed.bytes);
        prop_assert_ne!(&other, &signed.bytes);
        let refused = verify_and_decode(&other);
        prop_assert!(
            matches!(refused, Err(MessageError::NotCanonical { part: "signed message", .. })),
            "{:?}", refused
        );
    }

    /// The same for the body, re-signed by its author: the signature is valid, the encoding
    /// is not, and the encoding is what decides.
    #[test]
    fn prop_only_the_deterministic_body_is_accepted(
        (author, signed) in signed_by(),
        at in any::<prop::sample::Index>(),
    ) {
        let wire: WireMessage = ciborium::from_reader(signed.bytes.as_slice()).unwrap();
        let body: Value = ciborium::from_reader(wire.body.as_slice()).unwrap();
        let (same, other) = other_encoding(&body, at);
        prop_assert_eq!(&same, &wire.body);
        let me = Pseudonym::from_secret_bytes(author);
        let resigned = to_canonical_vec(&WireMessage {
            v: 1,
            sig: me.sign(Domain::Message, &other).to_bytes().to_vec(),
            body: other,
        });
        let refused = verify_and_decode(&resigned);
        prop_assert!(
            matches!(refused, Err(MessageError::NotCanonical { part: "body", .. })),
            "{:?}", refused
        );
    }
}
