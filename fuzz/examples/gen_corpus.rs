//! Writes the seed corpora in `fuzz/corpus/<target>/` from the public API and the test vectors
//! in `docs/vectors/`, so every decoder starts from valid input: a signed message (and a
//! sealed envelope) of every message kind, every sync frame, every control request, and
//! invites in each of the `invite` target's input modes.
//!
//! ```sh
//! cd fuzz && cargo run --example gen_corpus
//! ```
//!
//! It is deterministic (fixed seeds, fixed nonces): running it again rewrites the same files.
//! It panics if a seed does not decode, so seeds stay in step with the decoders.

use std::fs;
use std::path::{Path, PathBuf};

use cove_crypto::{seal_with_nonce, GroupSecret, Invite, MasterSeed, Pseudonym};
use cove_node::control::parse_request;
use cove_node::message::{
    sign, verify_and_decode, Ad, Advertiser, Ban, Charter, Chat, Content, Edit, Grant, MessageId,
    Offer, Place, Policy, Post, Profile, Recommend, Reply, Revoke, Room, SignedMessage, Target,
    Targeting,
};
use cove_node::sync::{ErrorCode, Request, Response};
use data_encoding::BASE64URL_NOPAD;
use serde_json::Value;

/// Same group and member as `docs/vectors/messages.json`.
const GROUP_SECRET: [u8; 32] = [0x22; 32];
const MASTER_SEED: [u8; 32] = [0x11; 32];
const CREATED_AT: u64 = 1_700_000_000_000;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let docs = root.join("../docs/vectors");
    let corpus = root.join("corpus");

    let secret = GroupSecret::from_bytes(GROUP_SECRET);
    let group = secret.id();
    let me = MasterSeed::from_bytes(MASTER_SEED).pseudonym(&group);
    let bat = MasterSeed::from_bytes([0x12; 32]).pseudonym(&group);
    let advertiser = MasterSeed::from_bytes([0x33; 32]).pseudonym(&group);

    // One signed message of every kind (two ads: the richest and the smallest).
    let signed: Vec<(String, SignedMessage)> = contents(&me, &bat, &advertiser)
        .into_iter()
        .map(|(name, author, content)| {
            let kind = content.kind();
            let signed =
                sign(author, &group, CREATED_AT, content).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(verify_and_decode(&signed.bytes).as_ref(), Ok(&signed));
            (format!("{kind}-{name}"), signed)
        })
        .collect();
    let kinds: std::collections::BTreeSet<_> = signed
        .iter()
        .map(|(_, s)| s.message.content.kind())
        .collect();
    assert_eq!(
        kinds.len(),
        15,
        "a seed for each of the 15 kinds: {kinds:?}"
    );

    let messages_json = read_json(&docs.join("messages.json"));
    let vectors = messages_json["messages"]
        .as_array()
        .expect("messages array");

    // message: our signed messages and those of the vectors.
    let dir = target_dir(&corpus, "message");
    for (name, s) in &signed {
        write(&dir, name, &s.bytes);
    }
    for v in vectors {
        let bytes = hex_field(v, "signed");
        verify_and_decode(&bytes).expect("vector message verifies");
        write(
            &dir,
            &format!("vector-{}", v["kind"].as_str().unwrap()),
            &bytes,
        );
    }

    // message_body: the body of a message of every kind, all by `me` (the target signs bodies
    // as `me`, so a body naming another author would only fail the signature).
    let dir = target_dir(&corpus, "message_body");
    for (name, _, content) in contents(&me, &bat, &advertiser) {
        let kind = content.kind();
        let signed = sign(&me, &group, CREATED_AT, content).expect("seed content signs");
        write(&dir, &format!("{kind}-{name}"), &body_of(&signed.bytes));
    }

    // envelope: each signed message sealed for the group (epoch 0, one at epoch 3), a vector
    // envelope, and the plain messages for the raw `verify_and_decode` path.
    let dir = target_dir(&corpus, "envelope");
    let topic = secret.topic();
    assert_eq!(topic, messages_json["topic"].as_str().unwrap());
    for (i, (name, s)) in signed.iter().enumerate() {
        let nonce = [i as u8; 24];
        let sealed = seal_with_nonce(&secret.content_key(0), &topic, 0, nonce, &s.bytes);
        write(&dir, &format!("sealed-{name}"), &sealed);
        write(&dir, &format!("plain-{name}"), &s.bytes);
    }
    let (_, post) = &signed[2];
    let sealed = seal_with_nonce(&secret.content_key(3), &topic, 3, [0xee; 24], &post.bytes);
    write(&dir, "sealed-epoch-3-post", &sealed);
    write(&dir, "vector-charter", &hex_field(&vectors[0], "envelope"));

    // sync_frame: the vectors, plus frames with real content and the other error codes.
    let dir = target_dir(&corpus, "sync_frame");
    let sync_json = read_json(&docs.join("sync.json"));
    for f in sync_json["frames"].as_array().expect("frames array") {
        let name = f["name"].as_str().unwrap().replace(' ', "-");
        let bytes = hex_field(f, "cbor");
        assert!(Request::decode(&bytes).is_ok() || Response::decode(&bytes).is_ok());
        write(&dir, &format!("vector-{name}"), &bytes);
    }
    let ids: Vec<MessageId> = signed.iter().take(3).map(|(_, s)| s.message.id).collect();
    let frames = [
        (
            "request-fetch-3",
            Request::Fetch {
                topic: topic.clone(),
                proof: [0xab; 32],
                ids,
            }
            .encode(),
        ),
        (
            "response-messages-signed",
            Response::Messages {
                messages: signed
                    .iter()
                    .take(3)
                    .map(|(_, s)| s.bytes.clone())
                    .collect(),
            }
            .encode(),
        ),
        (
            "response-error-busy",
            Response::Error {
                code: ErrorCode::Busy,
            }
            .encode(),
        ),
        (
            "response-error-malformed",
            Response::Error {
                code: ErrorCode::Malformed,
            }
            .encode(),
        ),
    ];
    for (name, bytes) in frames {
        write(&dir, name, &bytes);
    }

    // control_request: every command, and the examples of docs/API.md.
    let dir = target_dir(&corpus, "control_request");
    for (i, line) in CONTROL_REQUESTS.iter().enumerate() {
        let request = parse_request(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let cmd: Value = serde_json::from_str(line).unwrap();
        let name = format!("{i:02}-{}", cmd["cmd"].as_str().unwrap());
        assert_eq!(
            parse_request(&serde_json::to_string(&request).unwrap()).unwrap(),
            request
        );
        write(&dir, &name, format!("{line}\n").as_bytes());
    }

    // invite: the vector (text mode), an invite carrying a real charter (lossy text mode),
    // and their CBOR payloads (framed mode: version byte + payload).
    let dir = target_dir(&corpus, "invite");
    let crypto_json = read_json(&docs.join("crypto.json"));
    let vector_invite = crypto_json["invite"]["invite"].as_str().unwrap();
    let charter = &signed[0].1;
    let ours = Invite {
        group_secret: secret.clone(),
        charter: charter.bytes.clone(),
        addrs: vec![
            "/ip4/127.0.0.1/tcp/4001".into(),
            "/ip4/127.0.0.1/udp/4001/quic-v1".into(),
        ],
        expires_at: 1_800_000_000,
    }
    .encode();
    for (name, text) in [("vector", vector_invite), ("charter", ours.as_str())] {
        Invite::decode_ignoring_expiry(text).expect("seed invite decodes");
        let raw = BASE64URL_NOPAD
            .decode(text.strip_prefix("cove:").unwrap().as_bytes())
            .unwrap();
        let framed = &raw[..raw.len() - 4]; // version || payload, without the checksum
        write(
            &dir,
            &format!("text-{name}"),
            &[&[0u8][..], text.as_bytes()].concat(),
        );
        write(
            &dir,
            &format!("lossy-{name}"),
            &[&[1u8][..], text.as_bytes()].concat(),
        );
        write(
            &dir,
            &format!("framed-{name}"),
            &[&[2u8][..], framed].concat(),
        );
    }
    println!("corpora written to {}", corpus.display());
}

/// `(seed name, author, content)` for every kind.
fn contents<'a>(
    me: &'a Pseudonym,
    bat: &'a Pseudonym,
    advertiser: &'a Pseudonym,
) -> Vec<(&'static str, &'a Pseudonym, Content)> {
    let id = |b: u8| MessageId([b; 32]);
    let place = Place {
        name: "Café Nord".into(),
        address: "1 Harbour St".into(),
        lat: Some(59.91),
        lon: Some(-10.75),
    };
    vec![
        (
            "founder",
            me,
            Content::Charter(Charter {
                name: "book club".into(),
                founder: me.public(),
                admins: vec![me.public(), bat.public()],
                policy: Policy::default(),
            }),
        ),
        (
            "bio",
            me,
            Content::Profile(Profile {
                nickname: "ant".into(),
                bio: Some("reads sci-fi".into()),
            }),
        ),
        (
            "titled",
            me,
            Content::Post(Post {
                title: Some("Welcome".into()),
                text: "This month: Dune.".into(),
            }),
        ),
        (
            "nested",
            bat,
            Content::Reply(Reply {
                root: id(1),
                parent: id(2),
                text: "agreed".into(),
            }),
        ),
        (
            "titled",
            me,
            Content::Edit(Edit {
                target: id(1),
                title: Some("Welcome!".into()),
                text: "This month: Dune Messiah.".into(),
            }),
        ),
        ("own", me, Content::Delete(Target { target: id(3) })),
        (
            "general",
            me,
            Content::Room(Room {
                name: "general".into(),
            }),
        ),
        (
            "line",
            bat,
            Content::Chat(Chat {
                room: id(4),
                text: "hi all 👋".into(),
            }),
        ),
        (
            "withdrawn",
            bat,
            Content::Recommend(Recommend {
                target: id(1),
                active: false,
            }),
        ),
        (
            "member",
            me,
            Content::Ban(Ban {
                member: bat.public(),
                active: true,
            }),
        ),
        ("post", me, Content::Remove(Target { target: id(5) })),
        (
            "coffee",
            me,
            Content::Grant(Grant {
                advertiser: advertiser.public(),
                name: "Café Nord".into(),
                not_before: CREATED_AT,
                not_after: CREATED_AT + 86_400_000,
                daily_quota: 3,
                targeting: vec!["interest:coffee".into(), "area:harbour".into()],
            }),
        ),
        ("grant", me, Content::Revoke(Revoke { grant: id(6) })),
        (
            "cafe",
            advertiser,
            Content::Advertiser(Advertiser {
                name: "Café Nord".into(),
                place: place.clone(),
                contact: "+47 555 0100".into(),
            }),
        ),
        (
            "offer",
            advertiser,
            Content::Ad(Ad {
                grant: id(6),
                title: "Two for one".into(),
                body: "Any coffee, this week.".into(),
                targeting: Targeting {
                    any: Some(vec![
                        key("interest:coffee"),
                        Targeting {
                            all: Some(vec![key("area:harbour"), key("interest:tea")]),
                            ..Targeting::default()
                        },
                    ]),
                    ..Targeting::default()
                },
                offer: Some(Offer {
                    place,
                    coupon: Some("NORD2X1".into()),
                    valid_until: CREATED_AT + 86_400_000,
                }),
            }),
        ),
        (
            "everyone",
            advertiser,
            Content::Ad(Ad {
                grant: id(6),
                title: "Open late".into(),
                body: "Until 23:00 on Fridays.".into(),
                targeting: Targeting {
                    all: Some(vec![]),
                    ..Targeting::default()
                },
                offer: None,
            }),
        ),
    ]
}

fn key(k: &str) -> Targeting {
    Targeting {
        key: Some(k.into()),
        ..Targeting::default()
    }
}

/// One line per control command (docs/API.md), the last three being its examples.
const CONTROL_REQUESTS: &[&str] = &[
    r#"{"cmd":"create_group","name":"book club"}"#,
    r#"{"cmd":"invite","group":"book club","ttl_secs":86400}"#,
    r#"{"cmd":"join","invite":"cove:AaRmc2VjcmV0WCAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4_QGdjaGFydGVy"}"#,
    r#"{"cmd":"groups"}"#,
    r#"{"cmd":"peers"}"#,
    r#"{"cmd":"status"}"#,
    r#"{"cmd":"sync","group":null}"#,
    r#"{"cmd":"block","peer":"12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN","secs":600}"#,
    r#"{"cmd":"shutdown"}"#,
    r#"{"cmd":"post","group":"book club","title":"Welcome","text":"This month: Dune."}"#,
    r#"{"cmd":"show","id":"dad215f722091303d74848cfe8c0f5bfc09965d729f0d1a2b1e7dee6a1782aa6"}"#,
    r#"{"cmd":"reply","to":"dad215f7","text":"agreed"}"#,
    r#"{"cmd":"thread","id":"dad215f7"}"#,
    r#"{"cmd":"edit","id":"dad215f7","title":null,"text":"fixed"}"#,
    r#"{"cmd":"delete","id":"dad215f7"}"#,
    r#"{"cmd":"set_profile","group":"book club","nickname":"ant","bio":"reads sci-fi"}"#,
    r#"{"cmd":"profiles","member":"84a45db048b9c09a840b4bcb43a5f0bf56539f9744011971c44e7e6fc4de2f41"}"#,
    r#"{"cmd":"room_create","name":"general"}"#,
    r#"{"cmd":"rooms","group":"book club"}"#,
    r#"{"cmd":"say","room":"general","text":"hi all"}"#,
    r#"{"cmd":"chat_history","group":null,"room":"general","limit":50}"#,
    r#"{"cmd":"resolve_room","room":"general"}"#,
    r#"{"cmd":"admin_ban","member":"84a45db048b9c09a840b4bcb43a5f0bf56539f9744011971c44e7e6fc4de2f41","undo":true}"#,
    r#"{"cmd":"admin_remove","id":"dad215f7"}"#,
    r#"{"cmd":"admin_list"}"#,
    r#"{"cmd":"mute","member":"84a45db0","undo":false}"#,
    r#"{"cmd":"grant_advertiser","key":"84a45db048b9c09a840b4bcb43a5f0bf56539f9744011971c44e7e6fc4de2f41","name":"Café Nord","not_before":1700000000000,"not_after":1700086400000,"daily_quota":3,"targeting":["interest:coffee"]}"#,
    r#"{"cmd":"revoke_advertiser","grant_or_key":"dad215f7"}"#,
    r#"{"cmd":"grants"}"#,
    r#"{"cmd":"advertiser_profile","profile":{"name":"Café Nord","place":{"name":"Café Nord","address":"1 Harbour St","lat":59.91,"lon":10.75},"contact":"+47 555 0100"}}"#,
    r#"{"cmd":"ad_publish","title":"Two for one","body":"Any coffee.","targeting":{"any":[{"key":"interest:coffee"},{"all":[{"key":"area:harbour"}]}]},"offer":{"place":{"name":"Café Nord","address":"1 Harbour St"},"coupon":"NORD2X1","valid_until":1700086400000}}"#,
    r#"{"cmd":"ads","group":"book club"}"#,
    r#"{"cmd":"ad_show","id":"dad215f7"}"#,
    r#"{"cmd":"interests","add":["interest:coffee"],"remove":["interest:tea"]}"#,
    r#"{"cmd":"ranked","group":"book club","order":"hot","window_secs":86400,"limit":10,"explain":true}"#,
    r#"{"cmd":"recommend","id":"5f0c…","undo":false}"#,
    r#"{"cmd":"watch","room":"general"}"#,
];

/// The `body` byte string of a signed message's `{"v", "body", "sig"}` map.
fn body_of(signed: &[u8]) -> Vec<u8> {
    let wire: ciborium::Value = ciborium::from_reader(signed).expect("a signed message is CBOR");
    wire.as_map()
        .and_then(|m| m.iter().find(|(k, _)| k.as_text() == Some("body")))
        .and_then(|(_, v)| v.as_bytes().cloned())
        .expect("a body byte string")
}

fn target_dir(corpus: &Path, target: &str) -> PathBuf {
    let dir = corpus.join(target);
    fs::create_dir_all(&dir).expect("create corpus dir");
    dir
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::write(dir.join(name), bytes).expect("write seed");
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn hex_field(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(v[field].as_str().unwrap_or_else(|| panic!("no {field}"))).expect("hex")
}
