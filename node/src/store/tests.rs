use super::sled_db::{config, recorded_segment_size, segment_size};
use super::*;
use crate::message::{sign, Post, Recommend, Reply};
use cove_crypto::{GroupSecret, MasterSeed};

fn post(group: &GroupId, seed: u8, at: u64, text: &str) -> SignedMessage {
    let me = MasterSeed::from_bytes([seed; 32]).pseudonym(group);
    let content = Content::Post(Post {
        title: None,
        text: text.into(),
    });
    sign(&me, group, at, content).unwrap()
}

/// An active recommendation of `target` by the member of `seed`.
fn recommend(group: &GroupId, seed: u8, at: u64, target: MessageId) -> SignedMessage {
    let content = Content::Recommend(Recommend {
        target,
        active: true,
    });
    signed(group, seed, at, content)
}

fn signed(group: &GroupId, seed: u8, at: u64, content: Content) -> SignedMessage {
    sign(
        &MasterSeed::from_bytes([seed; 32]).pseudonym(group),
        group,
        at,
        content,
    )
    .unwrap()
}

/// A store on disk and one in memory: every behaviour below must hold for both.
fn both() -> Vec<(Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    vec![
        (Store::open(dir.path()).unwrap(), Some(dir)),
        (Store::memory(), None),
    ]
}

/// sled's snapshot files (`snap.<log position>`) in a store dir.
fn snapshots(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("snap."))
        .collect();
    names.sort();
    names
}

/// The schema version a store records.
fn schema_of(store: &StoreReader) -> Option<u32> {
    let value = store.ks.get(layout::SCHEMA_KEY).unwrap()?;
    Some(u64_at(&value, 0) as u32)
}

/// Asserts that both stores rank `group`'s posts alike, in every ranking.
fn assert_same_rankings(a: &StoreReader, b: &StoreReader, group: &GroupId) {
    for ranking in [Ranking::New, Ranking::Hot, Ranking::Top] {
        let ids = |s: &StoreReader| {
            s.ranked(group, ranking)
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
        };
        assert_eq!(ids(a), ids(b), "{ranking:?}");
    }
}

fn texts(feed: &[StoredMessage]) -> Vec<String> {
    feed.iter()
        .map(|m| match &m.signed.message.content {
            Content::Post(p) => p.text.clone(),
            _ => unreachable!(),
        })
        .collect()
}

#[test]
fn open_waits_briefly_for_a_handle_still_being_released() {
    // A node stopped in this process may drop its last handle (a blocking reader, sled's
    // I/O threads) just after it replied; a restart must not fail on the lock.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let releasing = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(store);
    });
    let reopened = Store::open(dir.path());
    releasing.join().unwrap();
    assert!(reopened.is_ok(), "{:?}", reopened.err());
}

#[test]
fn closing_the_last_handle_writes_a_snapshot_and_releases_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let group = GroupSecret::from_bytes([3; 32]).id();
    let store = Store::open(dir.path()).unwrap();
    let at_open = snapshots(dir.path());
    let reader = store.reader();
    for i in 0..200 {
        assert!(store
            .insert_message(&post(&group, 1, 1_000 + i, "text"), 1_000 + i)
            .unwrap());
    }
    drop(store);
    assert_eq!(snapshots(dir.path()), at_open, "a reader is still open");
    drop(reader);
    let at_close = snapshots(dir.path());
    assert_ne!(at_close, at_open, "the last close writes a newer snapshot");
    // Closed for good: it opens again at once, with everything in it.
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.feed(&group, 1_000).unwrap().len(), 200);
}

#[test]
fn dedup_is_persistent_and_feed_is_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let group = GroupSecret::from_bytes([3; 32]).id();
    let first = post(&group, 1, 1_000, "first");
    let second = post(&group, 2, 2_000, "second");
    {
        let store = Store::open(dir.path()).unwrap();
        assert!(store.insert_message(&second, 2_000).unwrap());
        assert!(store.insert_message(&first, 1_500).unwrap());
        assert!(!store.insert_message(&first, 9_000).unwrap());
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(
        !store.insert_message(&first, 9_999).unwrap(),
        "dedup survives reopen"
    );
    assert_eq!(texts(&store.feed(&group, 10).unwrap()), ["second", "first"]);
    assert_eq!(store.message_count(&group), 2);
}

#[test]
fn future_timestamps_are_clamped_to_first_seen() {
    for (store, _dir) in both() {
        let group = GroupSecret::from_bytes([4; 32]).id();
        let liar = post(&group, 1, 10_000, "from the future");
        let honest = post(&group, 2, 5_000, "now");
        store.insert_message(&liar, 4_000).unwrap();
        store.insert_message(&honest, 5_000).unwrap();
        let feed = store.feed(&group, 10).unwrap();
        assert_eq!(feed[0].signed.message.id, honest.message.id);
    }
}

#[test]
fn sync_items_and_prune_respect_the_window() {
    for (store, _dir) in both() {
        let group = GroupSecret::from_bytes([6; 32]).id();
        let other = GroupSecret::from_bytes([7; 32]).id();
        let old = post(&group, 1, 1_000, "old");
        let new = post(&group, 1, 5_000, "new");
        store.insert_message(&old, 9_000).unwrap();
        store.insert_message(&new, 9_000).unwrap();
        store
            .insert_message(&post(&other, 1, 3_000, "elsewhere"), 9_000)
            .unwrap();
        let all = store.sync_items(&group, 0).unwrap();
        assert_eq!(all, vec![(1_000, old.message.id), (5_000, new.message.id)]);
        assert_eq!(
            store.sync_items(&group, 2_000).unwrap(),
            vec![(5_000, new.message.id)]
        );
        assert_eq!(
            store
                .message_bytes(&group, &old.message.id)
                .unwrap()
                .unwrap(),
            old.bytes
        );
        assert_eq!(store.message_bytes(&other, &old.message.id).unwrap(), None);
        assert_eq!(store.prune(&group, 2_000, &MessageId([0; 32])).unwrap(), 1);
        assert!(!store.contains(&old.message.id).unwrap());
        assert_eq!(store.feed(&group, 10).unwrap().len(), 1);
        assert_eq!(store.sync_items(&group, 0).unwrap().len(), 1);
        assert_eq!(store.message_count(&group), 1);
        assert_eq!(store.message_count(&other), 1);
    }
}

#[test]
fn latest_profile_wins() {
    for (store, _dir) in both() {
        let group = GroupSecret::from_bytes([5; 32]).id();
        let me = MasterSeed::from_bytes([1; 32]).pseudonym(&group);
        let profile = |nick: &str, at| {
            let content = Content::Profile(Profile {
                nickname: nick.into(),
                bio: None,
            });
            sign(&me, &group, at, content).unwrap()
        };
        store.insert_message(&profile("new", 20), 20).unwrap();
        store.insert_message(&profile("old", 10), 30).unwrap();
        let got = store.profile(&group, &me.public()).unwrap().unwrap();
        assert_eq!(got.nickname, "new");
    }
}

#[test]
fn a_batch_of_messages_equals_inserting_them_one_by_one() {
    let group = GroupSecret::from_bytes([8; 32]).id();
    let p = post(&group, 1, 1_000, "p");
    let id = p.message.id;
    let rec = |seed, at, active| {
        signed(
            &group,
            seed,
            at,
            Content::Recommend(Recommend { target: id, active }),
        )
    };
    let reply = signed(
        &group,
        2,
        1_500,
        Content::Reply(Reply {
            root: id,
            parent: id,
            text: "r".into(),
        }),
    );
    let messages = [
        rec(2, 2_000, true),
        p.clone(),
        rec(3, 2_100, true),
        rec(2, 2_200, false),
        reply,
    ];
    let one_by_one = Store::memory();
    for m in &messages {
        one_by_one.insert_message(m, 3_000).unwrap();
    }
    let batched = Store::memory();
    let new = batched
        .insert_messages(messages.iter().chain([&p]).map(|m| (m, 3_000)))
        .unwrap();
    assert_eq!(
        new,
        [true, true, true, true, true, false],
        "a repeat in the batch is a duplicate"
    );
    let dump = |s: &Store| s.entries().map(|e| e.unwrap()).collect::<Vec<_>>();
    assert_eq!(dump(&one_by_one), dump(&batched));
    assert_eq!(batched.recommendations(&id).unwrap(), 1);
    assert_eq!(batched.reply_count(&id).unwrap(), 1);
}

#[test]
fn reindex_rebuilds_exactly_the_indexes_it_cleared() {
    for (store, _dir) in both() {
        let group = GroupSecret::from_bytes([8; 32]).id();
        let p = post(&group, 1, 1_000, "p");
        store.insert_message(&p, 1_000).unwrap();
        let r = signed(
            &group,
            2,
            2_000,
            Content::Recommend(Recommend {
                target: p.message.id,
                active: true,
            }),
        );
        store.insert_message(&r, 2_000).unwrap();
        store
            .insert_own(&post(&group, 3, 3_000, "mine"), 3_000)
            .unwrap();
        store.set_interest("rust", true).unwrap();
        let before: Vec<_> = store.entries().map(|e| e.unwrap()).collect();
        assert_eq!(store.reindex().unwrap(), 3);
        let after: Vec<_> = store.entries().map(|e| e.unwrap()).collect();
        assert_eq!(before, after);
    }
}

#[test]
fn an_own_message_and_its_outbox_entry_are_one_write() {
    for (store, _dir) in both() {
        let group = GroupSecret::from_bytes([8; 32]).id();
        let mine = post(&group, 1, 1_000, "mine");
        assert!(store.insert_own(&mine, 1_000).unwrap());
        assert_eq!(store.outbox().unwrap(), [(mine.message.id, group)]);
        store.outbox_remove(&mine.message.id).unwrap();
        assert!(store.outbox().unwrap().is_empty());
    }
}

#[test]
fn a_newer_schema_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = config(dir.path()).open().unwrap();
        let newer = u64::from(layout::SCHEMA) + 1;
        db.insert(layout::SCHEMA_KEY, &newer.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NewerSchema {
                found,
                supported: layout::SCHEMA
            } if found == layout::SCHEMA + 1
        ),
        "{err}"
    );
    assert!(err.to_string().contains("newer"), "{err}");
}

/// The sled configuration every release before [`SEGMENT_BYTES`] opened its store with
/// (sled's default segments, 512 KiB).
fn old_release_config(dir: &Path) -> sled::Config {
    sled::Config::new().path(dir).cache_capacity(CACHE_BYTES)
}

#[test]
fn a_new_store_has_large_segments_and_an_old_one_keeps_its_own() {
    // Scenario: one store created now; one created as releases before large segments did,
    //   then opened by this code, written to, closed, opened, written to and opened again.
    // Assert: the new store records SEGMENT_BYTES; the old one keeps sled's 512 KiB (sled
    //   refuses any other size for it), opens every time and loses nothing.
    let group = GroupSecret::from_bytes([6; 32]).id();
    let new = tempfile::tempdir().unwrap();
    drop(Store::open(new.path()).unwrap());
    assert_eq!(recorded_segment_size(new.path()), Some(SEGMENT_BYTES));

    let old = tempfile::tempdir().unwrap();
    drop(old_release_config(old.path()).open().unwrap());
    let first = post(&group, 1, 1_000, "written by an older release");
    {
        let store = Store::open(old.path()).unwrap();
        assert!(store.insert_message(&first, 1_000).unwrap());
    }
    let old_size = recorded_segment_size(old.path()).unwrap();
    assert_ne!(old_size, SEGMENT_BYTES);
    assert_eq!(segment_size(old.path()), old_size);
    let second = post(&group, 2, 2_000, "written by this one");
    {
        let store = Store::open(old.path()).unwrap();
        assert!(store.insert_message(&second, 2_000).unwrap());
    }
    let store = Store::open(old.path()).unwrap();
    assert_eq!(recorded_segment_size(old.path()), Some(old_size));
    assert_eq!(
        texts(&store.feed(&group, 10).unwrap()),
        ["written by this one", "written by an older release"]
    );
}

#[test]
fn a_store_whose_conf_is_damaged_gives_an_error() {
    // Scenario: a store's `conf` (sled's settings) is overwritten with nonsense.
    // Assert: opening fails with sled's error naming corruption; nothing panics.
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    std::fs::write(dir.path().join("conf"), "segment_size: twelve\n").unwrap();
    assert_eq!(segment_size(dir.path()), SEGMENT_BYTES);
    // sled's own words: "Read corrupted data ...".
    let err = Store::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("corrupt"), "{err}");
}

/// Writes `messages` and local records the way schema 1 did (see `v1`), into `dir`.
fn write_schema_1(
    dir: &Path,
    messages: &[(&SignedMessage, u64)],
    group: &GroupId,
    record: &GroupRecord,
) {
    let db = old_release_config(dir).open().unwrap();
    let tree = db.open_tree("messages").unwrap();
    for (m, seen_at) in messages {
        let mut value = seen_at.to_be_bytes().to_vec();
        value.extend_from_slice(m.message.group.as_bytes());
        value.extend_from_slice(&m.bytes);
        tree.insert(m.message.id.0, value).unwrap();
    }
    // An index tree that the migration must drop unread.
    db.open_tree("feed").unwrap().insert(b"stale", b"").unwrap();
    let mut bytes = Vec::new();
    ciborium::into_writer(record, &mut bytes).unwrap();
    db.open_tree("groups")
        .unwrap()
        .insert(group.as_bytes(), bytes)
        .unwrap();
    let own = messages[0].0.message.id;
    db.open_tree("outbox")
        .unwrap()
        .insert(own.0, &group.as_bytes()[..])
        .unwrap();
    let member = MasterSeed::from_bytes([2; 32]).pseudonym(group).public();
    let mut mute = group.as_bytes().to_vec();
    mute.extend_from_slice(member.as_bytes());
    db.open_tree("mutes").unwrap().insert(mute, b"").unwrap();
    db.open_tree("interests")
        .unwrap()
        .insert(b"rust", b"")
        .unwrap();
    let mut views = own.0.to_vec();
    views.extend_from_slice(&3u64.to_be_bytes());
    db.open_tree("ad_views")
        .unwrap()
        .insert(views, &7u64.to_be_bytes())
        .unwrap();
    db.flush().unwrap();
}

#[test]
fn a_schema_1_store_migrates_without_loss() {
    let group = GroupSecret::from_bytes([8; 32]).id();
    let p1 = post(&group, 1, 1_000, "one");
    let p2 = post(&group, 2, 2_000, "two");
    let rec = recommend(&group, 3, 2_500, p1.message.id);
    let messages = [(&p1, 1_000), (&p2, 2_000), (&rec, 2_500)];
    let record = GroupRecord {
        secret: [8; 32],
        name: "g".into(),
        charter: vec![1, 2, 3],
        bootstrap: vec!["/ip4/127.0.0.1/tcp/1".into()],
        joined_at: 5,
        epochs: Vec::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    write_schema_1(dir.path(), &messages, &group, &record);

    let store = Store::open(dir.path()).unwrap();
    // The same messages inserted into a fresh store: what the migration must equal.
    let expected = Store::memory();
    for (m, seen_at) in messages {
        expected.insert_message(m, seen_at).unwrap();
    }
    assert_same_rankings(&store, &expected, &group);
    assert_eq!(store.message_count(&group), 3);
    assert_eq!(store.recommendations(&p1.message.id).unwrap(), 1);
    assert_eq!(texts(&store.feed(&group, 10).unwrap()), ["two", "one"]);
    assert_eq!(
        store.group(&group).unwrap().unwrap().bootstrap,
        record.bootstrap
    );
    assert_eq!(store.outbox().unwrap(), [(p1.message.id, group)]);
    assert_eq!(store.muted(&group).unwrap().len(), 1);
    assert_eq!(store.interests().unwrap(), ["rust"]);
    assert_eq!(store.ad_views(&p1.message.id, 3 * DAY_MS).unwrap(), 7);
    drop(store);

    // The old trees are gone and the schema is current; opening again changes nothing.
    let db = config(dir.path()).open().unwrap();
    assert!(!v1::is_v1(&db));
    assert_eq!(
        db.get(layout::SCHEMA_KEY).unwrap().map(|v| u64_at(&v, 0)),
        Some(u64::from(layout::SCHEMA))
    );
    drop(db);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.message_count(&group), 3);
}

#[test]
fn a_migration_cut_short_is_finished_by_the_next_open() {
    let group = GroupSecret::from_bytes([8; 32]).id();
    let p1 = post(&group, 1, 1_000, "one");
    let p2 = post(&group, 2, 2_000, "two");
    let record = GroupRecord {
        secret: [8; 32],
        name: "g".into(),
        charter: vec![],
        bootstrap: vec![],
        joined_at: 5,
        epochs: Vec::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    write_schema_1(dir.path(), &[(&p1, 1_000), (&p2, 2_000)], &group, &record);
    {
        // As if a first migration stored one message, then crashed before the schema key.
        let db = config(dir.path()).open().unwrap();
        let ks = Keyspace::sled(db.clone());
        let writes = plan::store_message(&p1, 1_000, &ks).unwrap().unwrap();
        ks.apply(writes).unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.message_count(&group), 2, "counted once each");
    assert_eq!(store.feed(&group, 10).unwrap().len(), 2);
}

#[test]
fn a_schema_2_store_is_reindexed_at_open() {
    // Scenario: a store written by schema 2, which gave every post `h` and `o` entries and
    // empty `n` values. Assert: opened, it holds exactly what the same messages stored by
    // this schema hold, and says the current schema.
    let group = GroupSecret::from_bytes([8; 32]).id();
    let p1 = post(&group, 1, 1_000, "one");
    let p2 = post(&group, 2, 5_000, "dated ahead");
    let p3 = post(&group, 3, 2_000, "recommended");
    let rec = recommend(&group, 4, 2_500, p3.message.id);
    let messages = [(&p1, 1_000), (&p2, 4_000), (&p3, 2_000), (&rec, 2_500)];
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        for (m, seen_at) in messages {
            store.insert_message(m, seen_at).unwrap();
        }
        let mut writes = vec![(
            layout::SCHEMA_KEY.to_vec(),
            Some(IVec::from(&2u64.to_be_bytes()[..])),
        )];
        for (p, seen_at) in [(&p1, 1_000), (&p2, 4_000)] {
            let (id, at) = (&p.message.id, p.message.created_at);
            let order = at.min(seen_at);
            writes.push((
                layout::listed(prefix::NEW, group.as_bytes(), order, id),
                Some(IVec::default()),
            ));
            writes.push((
                layout::listed(prefix::HOT, group.as_bytes(), hot_score(at, 0), id),
                Some(IVec::default()),
            ));
            writes.push((layout::top(&group, 0, at, id), Some(IVec::default())));
        }
        let p3_new = layout::listed(prefix::NEW, group.as_bytes(), 2_000, &p3.message.id);
        writes.push((p3_new, Some(IVec::default())));
        store.keyspace().apply(writes).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let expected = Store::memory();
    for (m, seen_at) in messages {
        expected.insert_message(m, seen_at).unwrap();
    }
    let entries = |s: &StoreReader| s.entries().collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(entries(&store), entries(&expected));
    assert_eq!(schema_of(&store), Some(layout::SCHEMA));
    let hot: Vec<_> = store
        .ranked(&group, Ranking::Hot)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(hot, [p3.message.id, p2.message.id, p1.message.id]);
}

#[test]
fn a_schema_3_store_is_reindexed_at_open() {
    // Scenario: a store written by schema 3, which kept one key per `t` and `n` entry (value
    // empty, or `01` for an `n` entry ranked apart), 40 posts and a recommendation: more
    // entries than one bucket holds. Assert: opened, every view is what the same messages
    // stored by this schema give, the listings are packed, and the schema is current.
    let group = GroupSecret::from_bytes([8; 32]).id();
    let mut messages: Vec<(SignedMessage, u64)> = (0..40u8)
        .map(|i| {
            let at = 1_000 + u64::from(i) * 100;
            (post(&group, i % 5 + 1, at, &format!("post {i}")), at)
        })
        .collect();
    let target = messages[7].0.message.id;
    messages.push((recommend(&group, 9, 9_000, target), 9_000));
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        for (m, seen_at) in &messages {
            store.insert_message(m, *seen_at).unwrap();
        }
        let mut writes = vec![(
            layout::SCHEMA_KEY.to_vec(),
            Some(IVec::from(&3u64.to_be_bytes()[..])),
        )];
        for listing in [bucket::TIMELINE, bucket::NEW] {
            let unpacked: Vec<_> = bucket::entries(&store.ks, listing, group.as_bytes(), None)
                .collect::<Result<_, _>>()
                .unwrap();
            for entry in store.ks.scan_prefix(&[listing.prefix]) {
                writes.push((entry.unwrap().0.to_vec(), None));
            }
            for (key, flag) in unpacked {
                let value = if flag.as_ref() == [1] {
                    vec![1]
                } else {
                    vec![]
                };
                writes.push((key.to_vec(), Some(IVec::from(value))));
            }
        }
        store.keyspace().apply(writes).unwrap();
        assert_eq!(store.ks.scan_prefix(&[prefix::TIMELINE]).count(), 41);
    }
    let store = Store::open(dir.path()).unwrap();
    let expected = Store::memory();
    for (m, seen_at) in &messages {
        expected.insert_message(m, *seen_at).unwrap();
    }
    assert_same_rankings(&store, &expected, &group);
    assert_eq!(
        store.sync_items(&group, 0).unwrap(),
        expected.sync_items(&group, 0).unwrap()
    );
    assert_eq!(store.sync_items(&group, 0).unwrap().len(), 41);
    assert_eq!(store.message_count(&group), 41);
    assert_eq!(
        store.ranked(&group, Ranking::Hot).next().unwrap().unwrap(),
        target
    );
    assert!(
        store.ks.scan_prefix(&[prefix::TIMELINE]).count() <= 4,
        "packed"
    );
    assert_eq!(schema_of(&store), Some(layout::SCHEMA));
}

#[test]
fn listings_survive_retention_and_windows_across_buckets() {
    // Scenario: 100 posts (four buckets of each listing), then retention drops the oldest 30
    // and a window asks from the 50th. Assert: both stores list exactly the survivors, in
    // order, and sync from a time sees exactly the messages from it.
    for (store, _dir) in both() {
        let group = GroupSecret::from_bytes([8; 32]).id();
        let posts: Vec<SignedMessage> = (0..100u64)
            .map(|i| post(&group, (i % 7) as u8 + 1, 10_000 + i * 10, &format!("{i}")))
            .collect();
        store
            .insert_messages(posts.iter().map(|p| (p, p.message.created_at)))
            .unwrap();
        let keep = posts[0].message.id;
        assert_eq!(store.prune(&group, 10_000 + 30 * 10, &keep).unwrap(), 29);
        let survivors: Vec<MessageId> = std::iter::once(keep)
            .chain(posts[30..].iter().map(|p| p.message.id))
            .collect();
        let synced: Vec<MessageId> = store
            .sync_items(&group, 0)
            .unwrap()
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        assert_eq!(synced, survivors);
        let newest_first: Vec<MessageId> = store
            .ranked(&group, Ranking::New)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            newest_first,
            survivors.iter().rev().copied().collect::<Vec<_>>()
        );
        let from_50 = store.sync_items(&group, 10_000 + 50 * 10).unwrap();
        assert_eq!(from_50.len(), 50);
        assert_eq!(from_50[0].1, posts[50].message.id);
        assert_eq!(store.message_count(&group), 71);
    }
}
