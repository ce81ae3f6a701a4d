//! The content decoders behind the signature. Mutating a signed message almost always breaks
//! its signature, and `verify_and_decode` checks the signature before it decodes the content,
//! so the `message` and `envelope` targets rarely reach the per-kind decoders. Here the input
//! is a message *body*: the target signs it with a fixed pseudonym and wraps it in the
//! `{"v": 1, "sig", "body"}` map (PROTOCOL.md §8), so every mutation of the body reaches
//! `Content::from_value` and `check_limits` (as long as the body still names that author).
//! The corpus holds the body of a message of every kind by that author.
//!
//! What decodes must be re-creatable: `sign` of the decoded content gives a message that
//! decodes to the same content.
#![no_main]

use std::sync::OnceLock;

use ciborium::Value;
use cove_crypto::{Domain, GroupSecret, MasterSeed, Pseudonym};
use cove_node::message::{sign, verify_and_decode, MessageError, MessageId};
use libfuzzer_sys::fuzz_target;

/// The member and group of `docs/vectors/messages.json`; the seeds are signed by them.
fn author() -> &'static Pseudonym {
    static AUTHOR: OnceLock<Pseudonym> = OnceLock::new();
    AUTHOR.get_or_init(|| {
        let group = GroupSecret::from_bytes([0x22; 32]).id();
        MasterSeed::from_bytes([0x11; 32]).pseudonym(&group)
    })
}

fuzz_target!(|body: &[u8]| {
    let author = author();
    let sig = author.sign(Domain::Message, body);
    // In deterministic key order (PROTOCOL.md §8.4): "v", "sig", "body".
    let wire = Value::Map(vec![
        (Value::Text("v".into()), Value::Integer(1.into())),
        (
            Value::Text("sig".into()),
            Value::Bytes(sig.to_bytes().to_vec()),
        ),
        (Value::Text("body".into()), Value::Bytes(body.to_vec())),
    ]);
    let mut bytes = Vec::new();
    ciborium::into_writer(&wire, &mut bytes).expect("CBOR encoding into a Vec");

    let signed = match verify_and_decode(&bytes) {
        Ok(signed) => signed,
        // The mutated body names another author (or is too large): nothing more to check.
        Err(_) => return,
    };
    let message = &signed.message;
    assert_eq!(message.author, author.public());
    assert_eq!(message.id, MessageId::of_body(body));
    message
        .content
        .check_limits()
        .expect("decoded content passes check_limits");

    // The canonical re-encoding of what was accepted is accepted and says the same.
    match sign(
        author,
        &message.group,
        message.created_at,
        message.content.clone(),
    ) {
        Ok(again) => {
            let decoded = verify_and_decode(&again.bytes).expect("a re-signed message verifies");
            assert_eq!(decoded.message.content, message.content);
            assert_eq!(decoded.message.created_at, message.created_at);
            assert_eq!(decoded.message.group, message.group);
        }
        Err(MessageError::TooLarge { .. }) => {}
        Err(e) => panic!("decoded content cannot be signed again: {e}"),
    }
});
