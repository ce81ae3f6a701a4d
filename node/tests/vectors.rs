//! Message test vectors: `docs/vectors/messages.json` must match what this code produces, and
//! must decode and verify. `COVE_WRITE_VECTORS=1` rewrites the file.

use ciborium::Value as Cbor;
use cove_crypto::{
    open, seal_with_nonce, Domain, EpochSecret, GroupId, GroupSecret, MasterSeed, MemberKey,
    Pseudonym, Rekeying,
};
use cove_node::core::Rejection;
use cove_node::message::{
    sign, sign_in, verify_and_decode, Ad, Admit, Advertiser, Amend, Ban, Charter, Chat, Content,
    Edit, Grant, Member, MessageId, Offer, Package, Place, Policy, Post, Profile, Recommend, Rekey,
    Reply, Revoke, Room, Target, Targeting, Ticket, Uninvite,
};
use serde_json::{json, Value};

const SEED: [u8; 32] = [0x11; 32];
const SECRET: [u8; 32] = [0x22; 32];
/// The message id the referring kinds point at (any 32 bytes do for a vector).
const TARGET: MessageId = MessageId([0x33; 32]);
/// The master seed of the member the `ban` vector bans.
const BANNED_SEED: [u8; 32] = [0x44; 32];
/// The advertiser's Ed25519 secret key (RFC 8032 seed), named by the `grant` vector and
/// signing the `advertiser` and `ad` vectors.
const ADVERTISER_SECRET: [u8; 32] = [0x55; 32];

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
        (
            1_700_000_003_000,
            Content::Reply(Reply {
                root: TARGET,
                parent: TARGET,
                text: "Loved it.".into(),
            }),
        ),
        (
            1_700_000_004_000,
            Content::Edit(Edit {
                target: TARGET,
                title: None,
                text: "This month: Dune, part one.".into(),
            }),
        ),
        (
            1_700_000_005_000,
            Content::Delete(Target { target: TARGET }),
        ),
        (
            1_700_000_006_000,
            Content::Room(Room {
                name: "general".into(),
            }),
        ),
        (
            1_700_000_007_000,
            Content::Chat(Chat {
                room: TARGET,
                text: "hi all".into(),
            }),
        ),
        (
            1_700_000_008_000,
            Content::Recommend(Recommend {
                target: TARGET,
                active: true,
            }),
        ),
        (
            1_700_000_009_000,
            Content::Ban(Ban {
                member: MasterSeed::from_bytes(BANNED_SEED)
                    .pseudonym(&group)
                    .public(),
                active: true,
            }),
        ),
        (
            1_700_000_010_000,
            Content::Remove(Target { target: TARGET }),
        ),
        (
            1_700_000_011_000,
            Content::Grant(Grant {
                advertiser: Pseudonym::from_secret_bytes(ADVERTISER_SECRET).public(),
                name: "Bean There".into(),
                not_before: 1_700_000_000_000,
                not_after: 1_800_000_000_000,
                daily_quota: 3,
                targeting: vec!["interest:coffee".into(), "area:gangnam".into()],
            }),
        ),
        (1_700_000_012_000, Content::Revoke(Revoke { grant: TARGET })),
    ];
    // Signed by the advertiser key, not the member pseudonym.
    let shop = Pseudonym::from_secret_bytes(ADVERTISER_SECRET);
    let place = Place {
        name: "Bean There".into(),
        address: "1 Main St".into(),
        lat: Some(37.4979),
        lon: Some(127.0276),
    };
    let advertiser_contents = [
        (
            1_700_000_013_000u64,
            Content::Advertiser(Advertiser {
                name: "Bean There".into(),
                place: place.clone(),
                contact: "+82 2 000 0000".into(),
            }),
        ),
        (
            1_700_000_014_000,
            Content::Ad(Ad {
                grant: TARGET,
                title: "Latte".into(),
                body: "Two for one".into(),
                targeting: Targeting {
                    any: Some(vec![
                        Targeting {
                            key: Some("interest:coffee".into()),
                            ..Default::default()
                        },
                        Targeting {
                            key: Some("area:gangnam".into()),
                            ..Default::default()
                        },
                    ]),
                    ..Default::default()
                },
                offer: Some(Offer {
                    place,
                    coupon: Some("LATTE2".into()),
                    valid_until: 1_700_086_400_000,
                }),
            }),
        ),
    ];
    let key = secret.content_key(0);
    let signers = std::iter::repeat_n(&me, contents.len()).chain(std::iter::repeat(&shop));
    let messages: Vec<Value> = contents
        .into_iter()
        .chain(advertiser_contents)
        .zip(signers)
        .enumerate()
        .map(|(i, ((created_at, content), signer))| {
            let kind = content.kind();
            let signed = sign(signer, &group, created_at, content).unwrap();
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
    let post = sign(
        &me,
        &group,
        1_700_000_002_000,
        Content::Post(Post {
            title: Some("Welcome".into()),
            text: "This month: Dune.".into(),
        }),
    )
    .unwrap();
    json!({
        "master_seed": hex::encode(SEED),
        "group_secret": hex::encode(SECRET),
        "group_id": group.to_string(),
        "topic": secret.topic(),
        "banned_member_seed": hex::encode(BANNED_SEED),
        "banned_member": MasterSeed::from_bytes(BANNED_SEED).pseudonym(&group).public().to_string(),
        "advertiser_secret_key": hex::encode(ADVERTISER_SECRET),
        "advertiser_key": shop.public().to_string(),
        "messages": messages,
        "rejected": rejected(&me, &post.bytes),
        "epochs": epoch_vectors(&secret, &group, &me),
        "amend": amend_vector(&secret, &group, &me),
        "tickets": ticket_vectors(&secret, &group, &me),
    })
}

/// A message vector: its kind, date, body, signed bytes, id, and envelope with its nonce.
fn sealed_json(
    signed: &cove_node::message::SignedMessage,
    nonce: [u8; 24],
    envelope: &[u8],
) -> Value {
    json!({
        "kind": signed.message.content.kind(),
        "created_at": signed.message.created_at,
        "body": hex::encode(body_of(&signed.bytes)),
        "signed": hex::encode(&signed.bytes),
        "id": signed.message.id.to_string(),
        "nonce": hex::encode(nonce),
        "envelope": hex::encode(envelope),
    })
}

/// The ticket key of the `ticket` vector (its public key is the ticket's id).
const TICKET_KEY: [u8; 32] = [0x55; 32];

/// §17's records, sealed in the first epoch (nonces `41` × 24 and on): a `ticket` for two
/// newcomers with its proof, an `admit` of the banned-member vector's pseudonym with it, and
/// an `uninvite` of it.
fn ticket_vectors(secret: &GroupSecret, group: &GroupId, me: &Pseudonym) -> Value {
    let key = cove_crypto::TicketKey::from_bytes(TICKET_KEY);
    let (uses, expires) = (2, 1_700_604_800);
    let proof = key.sign(
        Domain::Ticket,
        &Ticket::proof_bytes(group, &me.public(), uses, expires),
    );
    let ticket = sign(
        me,
        group,
        1_700_000_040_000,
        Content::Ticket(Ticket {
            id: key.id(),
            uses,
            expires,
            proof: proof.to_bytes().to_vec(),
        }),
    )
    .unwrap();
    let newcomer = MasterSeed::from_bytes(BANNED_SEED)
        .pseudonym(group)
        .public();
    let admit = sign(
        me,
        group,
        1_700_000_041_000,
        Content::Admit(Admit {
            ticket: ticket.message.id,
            member: newcomer,
        }),
    )
    .unwrap();
    let uninvite = sign(
        me,
        group,
        1_700_000_042_000,
        Content::Uninvite(Uninvite {
            ticket: ticket.message.id,
        }),
    )
    .unwrap();
    let messages: Vec<Value> = [ticket, admit, uninvite]
        .iter()
        .enumerate()
        .map(|(i, signed)| {
            let nonce = [0x41 + i as u8; 24];
            let envelope = seal_with_nonce(
                &secret.content_key(0),
                &secret.topic(),
                0,
                nonce,
                &signed.bytes,
            );
            sealed_json(signed, nonce, &envelope)
        })
        .collect();
    json!({
        "ticket_key": hex::encode(TICKET_KEY),
        "ticket_id": key.id().to_string(),
        "proof_bytes": hex::encode(Ticket::proof_bytes(group, &me.public(), uses, expires)),
        "messages": messages,
    })
}

/// §16: the founder adds the banned-member seed's pseudonym as an admin and changes the
/// policy, following the charter vector (sealed in the first epoch, nonce `31` × 24).
fn amend_vector(secret: &GroupSecret, group: &GroupId, me: &Pseudonym) -> Value {
    let charter = sign(
        me,
        group,
        1_700_000_000_000,
        Content::Charter(Charter {
            name: "book club".into(),
            founder: me.public(),
            admins: vec![me.public()],
            policy: Policy::default(),
        }),
    )
    .unwrap();
    let other = MasterSeed::from_bytes(BANNED_SEED)
        .pseudonym(group)
        .public();
    let amend = Content::Amend(Amend {
        prev: charter.message.id,
        founder: me.public(),
        admins: vec![me.public(), other],
        policy: Policy {
            max_future_skew_secs: 60,
            rate_limit: None,
            ..Policy::default()
        },
    });
    let signed = sign(me, group, 1_700_000_030_000, amend).unwrap();
    let nonce = [0x31; 24];
    let envelope = seal_with_nonce(
        &secret.content_key(0),
        &secret.topic(),
        0,
        nonce,
        &signed.bytes,
    );
    json!({
        "prev": charter.message.id.to_string(),
        "created_at": 1_700_000_030_000u64,
        "body": hex::encode(body_of(&signed.bytes)),
        "signed": hex::encode(&signed.bytes),
        "id": signed.message.id.to_string(),
        "nonce": hex::encode(nonce),
        "envelope": hex::encode(envelope),
    })
}

/// The epoch secret of the `rekey` vector, and the ephemeral secret it wraps it with.
const EPOCH_SECRET: [u8; 32] = [0x77; 32];
const EPHEMERAL_SECRET: [u8; 32] = [0x66; 32];

/// §15's messages: the member's `member` record and a `rekey` to epoch 1 (both sealed in the
/// first epoch, nonces `21` × 24 and `22` × 24), then a `post` signed for epoch 1 (its body
/// names the epoch's tag) and sealed under epoch 1's content key (nonce `23` × 24).
fn epoch_vectors(secret: &GroupSecret, group: &GroupId, me: &Pseudonym) -> Value {
    let epoch = EpochSecret::from_bytes(EPOCH_SECRET);
    let member_key = MemberKey::derive(&MasterSeed::from_bytes(SEED), group);
    let rekeying = Rekeying::from_ephemeral(EPHEMERAL_SECRET);
    let package = rekeying
        .wrap(&epoch, &me.public(), &member_key.public(), group)
        .unwrap();
    let messages = [
        (
            0,
            1_700_000_020_000,
            Content::Member(Member {
                key: member_key.public().to_vec(),
            }),
        ),
        (
            0,
            1_700_000_021_000,
            Content::Rekey(Rekey {
                number: 1,
                tag: epoch.tag(),
                ephemeral: rekeying.public().to_vec(),
                packages: vec![Package {
                    to: me.public(),
                    key: package.to_vec(),
                }],
            }),
        ),
        (
            epoch.tag(),
            1_700_000_022_000,
            Content::Post(Post {
                title: None,
                text: "Sealed in epoch 1.".into(),
            }),
        ),
    ];
    let vectors: Vec<Value> = messages
        .into_iter()
        .enumerate()
        .map(|(i, (tag, created_at, content))| {
            let signed = sign_in(me, group, tag, created_at, content).unwrap();
            let key = if tag == 0 {
                secret.content_key(0)
            } else {
                epoch.content_key()
            };
            let nonce = [0x21 + i as u8; 24];
            let envelope = seal_with_nonce(&key, &secret.topic(), tag, nonce, &signed.bytes);
            let mut vector = sealed_json(&signed, nonce, &envelope);
            vector["epoch"] = json!(tag);
            vector
        })
        .collect();
    json!({
        "epoch_secret": hex::encode(EPOCH_SECRET),
        "epoch_tag": epoch.tag(),
        "ephemeral_secret": hex::encode(EPHEMERAL_SECRET),
        "member_key": hex::encode(member_key.public()),
        "messages": vectors,
    })
}

/// Encodings of the `post` vector that a decoder must refuse (§8.4), with the counter each
/// lands on (§9). Those that change the body are re-signed by its author, so only the
/// encoding is wrong.
fn rejected(me: &Pseudonym, signed: &[u8]) -> Vec<Value> {
    let cat = |parts: &[&[u8]]| parts.concat();
    // Cove's signed map starts a3 61 76 01 ("v": 1), then "sig", then "body".
    assert_eq!(&signed[..4], [0xa3, 0x61, 0x76, 0x01]);
    let rest = &signed[4..];
    let resign = |body: Vec<u8>| {
        let sig = me.sign(Domain::Message, &body).to_bytes().to_vec();
        cbor(&Cbor::Map(vec![
            (Cbor::Text("v".into()), Cbor::Integer(1.into())),
            (Cbor::Text("sig".into()), Cbor::Bytes(sig)),
            (Cbor::Text("body".into()), Cbor::Bytes(body)),
        ]))
    };
    let body = body_of(signed);
    let Cbor::Map(fields) = ciborium::from_reader::<Cbor, _>(body.as_slice()).unwrap() else {
        panic!("body is a map")
    };
    let get = |name: &str| {
        let (k, v) = fields
            .iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .unwrap();
        (k.clone(), v.clone())
    };
    let table_order = Cbor::Map(
        ["group", "author", "kind", "created_at", "content"]
            .map(get)
            .to_vec(),
    );
    let text_as_bytes = Cbor::Map(
        fields
            .iter()
            .map(|(k, v)| match (k.as_text(), v) {
                (Some("content"), Cbor::Map(content)) => (
                    k.clone(),
                    Cbor::Map(
                        content
                            .iter()
                            .map(|(ck, cv)| match (ck.as_text(), cv) {
                                (Some("text"), Cbor::Text(t)) => {
                                    (ck.clone(), Cbor::Bytes(t.clone().into_bytes()))
                                }
                                _ => (ck.clone(), cv.clone()),
                            })
                            .collect(),
                    ),
                ),
                _ => (k.clone(), v.clone()),
            })
            .collect(),
    );
    assert_eq!(body[0], 0xa5);
    let cases: [(&str, Vec<u8>, &str); 7] = [
        (
            "outer map of indefinite length",
            cat(&[&[0xbf], &signed[1..], &[0xff]]),
            "non_canonical",
        ),
        (
            "outer v written in two bytes (18 01)",
            cat(&[&[0xa3, 0x61, 0x76, 0x18, 0x01], rest]),
            "non_canonical",
        ),
        (
            "outer map with an unknown key \"pad\" (the id would not change)",
            cat(&[
                &[0xa4, 0x61, 0x76, 0x01, 0x63, b'p', b'a', b'd', 0x40],
                rest,
            ]),
            "malformed",
        ),
        (
            "outer map with the key \"v\" twice",
            cat(&[&[0xa4, 0x61, 0x76, 0x01, 0x61, 0x76, 0x01], rest]),
            "non_canonical",
        ),
        (
            "body keys in the order of the table in 8.2, not sorted (re-signed)",
            resign(cbor(&table_order)),
            "non_canonical",
        ),
        (
            "body map length in two bytes (b8 05, re-signed)",
            resign(cat(&[&[0xb8, 0x05], &body[1..]])),
            "non_canonical",
        ),
        (
            "post text as a byte string (re-signed)",
            resign(canonical(&text_as_bytes)),
            "invalid_content",
        ),
    ];
    cases
        .into_iter()
        .map(|(name, bytes, reason)| {
            json!({ "name": name, "signed": hex::encode(bytes), "reason": reason })
        })
        .collect()
}

fn cbor(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).unwrap();
    out
}

/// `value` with every map's keys sorted by their encodings (§8.4).
fn canonical(value: &Cbor) -> Vec<u8> {
    fn sort(value: &mut Cbor) {
        match value {
            Cbor::Map(entries) => {
                entries.iter_mut().for_each(|(k, v)| {
                    sort(k);
                    sort(v)
                });
                entries.sort_by_cached_key(|(k, _)| cbor(k));
            }
            Cbor::Array(items) => items.iter_mut().for_each(sort),
            _ => {}
        }
    }
    let mut value = value.clone();
    sort(&mut value);
    cbor(&value)
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

/// `docs/vectors/FILE` as stored, which must equal `computed` (written first with
/// `COVE_WRITE_VECTORS=1`).
fn checked(file: &str, computed: Value) -> Value {
    let path = format!("{}/../docs/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var("COVE_WRITE_VECTORS").as_deref() == Ok("1") {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&computed).unwrap() + "\n",
        )
        .unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(stored, computed, "docs/vectors/{file} is out of date");
    stored
}

#[test]
fn message_vectors_match() {
    let stored = checked("messages.json", vectors());

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
        // Every accepted vector is already in its deterministic encoding (§8.4).
        let value: Cbor = ciborium::from_reader(signed.as_slice()).unwrap();
        assert_eq!(canonical(&value), signed);
    }
    // §15: the epoch's messages name their epoch in the body and open under its key.
    let epoch = EpochSecret::from_bytes(EPOCH_SECRET);
    for m in stored["epochs"]["messages"].as_array().unwrap() {
        let signed = hex::decode(m["signed"].as_str().unwrap()).unwrap();
        let decoded = verify_and_decode(&signed).unwrap();
        assert_eq!(
            u64::from(decoded.message.epoch),
            m["epoch"].as_u64().unwrap()
        );
        let key = match decoded.message.epoch {
            0 => secret.content_key(0),
            tag => {
                assert_eq!(tag, epoch.tag());
                epoch.content_key()
            }
        };
        let envelope = hex::decode(m["envelope"].as_str().unwrap()).unwrap();
        assert_eq!(open(&key, &secret.topic(), &envelope).unwrap(), signed);
    }
    // §16: the amendment follows the charter vector and opens in the first epoch.
    let amend = &stored["amend"];
    let signed = hex::decode(amend["signed"].as_str().unwrap()).unwrap();
    let decoded = verify_and_decode(&signed).unwrap();
    let Content::Amend(a) = &decoded.message.content else {
        panic!("an amend")
    };
    assert_eq!(
        a.prev.to_string(),
        stored["messages"][0]["id"].as_str().unwrap()
    );
    let envelope = hex::decode(amend["envelope"].as_str().unwrap()).unwrap();
    assert_eq!(
        open(&secret.content_key(0), &secret.topic(), &envelope).unwrap(),
        signed
    );
    // §17: the ticket records decode and verify, and the ticket's proof verifies under its id.
    let tickets = &stored["tickets"];
    for m in tickets["messages"].as_array().unwrap() {
        let signed = hex::decode(m["signed"].as_str().unwrap()).unwrap();
        let decoded = verify_and_decode(&signed).unwrap();
        if let Content::Ticket(t) = &decoded.message.content {
            let proof = cove_crypto::Signature::from_slice(&t.proof).unwrap();
            let bytes = hex::decode(tickets["proof_bytes"].as_str().unwrap()).unwrap();
            t.id.verify(Domain::Ticket, &bytes, &proof).unwrap();
        }
        let envelope = hex::decode(m["envelope"].as_str().unwrap()).unwrap();
        assert_eq!(
            open(&secret.content_key(0), &secret.topic(), &envelope).unwrap(),
            signed
        );
    }
    // Every refused encoding is refused, on the counter the file names.
    let rejected = stored["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 7);
    for r in rejected {
        let bytes = hex::decode(r["signed"].as_str().unwrap()).unwrap();
        let error = verify_and_decode(&bytes).expect_err(r["name"].as_str().unwrap());
        assert_eq!(
            Rejection::BadMessage(error).reason(),
            r["reason"].as_str().unwrap(),
            "{}",
            r["name"]
        );
    }
}

fn sync_vectors() -> Value {
    use cove_node::sync::{
        AdmitRequest, EpochsRequest, ErrorCode, Request, Response, WelcomeEpoch,
    };
    let topic = GroupSecret::from_bytes(SECRET).topic();
    let frames = [
        (
            "request hello",
            Request::Hello {
                topic: topic.clone(),
                nonce: [0xa5; 32],
                epoch: 0,
            }
            .encode(),
        ),
        (
            "request hello in an epoch",
            Request::Hello {
                topic: topic.clone(),
                nonce: [0xa5; 32],
                epoch: 0x0102_0304,
            }
            .encode(),
        ),
        (
            "request reconcile",
            Request::Reconcile {
                topic: topic.clone(),
                proof: [0xab; 32],
                since: 1_700_000_000_000,
                msg: vec![0x61, 0x00, 0x00],
            }
            .encode(),
        ),
        (
            "request fetch",
            Request::Fetch {
                topic,
                proof: [0xab; 32],
                ids: vec![MessageId([0x01; 32]), MessageId([0x02; 32])],
            }
            .encode(),
        ),
        (
            "response challenge",
            Response::Challenge {
                nonce: [0x5a; 32],
                proof: [0xcd; 32],
            }
            .encode(),
        ),
        (
            "response reconcile",
            Response::Reconcile { msg: vec![0x61] }.encode(),
        ),
        (
            "response messages",
            Response::Messages {
                messages: vec![vec![0xa3, 0x61], vec![0xa0]],
            }
            .encode(),
        ),
        (
            "response error",
            Response::Error {
                code: ErrorCode::Unauthorized,
            }
            .encode(),
        ),
        (
            "request admit",
            Request::Admit(AdmitRequest {
                group: [0x01; 32],
                ticket: [0x02; 32],
                member: [0x03; 32],
                key: [0x04; 32],
                proof: [0x05; 64],
                sig: [0x06; 64],
            })
            .encode(),
        ),
        (
            "request epochs",
            Request::Epochs(EpochsRequest {
                group: [0x01; 32],
                member: [0x03; 32],
                epoch: 1,
                at: 1_764_662_400_000,
                sig: [0x06; 64],
            })
            .encode(),
        ),
        (
            "response welcome",
            Response::Welcome {
                ephemeral: [0x07; 32],
                secret: vec![0x08; 48],
                epochs: vec![WelcomeEpoch {
                    number: 1,
                    tag: 0x0102_0304,
                    key: vec![0x09; 48],
                }],
                addrs: Vec::new(),
            }
            .encode(),
        ),
        (
            "response welcome with addrs",
            Response::Welcome {
                ephemeral: [0x07; 32],
                secret: vec![0x08; 48],
                epochs: Vec::new(),
                addrs: vec![
                    "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
                        .into(),
                ],
            }
            .encode(),
        ),
        (
            "response error spent",
            Response::Error {
                code: ErrorCode::Spent,
            }
            .encode(),
        ),
    ];
    json!({
        "description": "Sync frames (docs/PROTOCOL.md section 13.2) as CBOR, hex. Message bytes inside `messages` are arbitrary here.",
        "frames": frames.iter().map(|(name, bytes)| json!({ "name": name, "cbor": hex::encode(bytes) })).collect::<Vec<_>>(),
    })
}

#[test]
fn sync_frame_vectors_match() {
    use cove_node::sync::{Request, Response};
    let stored = checked("sync.json", sync_vectors());
    for frame in stored["frames"].as_array().unwrap() {
        let bytes = hex::decode(frame["cbor"].as_str().unwrap()).unwrap();
        let name = frame["name"].as_str().unwrap();
        if name.starts_with("request") {
            assert_eq!(Request::decode(&bytes).unwrap().encode(), bytes, "{name}");
        } else {
            assert_eq!(Response::decode(&bytes).unwrap().encode(), bytes, "{name}");
        }
    }
}

/// The device key of the address-record vectors (its peer key in the group signs them).
const DEVICE: [u8; 32] = [0x66; 32];

fn addr_vectors() -> Value {
    use cove_node::addr_record::{addr_topic, door_topic, sign_record, sign_record_as, Kind};
    let secret = GroupSecret::from_bytes(SECRET);
    let group = secret.id();
    let peer_secret = cove_crypto::DeviceKey::from_bytes(DEVICE).peer_secret(&group);
    let peer_key = Pseudonym::from_secret_bytes(peer_secret);
    let addrs: Vec<cove_gossip::Multiaddr> =
        ["/ip4/192.0.2.7/tcp/41002", "/ip6/2001:db8::7/tcp/41002"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
    let at = 1_764_662_400_000u64;
    let signed = sign_record(&peer_key, &group, &addrs, at);
    let body = body_of(&signed.bytes);
    let topic = addr_topic(&secret.topic());
    let nonce = [0x01; 24];
    let envelope = seal_with_nonce(&secret.content_key(0), &topic, 0, nonce, &signed.bytes);
    // The same peer's door record (§10.1, §10.3): the door's address, its own domain and topic.
    let door_addrs: Vec<cove_gossip::Multiaddr> = vec!["/ip4/192.0.2.7/tcp/41003".parse().unwrap()];
    let door = sign_record_as(Kind::Door, &peer_key, &group, &door_addrs, at);
    let door_body = body_of(&door.bytes);
    let door_envelope = seal_with_nonce(
        &secret.content_key(0),
        &door_topic(&secret.topic()),
        0,
        nonce,
        &door.bytes,
    );

    // Refused records, each with the counter it lands on (PROTOCOL.md §10.1).
    let body_map = |at: u64, addrs: Vec<&str>, group: &[u8]| {
        Cbor::Map(vec![
            (Cbor::Text("at".into()), Cbor::Integer(at.into())),
            (
                Cbor::Text("peer".into()),
                Cbor::Bytes(peer_key.public().as_bytes().to_vec()),
            ),
            (
                Cbor::Text("addrs".into()),
                Cbor::Array(addrs.into_iter().map(|a| Cbor::Text(a.into())).collect()),
            ),
            (Cbor::Text("group".into()), Cbor::Bytes(group.to_vec())),
        ])
    };
    let wrap = |v: u64, body: &[u8], signer: &Pseudonym| {
        let sig = signer.sign(Domain::AddrRecord, body).to_bytes().to_vec();
        canonical(&Cbor::Map(vec![
            (Cbor::Text("v".into()), Cbor::Integer(v.into())),
            (Cbor::Text("sig".into()), Cbor::Bytes(sig)),
            (Cbor::Text("body".into()), Cbor::Bytes(body.to_vec())),
        ]))
    };
    let pseudonym = MasterSeed::from_bytes(SEED).pseudonym(&group);
    let good = canonical(&body_map(
        at,
        vec!["/ip4/192.0.2.7/tcp/41002"],
        group.as_bytes(),
    ));
    let cases = [
        ("signed by the member's pseudonym, not the peer key", wrap(1, &good, &pseudonym), "addr_bad_signature"),
        ("version 2", wrap(2, &good, &peer_key), "addr_unsupported_version"),
        (
            "an address naming a peer id",
            wrap(
                1,
                &canonical(&body_map(
                    at,
                    vec!["/ip4/192.0.2.7/tcp/41002/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"],
                    group.as_bytes(),
                )),
                &peer_key,
            ),
            "addr_malformed",
        ),
        ("no address", wrap(1, &canonical(&body_map(at, vec![], group.as_bytes())), &peer_key), "addr_malformed"),
        (
            "body keys in reverse order",
            wrap(1, &cbor(&reversed(body_map(at, vec!["/ip4/192.0.2.7/tcp/41002"], group.as_bytes()))), &peer_key),
            "addr_non_canonical",
        ),
    ];
    json!({
        "description": "Address records (docs/PROTOCOL.md section 10.1). The peer key is the device key's peer secret key in the group (section 2).",
        "group_secret": hex::encode(SECRET),
        "device_key": hex::encode(DEVICE),
        "peer_secret_key": hex::encode(peer_secret),
        "peer_public_key": hex::encode(peer_key.public().as_bytes()),
        "peer_id": signed.record.peer.to_string(),
        "at": at,
        "addrs": addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "body": hex::encode(&body),
        "preimage": hex::encode([Domain::AddrRecord.prefix(), &body].concat()),
        "record": hex::encode(&signed.bytes),
        "addr_topic": topic,
        "nonce": hex::encode(nonce),
        "envelope": hex::encode(&envelope),
        "door_record": {
            "addrs": door_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "body": hex::encode(&door_body),
            "preimage": hex::encode([Domain::DoorRecord.prefix(), &door_body].concat()),
            "record": hex::encode(&door.bytes),
            "door_topic": door_topic(&secret.topic()),
            "envelope": hex::encode(&door_envelope),
        },
        "rejected": cases.iter().map(|(name, bytes, reason)| json!({ "name": name, "record": hex::encode(bytes), "reason": reason })).collect::<Vec<_>>(),
    })
}

/// A map with its keys in reverse order.
fn reversed(map: Cbor) -> Cbor {
    let mut entries = map.into_map().unwrap();
    entries.reverse();
    Cbor::Map(entries)
}

#[test]
fn addr_record_vectors_match() {
    use cove_node::addr_record::verify_and_decode;
    let stored = checked("addr.json", addr_vectors());
    let secret = GroupSecret::from_bytes(SECRET);
    let envelope = hex::decode(stored["envelope"].as_str().unwrap()).unwrap();
    let topic = stored["addr_topic"].as_str().unwrap();
    let record = open(&secret.content_key(0), topic, &envelope).unwrap();
    assert_eq!(hex::encode(&record), stored["record"].as_str().unwrap());
    let decoded = verify_and_decode(&record).unwrap();
    assert_eq!(
        decoded.record.peer.to_string(),
        stored["peer_id"].as_str().unwrap()
    );
    assert_eq!(decoded.record.at_ms, stored["at"].as_u64().unwrap());
    // The door record opens on the door topic and verifies as a door record only.
    let door = &stored["door_record"];
    let envelope = hex::decode(door["envelope"].as_str().unwrap()).unwrap();
    let record = open(
        &secret.content_key(0),
        door["door_topic"].as_str().unwrap(),
        &envelope,
    )
    .unwrap();
    assert_eq!(hex::encode(&record), door["record"].as_str().unwrap());
    let as_door =
        cove_node::addr_record::verify_and_decode_as(cove_node::addr_record::Kind::Door, &record);
    assert_eq!(as_door.unwrap().record.peer, decoded.record.peer);
    assert!(verify_and_decode(&record).is_err());
    for case in stored["rejected"].as_array().unwrap() {
        let bytes = hex::decode(case["record"].as_str().unwrap()).unwrap();
        let refusal = verify_and_decode(&bytes).unwrap_err();
        assert_eq!(
            refusal.reason(),
            case["reason"].as_str().unwrap(),
            "{}",
            case["name"]
        );
    }
}
