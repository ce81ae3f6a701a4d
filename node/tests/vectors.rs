//! Message test vectors: `docs/vectors/messages.json` must match what this code produces, and
//! must decode and verify. `COVE_WRITE_VECTORS=1` rewrites the file.

use cove_crypto::{open, seal_with_nonce, GroupSecret, MasterSeed};
use cove_node::message::{sign, verify_and_decode, Charter, Content, Policy, Post, Profile};
use serde_json::{json, Value};

const SEED: [u8; 32] = [0x11; 32];
const SECRET: [u8; 32] = [0x22; 32];

fn vectors() -> Value {
    let secret = GroupSecret::from_bytes(SECRET);
    let group = secret.id();
    let me = MasterSeed::from_bytes(SEED).pseudonym(&group);
    let contents = [
        (
            1_700_000_000_000u64,
            Content::Charter(Charter {
                name: "book club".into(),
                founder: me.public(),
                admins: vec![me.public()],
                policy: Policy::default(),
            }),
        ),
        (
            1_700_000_001_000,
            Content::Profile(Profile {
                nickname: "ant".into(),
                bio: Some("reads a lot".into()),
            }),
        ),
        (
            1_700_000_002_000,
            Content::Post(Post {
                title: Some("Welcome".into()),
                text: "This month: Dune.".into(),
            }),
        ),
    ];
    let key = secret.content_key(0);
    let messages: Vec<Value> = contents
        .into_iter()
        .enumerate()
        .map(|(i, (created_at, content))| {
            let kind = content.kind();
            let signed = sign(&me, &group, created_at, content).unwrap();
            let nonce = [i as u8 + 1; 24];
            let envelope = seal_with_nonce(&key, &secret.topic(), 0, nonce, &signed.bytes);
            let body = body_of(&signed.bytes);
            json!({
                "kind": kind,
                "created_at": created_at,
                "author": signed.message.author.to_string(),
                "body": hex::encode(&body),
                "signed": hex::encode(&signed.bytes),
                "id": signed.message.id.to_string(),
                "nonce": hex::encode(nonce),
                "envelope": hex::encode(envelope),
            })
        })
        .collect();
    json!({
        "master_seed": hex::encode(SEED),
        "group_secret": hex::encode(SECRET),
        "group_id": group.to_string(),
        "topic": secret.topic(),
        "messages": messages,
    })
}

/// The `body` bstr of a signed-message map, found by decoding it generically.
fn body_of(signed: &[u8]) -> Vec<u8> {
    let value: ciborium::Value = ciborium::from_reader(signed).unwrap();
    let map = value.as_map().unwrap();
    let (_, body) = map
        .iter()
        .find(|(k, _)| k.as_text() == Some("body"))
        .unwrap();
    body.as_bytes().unwrap().clone()
}

#[test]
fn message_vectors_match() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/messages.json");
    let computed = vectors();
    if std::env::var("COVE_WRITE_VECTORS").as_deref() == Ok("1") {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&computed).unwrap() + "\n",
        )
        .unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        stored, computed,
        "docs/vectors/messages.json is out of date"
    );

    // The stored bytes decode, verify, and open, independently of how they were made.
    let secret = GroupSecret::from_bytes(SECRET);
    for m in stored["messages"].as_array().unwrap() {
        let signed = hex::decode(m["signed"].as_str().unwrap()).unwrap();
        let decoded = verify_and_decode(&signed).unwrap();
        assert_eq!(decoded.message.id.to_string(), m["id"].as_str().unwrap());
        let envelope = hex::decode(m["envelope"].as_str().unwrap()).unwrap();
        assert_eq!(
            open(&secret.content_key(0), &secret.topic(), &envelope).unwrap(),
            signed
        );
    }
}
