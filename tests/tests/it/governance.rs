//! Governance over time (PROTOCOL.md §16): the founder appoints and retires admins with
//! signed amendments, and a retired admin's later admin actions are refused everywhere.

use std::time::Duration;

use anyhow::{Context, Result};
use cove_crypto::seal;
use cove_node::message::{sign_in, Ban, Content};
use cove_node::outsider::Outsider;
use cove_node::view::social::ModerationInfo;
use cove_node::Change;
use cove_tests::{admitted_keys, eventually, rejected, Club, TestNode};

/// Waits until `check` holds for `node`'s moderation view of its only group.
async fn until_moderation(
    node: &TestNode,
    what: &str,
    check: impl Fn(&ModerationInfo) -> bool,
) -> Result<()> {
    eventually(&format!("{} to see {what}", node.name), || async {
        Ok(check(&node.moderation(None).await?).then_some(()))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_admin_is_refused_by_every_node() -> Result<()> {
    // Scenario: ant (founder) makes bat an admin; bat bans cat; ant retires bat; bat's
    // pseudonym then signs a ban of dan, sealed in the group's current epoch, injected at ant
    // and at dan by a peer holding the network key.
    // Assert: every node applies the amendments; bat's ban of cat holds everywhere; bat's own
    // node refuses to sign an admin message after its retirement; the injected ban is
    // refused by ant and dan (`not_admin`) and dan is banned nowhere.
    let club = Club::of(["ant", "bat", "cat", "dan"]);
    club.run(async |club| {
        let [ant, bat, cat, dan] = club.members();
        let group = &club.group;
        let bat_key = bat.groups().await?[0].me.clone();
        let cat_key = cat.groups().await?[0].me.clone();
        let dan_key = dan.groups().await?[0].me.clone();

        ant.amend(None, Change::AddAdmin(bat_key.parse()?)).await?;
        for node in [bat, cat, dan] {
            until_moderation(node, "bat as an admin", |m| m.admins.contains(&bat_key)).await?;
        }
        bat.ban(None, &cat_key, true).await?;
        for node in [ant, dan] {
            until_moderation(node, "cat banned", |m| {
                m.banned.iter().any(|(k, _)| *k == cat_key)
            })
            .await?;
        }

        ant.amend(None, Change::RemoveAdmin(bat_key.parse()?))
            .await?;
        for node in [bat, dan] {
            until_moderation(node, "bat retired", |m| !m.admins.contains(&bat_key)).await?;
        }
        let refused = bat.ban(None, &dan_key, true).await.unwrap_err();
        assert!(refused.to_string().contains("admin"), "{refused}");

        // bat's pseudonym signs the ban anyway, in an epoch of the group after cat's ban (bat
        // re-keyed when it banned cat; ant may also have, on finding cat in epoch 0).
        eventually("ant to hold a key epoch after cat's ban", || async {
            Ok((ant.status().await?.networks[0].epoch >= 1).then_some(()))
        })
        .await?;
        let invite = admitted_keys(ant, group).await?;
        let (_, secret) = invite.epochs.last().context("the ban re-keyed the group")?;
        let bat_seed = cove_node::data_dir::DataDir::new(bat.dir.path()).load_seed()?;
        let gid = invite.group_secret.id();
        let forged = sign_in(
            &bat_seed.pseudonym(&gid),
            &gid,
            secret.tag(),
            cove_node::now_ms(),
            Content::Ban(Ban {
                member: dan_key.parse()?,
                active: true,
            }),
        )?;
        let topic = invite.group_secret.topic();
        let envelope = seal(&secret.content_key(), &topic, secret.tag(), &forged.bytes);
        let network_key = *invite
            .group_secret
            .network_key(cove_node::NETWORK_EPOCH)
            .as_bytes();
        for node in [ant, dan] {
            let addr = node.status().await?.listen_addrs[0].parse()?;
            let injector = Outsider::inside(network_key, &topic, addr).await?;
            eventually(
                &format!("{} to refuse the retired admin's ban", node.name),
                || async {
                    injector.publish(&topic, envelope.clone()).await?;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok((rejected(node, "not_admin").await? >= 1).then_some(()))
                },
            )
            .await?;
            injector.shutdown().await?;
        }
        for node in [ant, cat, dan] {
            let info = node.moderation(None).await?;
            assert!(
                info.banned.iter().all(|(k, _)| *k != dan_key),
                "{}",
                node.name
            );
        }
        Ok(())
    })
    .await
}
