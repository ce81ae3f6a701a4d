//! Test vectors: recompute every value in `docs/vectors/crypto.json` from fixed inputs and
//! compare. Run with `COVE_WRITE_VECTORS=1` to (re)write the file instead.

use std::path::PathBuf;

use cove_crypto::{
    envelope_epoch, open, seal_with_nonce, seed_file, sync_proof, sync_responder_proof,
    verify_sync_proof, verify_sync_responder_proof, AnyInvite, DeviceKey, Domain, EpochSecret,
    GroupSecret, Invite, KdfParams, MasterSeed, MemberKey, Passphrase, Pseudonym, PublicKey,
    Rekeying, Signature, TicketInvite, TicketKey,
};
use data_encoding::BASE64URL_NOPAD;
use serde_json::{json, Value};

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors/crypto.json")
}

/// Bytes `start, start+1, ...` (wrapping), `N` of them.
fn seq<const N: usize>(start: u8) -> [u8; N] {
    std::array::from_fn(|i| start.wrapping_add(i as u8))
}

const MESSAGE: &[u8] = b"cove test vector: a signed message body";
const PLAINTEXT: &[u8] = b"hello, cove";
const CHARTER: &[u8] = b"founder-signed charter bytes (opaque to the invite codec)";
const EXPIRES: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const ENVELOPE_EPOCH: u32 = 1;

const SEED_PASSPHRASE: &str = "correct horse battery staple";
/// Cheap Argon2id parameters so the vector computes in milliseconds (real files use 64 MiB, t=3).
const SEED_KDF: (u32, u32, u32) = (256, 2, 1);

const SYNC_CHALLENGE: [u8; 32] = [0x5a; 32];
/// The requester's nonce in `hello`, over which the responder proves itself.
const SYNC_NONCE: [u8; 32] = [0xa5; 32];
/// Stand-ins for binary peer ids: any byte strings work, the proof only length-prefixes them.
const SYNC_REQUESTER: &[u8] = b"\x00\x24\x08\x01\x12\x20requester-public-key-32-bytes!!";
const SYNC_RESPONDER: &[u8] = b"\x00\x24\x08\x01\x12\x20responder-public-key-32-bytes!!";

fn compute() -> Value {
    let master_seed = MasterSeed::from_bytes(seq(0x01));
    let group_secret = GroupSecret::from_bytes(seq(0x21));
    let group_id = group_secret.id();
    let topic = group_secret.topic();
    let pseudonym = master_seed.pseudonym(&group_id);
    let public = pseudonym.public();

    let signature = pseudonym.sign(Domain::Message, MESSAGE);
    let mut preimage = Domain::Message.prefix().to_vec();
    preimage.extend_from_slice(MESSAGE);

    let nonce: [u8; 24] = seq(0x41);
    let content_key = group_secret.content_key(ENVELOPE_EPOCH);
    let envelope = seal_with_nonce(&content_key, &topic, ENVELOPE_EPOCH, nonce, PLAINTEXT);
    let mut aad = b"cove/v1/envelope".to_vec();
    aad.push(1);
    aad.extend_from_slice(&ENVELOPE_EPOCH.to_be_bytes());
    aad.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    aad.extend_from_slice(topic.as_bytes());

    let invite = Invite {
        group_secret: group_secret.clone(),
        charter: CHARTER.to_vec(),
        addrs: vec![
            "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
                .to_string(),
            "/ip6/::1/udp/4001/quic-v1".to_string(),
        ],
        expires_at: EXPIRES,
        epochs: Vec::new(),
    };
    let invite_text = invite.encode();
    let raw = BASE64URL_NOPAD
        .decode(&invite_text.as_bytes()["cove:".len()..])
        .expect("encoder output is valid base64url");
    let (body, checksum) = raw.split_at(raw.len() - 4);

    let (m_kib, t, p) = SEED_KDF;
    let kdf = KdfParams::new(m_kib, t, p).expect("valid parameters");
    let seed_salt: [u8; 16] = seq(0x61);
    let seed_file_bytes = seed_file::encrypt_with(
        &master_seed,
        &Passphrase::new(SEED_PASSPHRASE.to_string()),
        &kdf,
        seed_salt,
        nonce,
    );
    let mut seed_key = [0u8; 32];
    argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(m_kib, t, p, Some(32)).expect("valid parameters"),
    )
    .hash_password_into(SEED_PASSPHRASE.as_bytes(), &seed_salt, &mut seed_key)
    .expect("Argon2id with valid parameters");

    let epoch = epoch_vectors(&master_seed, &group_id, &public);
    let epoch_secret = EpochSecret::from_bytes(seq(0x91));
    let invite_epochs = Invite {
        group_secret: group_secret.clone(),
        charter: CHARTER.to_vec(),
        addrs: vec![],
        expires_at: EXPIRES,
        epochs: vec![(1, epoch_secret)],
    };
    let invite_epochs_text = invite_epochs.encode();
    let invite_epochs_raw = BASE64URL_NOPAD
        .decode(&invite_epochs_text.as_bytes()["cove:".len()..])
        .unwrap();
    let invite_epochs_payload = &invite_epochs_raw[1..invite_epochs_raw.len() - 4];

    let network_key = group_secret.network_key(0);
    let door_key = group_secret.door_key();
    let ticket_key = TicketKey::from_bytes(seq(0xc1));
    let ticket = TicketInvite {
        group: group_id,
        door_key: door_key.clone(),
        charter: CHARTER.to_vec(),
        addrs: vec![
            "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
                .into(),
        ],
        expires_at: EXPIRES,
        ticket: ticket_key.clone(),
    };
    let ticket_text = ticket.encode();
    let ticket_raw = BASE64URL_NOPAD
        .decode(&ticket_text.as_bytes()["cove:".len()..])
        .unwrap();
    assert_eq!(ticket_raw[0], 3);
    assert_eq!(
        AnyInvite::decode(&ticket_text, EXPIRES - 1).unwrap(),
        AnyInvite::Ticket(Box::new(ticket.clone()))
    );
    let device_key_bytes: [u8; 32] = seq(0x81);
    let peer_secret = DeviceKey::from_bytes(device_key_bytes).peer_secret(&group_id);
    let peer_public = Pseudonym::from_secret_bytes(peer_secret).public();

    json!({
        "description": "Cove crypto test vectors; see docs/PROTOCOL.md section 7. All byte strings are lowercase hex.",
        "keys": {
            "master_seed": hex::encode(master_seed.as_bytes()),
            "group_secret": hex::encode(group_secret.as_bytes()),
            "group_id": group_id.to_string(),
            "group_id_short": group_id.short(),
            "topic": topic,
            "content_key_epoch_0": hex::encode(group_secret.content_key(0).as_bytes()),
            "content_key_epoch_1": hex::encode(group_secret.content_key(1).as_bytes()),
            "sync_key": hex::encode(group_secret.sync_key()),
            "discovery_key": hex::encode(group_secret.discovery_key()),
        },
        "network": {
            "group_id": group_id.to_string(),
            "network_key_epoch_0": hex::encode(network_key.as_bytes()),
            "psk_file": format!("/key/swarm/psk/1.0.0/\n/base16/\n{}", hex::encode(network_key.as_bytes())),
            "door_key": hex::encode(door_key.as_bytes()),
            "device_key": hex::encode(device_key_bytes),
            "peer_secret_key": hex::encode(peer_secret),
            "peer_public_key": peer_public.to_string(),
        },
        "pseudonym": {
            "secret_key": hex::encode(pseudonym.secret_bytes()),
            "public_key": public.to_string(),
            "fingerprint": public.fingerprint(),
        },
        "signature": {
            "domain": "Message",
            "prefix": hex::encode(Domain::Message.prefix()),
            "message": hex::encode(MESSAGE),
            "preimage": hex::encode(&preimage),
            "signature": hex::encode(signature.to_bytes()),
        },
        "envelope": {
            "epoch": ENVELOPE_EPOCH,
            "topic": topic,
            "content_key": hex::encode(content_key.as_bytes()),
            "nonce": hex::encode(nonce),
            "plaintext": hex::encode(PLAINTEXT),
            "aad": hex::encode(&aad),
            "envelope": hex::encode(&envelope),
        },
        "sync_proof": {
            "sync_key": hex::encode(group_secret.sync_key()),
            "challenge": hex::encode(SYNC_CHALLENGE),
            "requester": hex::encode(SYNC_REQUESTER),
            "responder": hex::encode(SYNC_RESPONDER),
            "proof": hex::encode(sync_proof(&group_secret.sync_key(), &SYNC_CHALLENGE, SYNC_REQUESTER, SYNC_RESPONDER)),
        },
        "sync_responder_proof": {
            "sync_key": hex::encode(group_secret.sync_key()),
            "nonce": hex::encode(SYNC_NONCE),
            "requester": hex::encode(SYNC_REQUESTER),
            "responder": hex::encode(SYNC_RESPONDER),
            "proof": hex::encode(sync_responder_proof(&group_secret.sync_key(), &SYNC_NONCE, SYNC_REQUESTER, SYNC_RESPONDER)),
        },
        "seed_file": {
            "master_seed": hex::encode(master_seed.as_bytes()),
            "passphrase": SEED_PASSPHRASE,
            "m_kib": m_kib,
            "t": t,
            "p": p,
            "salt": hex::encode(seed_salt),
            "nonce": hex::encode(nonce),
            "key": hex::encode(seed_key),
            "header": hex::encode(&seed_file_bytes[..seed_file::HEADER_LEN]),
            "file": hex::encode(&seed_file_bytes),
        },
        "invite": {
            "group_secret": hex::encode(group_secret.as_bytes()),
            "charter": hex::encode(CHARTER),
            "addrs": invite.addrs,
            "expires": EXPIRES,
            "version": body[0],
            "cbor_payload": hex::encode(&body[1..]),
            "checksum": hex::encode(checksum),
            "invite": invite_text,
        },
        "invite_with_epochs": {
            "epochs": [[1, hex::encode(seq::<32>(0x91))]],
            "cbor_payload": hex::encode(invite_epochs_payload),
            "invite": invite_epochs_text,
        },
        "epoch": epoch,
        "ticket_invite": {
            "group": group_id.to_string(),
            "door_key": hex::encode(door_key.as_bytes()),
            "charter": hex::encode(CHARTER),
            "addrs": ticket.addrs,
            "expires": EXPIRES,
            "ticket_key": hex::encode(ticket_key.secret_bytes()),
            "ticket_id": ticket_key.id().to_string(),
            "cbor_payload": hex::encode(&ticket_raw[1..ticket_raw.len() - 4]),
            "invite": ticket_text,
        },
        "welcome": welcome_vectors(&master_seed, &group_secret, &public),
    })
}

/// An epoch after the first, a member's X25519 key and one wrapped package (§2, §15).
fn epoch_vectors(seed: &MasterSeed, group: &cove_crypto::GroupId, member: &PublicKey) -> Value {
    use hkdf::Hkdf;
    use sha2::Sha256;
    let hkdf = |salt: &[u8], ikm: &[u8], info: &[&[u8]]| -> [u8; 32] {
        let mut out = [0; 32];
        Hkdf::<Sha256>::new(Some(salt), ikm)
            .expand_multi_info(info, &mut out)
            .unwrap();
        out
    };
    let secret = EpochSecret::from_bytes(seq(0x91));
    let member_secret = hkdf(
        b"cove/v1/member",
        seed.as_bytes(),
        &[b"cove/v1/member-key", group.as_bytes()],
    );
    let member_key = MemberKey::derive(seed, group);
    let member_public =
        x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(member_secret));
    assert_eq!(member_public.to_bytes(), member_key.public());
    let ephemeral_secret: [u8; 32] = seq(0xa1);
    let rekeying = Rekeying::from_ephemeral(ephemeral_secret);
    let shared = x25519_dalek::StaticSecret::from(ephemeral_secret)
        .diffie_hellman(&member_public)
        .to_bytes();
    let tag = secret.tag();
    let wrap_key = hkdf(
        b"cove/v1/rekey",
        &shared,
        &[
            b"cove/v1/epoch-wrap",
            &rekeying.public(),
            &member_key.public(),
            member.as_bytes(),
            group.as_bytes(),
            &tag.to_be_bytes(),
        ],
    );
    let wrapped = rekeying
        .wrap(&secret, member, &member_key.public(), group)
        .unwrap();
    assert_eq!(
        member_key.unwrap(&rekeying.public(), member, group, tag, &wrapped),
        Some(secret.clone())
    );
    json!({
        "epoch_secret": hex::encode(secret.as_bytes()),
        "tag": tag,
        "tag_hex": format!("{tag:08x}"),
        "content_key": hex::encode(secret.content_key().as_bytes()),
        "sync_key": hex::encode(secret.sync_key()),
        "network_key": hex::encode(secret.network_key().as_bytes()),
        "member_secret": hex::encode(member_secret),
        "member_public": hex::encode(member_key.public()),
        "pseudonym": member.to_string(),
        "ephemeral_secret": hex::encode(ephemeral_secret),
        "ephemeral_public": hex::encode(rekeying.public()),
        "shared": hex::encode(shared),
        "wrap_key": hex::encode(wrap_key),
        "wrapped": hex::encode(wrapped),
    })
}

/// The group secret wrapped to the member key of `seed`, as a welcome carries it (§17): the
/// epoch vectors' ephemeral key, tag 0.
fn welcome_vectors(seed: &MasterSeed, secret: &GroupSecret, member: &PublicKey) -> Value {
    let group = secret.id();
    let member_key = MemberKey::derive(seed, &group);
    let rekeying = Rekeying::from_ephemeral(seq(0xa1));
    let wrapped = rekeying
        .wrap_group_secret(secret, member, &member_key.public(), &group)
        .unwrap();
    let opened = member_key
        .unwrap_group_secret(&rekeying.public(), member, &group, &wrapped)
        .unwrap();
    assert_eq!(opened.as_bytes(), secret.as_bytes());
    json!({ "wrapped_secret": hex::encode(wrapped) })
}

fn hex_field<const N: usize>(v: &Value, a: &str, b: &str) -> [u8; N] {
    let s = v[a][b]
        .as_str()
        .unwrap_or_else(|| panic!("{a}.{b} missing"));
    hex::decode(s).unwrap().try_into().unwrap()
}

#[test]
fn vectors_match_file() {
    let computed = compute();
    if std::env::var("COVE_WRITE_VECTORS").as_deref() == Ok("1") {
        let text = serde_json::to_string_pretty(&computed).unwrap() + "\n";
        std::fs::write(path(), text).expect("write docs/vectors/crypto.json");
        return;
    }
    let text = std::fs::read_to_string(path())
        .expect("docs/vectors/crypto.json missing; run with COVE_WRITE_VECTORS=1 to create it");
    let stored: Value = serde_json::from_str(&text).unwrap();
    for section in [
        "keys",
        "pseudonym",
        "signature",
        "envelope",
        "seed_file",
        "invite",
    ] {
        assert_eq!(
            stored[section], computed[section],
            "section {section:?} of docs/vectors/crypto.json differs from the implementation"
        );
    }
    assert_eq!(stored, computed);
}

/// The stored vectors also work in the decoding direction (what another implementation
/// would produce must be accepted here).
#[test]
fn stored_vectors_decode() {
    if std::env::var("COVE_WRITE_VECTORS").as_deref() == Ok("1") {
        return; // the file is being rewritten by `vectors_match_file`
    }
    let text = std::fs::read_to_string(path()).expect("docs/vectors/crypto.json");
    let v: Value = serde_json::from_str(&text).unwrap();

    let public = PublicKey::from_bytes(hex_field(&v, "pseudonym", "public_key")).unwrap();
    let sig = Signature::from_bytes(hex_field(&v, "signature", "signature"));
    let msg = hex::decode(v["signature"]["message"].as_str().unwrap()).unwrap();
    public.verify(Domain::Message, &msg, &sig).unwrap();
    assert!(public.verify(Domain::SyncProof, &msg, &sig).is_err());

    let group = GroupSecret::from_bytes(hex_field(&v, "keys", "group_secret"));
    let envelope = hex::decode(v["envelope"]["envelope"].as_str().unwrap()).unwrap();
    let topic = v["envelope"]["topic"].as_str().unwrap();
    let epoch = envelope_epoch(&envelope).unwrap();
    assert_eq!(u64::from(epoch), v["envelope"]["epoch"].as_u64().unwrap());
    let plain = open(&group.content_key(epoch), topic, &envelope).unwrap();
    assert_eq!(
        hex::encode(plain),
        v["envelope"]["plaintext"].as_str().unwrap()
    );

    let invite =
        Invite::decode(v["invite"]["invite"].as_str().unwrap(), EXPIRES - 1).expect("invite");
    assert_eq!(invite.group_secret, group);
    assert_eq!(
        hex::encode(&invite.charter),
        v["invite"]["charter"].as_str().unwrap()
    );
    assert_eq!(invite.expires_at, v["invite"]["expires"].as_u64().unwrap());

    // The responder proof verifies as one, and not as a requester proof (no reflection).
    let key: [u8; 32] = hex_field(&v, "sync_responder_proof", "sync_key");
    let nonce: [u8; 32] = hex_field(&v, "sync_responder_proof", "nonce");
    let peer = |role: &str| hex::decode(v["sync_responder_proof"][role].as_str().unwrap()).unwrap();
    let proof: [u8; 32] = hex_field(&v, "sync_responder_proof", "proof");
    let (requester, responder) = (peer("requester"), peer("responder"));
    assert!(verify_sync_responder_proof(
        &key, &nonce, &requester, &responder, &proof
    ));
    assert!(!verify_sync_proof(
        &key, &nonce, &requester, &responder, &proof
    ));

    let file = hex::decode(v["seed_file"]["file"].as_str().unwrap()).unwrap();
    let pass = Passphrase::new(v["seed_file"]["passphrase"].as_str().unwrap().to_string());
    let seed = seed_file::decrypt(&file, &pass).expect("seed file opens");
    assert_eq!(
        hex::encode(seed.as_bytes()),
        v["seed_file"]["master_seed"].as_str().unwrap()
    );
}
