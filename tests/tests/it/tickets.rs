//! Invite tickets (PROTOCOL.md §17): an invite admits as many newcomers as its ticket says,
//! until it expires or is withdrawn, and it is the admitting members, not the newcomer's
//! decoder, who check that.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use cove_crypto::{AnyInvite, TicketInvite};
use cove_node::Change;
use cove_tests::{eventually, within, TestNode, TEST_TIMEOUT};

const HOUR: Duration = Duration::from_secs(3600);

/// The ticket in `text`.
fn ticket(text: &str) -> Result<TicketInvite> {
    match AnyInvite::decode_ignoring_expiry(text)? {
        AnyInvite::Ticket(ticket) => Ok(*ticket),
        AnyInvite::Open(_) => bail!("an open invite, not a ticket"),
    }
}

/// `node` tries to join with `invite`; the error it gets.
async fn refused(node: &TestNode, invite: &str) -> Result<String> {
    match node.join(invite).await {
        Ok(group) => bail!("{} was admitted to {group}", node.name),
        Err(e) => Ok(e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_up_or_withdrawn_invite_admits_nobody_whichever_member_is_asked() -> Result<()> {
    // Scenario: ant founds a group; bat joins with a ticket of its own. ant makes a
    // single-use ticket; dan joins with it through bat (the invite re-addressed to bat's
    // node), so bat, not the inviter, checks it against ant's record. eve then tries the same
    // text at ant and at bat. ant makes another ticket and withdraws it unused; eve tries it.
    // Assert: dan is admitted and reads the group; eve is refused with "used up" by both, then
    // with "withdrawn", and is in no group; ant lists the tickets as admitted 1/1 and
    // withdrawn. A member who is no admin cannot invite until the founder lets members invite.
    within(TEST_TIMEOUT * 2, async {
        let ant = TestNode::start("ant").await?;
        let group = ant.create_group("club").await?.to_string();
        let bat = TestNode::start("bat").await?;
        bat.join(&ant.invite(&group, HOUR).await?).await?;
        let (dan, eve) = (TestNode::start("dan").await?, TestNode::start("eve").await?);

        let single = ant.invite(&group, HOUR).await?;
        let mut via_bat = ticket(&single)?;
        via_bat.addrs = bat.status().await?.networks[0].door_addrs.clone();
        eventually("ant's ticket record to reach bat", || async {
            let known = bat.invites(&group).await?;
            Ok((known.len() == 2).then_some(()))
        })
        .await?;
        dan.join(&via_bat.encode()).await?;
        ant.post(&group, None, "welcome, dan").await?;
        cove_tests::wait_for_feed(&dan, &group, 1).await?;

        let at_bat = refused(&eve, &via_bat.encode()).await?;
        assert!(at_bat.contains("used up"), "{at_bat}");
        eventually("dan's admission to reach ant", || async {
            let tickets = ant.invites(&group).await?;
            Ok(tickets
                .iter()
                .any(|t| t.admitted == 1 && t.uses == 1)
                .then_some(()))
        })
        .await?;
        // Wait until ant holds bat's admit record for this very ticket.
        let id = ticket(&single)?.ticket.id().to_string();
        eventually("ant to count the ticket used", || async {
            let tickets = ant.invites(&group).await?;
            let t = tickets
                .iter()
                .find(|t| t.id == id)
                .context("ticket listed")?;
            Ok((t.admitted == 1).then_some(()))
        })
        .await?;
        let at_ant = refused(&eve, &single).await?;
        assert!(at_ant.contains("used up"), "{at_ant}");

        let unused = ant.invite(&group, HOUR).await?;
        let unused_id = ticket(&unused)?.ticket.id().to_string();
        ant.revoke_invite(&unused_id[..12]).await?;
        let withdrawn = refused(&eve, &unused).await?;
        assert!(withdrawn.contains("withdrawn"), "{withdrawn}");
        assert!(eve.groups().await?.is_empty(), "eve joined a group");
        let listed = ant.invites(&group).await?;
        assert!(listed.iter().any(|t| t.id == unused_id && t.revoked));

        let not_admin = bat.invite(&group, HOUR).await.unwrap_err();
        assert!(not_admin.to_string().contains("only admins"), "{not_admin}");
        ant.amend(
            None,
            Change::Policy {
                rate_limit: None,
                max_future_skew_secs: None,
                invite: Some(cove_node::message::Inviters::Members),
            },
        )
        .await?;
        let from_bat = eventually("bat to learn that members may invite", || async {
            Ok(bat.invite(&group, HOUR).await.ok())
        })
        .await?;
        eve.join(&from_bat).await?;
        assert_eq!(eve.groups().await?.len(), 1);
        for node in [&ant, &bat, &dan, &eve] {
            node.shutdown().await?;
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_opens_the_door_and_nothing_behind_it() -> Result<()> {
    // Scenario: ant founds a group and posts; bat joins with a single-use ticket. eve holds a
    // copy of that ticket's text (so the door key and ant's door address) and, to make it the
    // worst case, the topic string. eve connects to ant's door and subscribes to the topic;
    // a second outsider with the same key dials ant's group network. A control outsider that
    // stole the network key itself connects to ant's group network. ant posts again.
    // Assert: eve's connection to the door stands, yet it is announced no topic and receives
    // no message, while the control (same set-up, the network key) is announced the topic and
    // receives the post: so eve's observation works. The door key opens no connection to the
    // group network. A sync `hello` at the door is refused `unauthorized`; asking to be
    // admitted with the spent ticket is refused "used up".
    within(TEST_TIMEOUT, async {
        let ant = TestNode::start("ant").await?;
        let group = ant.create_group("club").await?.to_string();
        let single = ant.invite(&group, HOUR).await?;
        let bat = TestNode::start("bat").await?;
        bat.join(&single).await?;
        let topic = ant.groups().await?[0].topic.clone();
        let spent = ticket(&single)?;
        let door: cove_gossip::Multiaddr = spent.addrs[0].parse()?;
        let status = ant.status().await?;
        assert_eq!(status.networks[0].door_addrs, spent.addrs);
        let network: cove_gossip::Multiaddr = status.networks[0].listen_addrs[0].parse()?;
        let door_key = *spent.door_key.as_bytes();

        let eve = cove_node::outsider::Outsider::inside(door_key, &topic, door).await?;
        let ant_peer = eventually("eve to connect to ant's door", || async {
            Ok(eve.peers().await?.into_iter().next())
        })
        .await?;
        let wrong_door =
            cove_node::outsider::Outsider::inside(door_key, &topic, network.clone()).await?;
        let control = cove_tests::attacker(&ant, &topic).await?;

        ant.post(&group, None, "after the door opened").await?;
        cove_tests::wait_for_feed(&bat, &group, 1).await?;
        eventually(
            "the control outsider to see the topic and the post",
            || async {
                Ok(
                    (control.announced().contains(&topic) && !control.received().is_empty())
                        .then_some(()),
                )
            },
        )
        .await?;
        assert_eq!(
            eve.peers().await?,
            vec![ant_peer.clone()],
            "eve left the door"
        );
        assert!(
            eve.announced().is_empty(),
            "the door announced {:?}",
            eve.announced()
        );
        assert!(
            eve.received().is_empty(),
            "eve received a message at the door"
        );
        assert!(
            wrong_door.peers().await?.is_empty(),
            "the door key opened the network"
        );

        let hello = cove_node::sync::Request::Hello {
            topic: topic.clone(),
            nonce: [7; 32],
            epoch: 0,
        };
        let answer: Vec<u8> = eve.request(ant_peer.parse()?, hello.encode()).await?;
        assert_eq!(
            cove_node::sync::Response::decode(&answer)?,
            cove_node::sync::Response::Error {
                code: cove_node::sync::ErrorCode::Unauthorized
            }
        );
        let dan = TestNode::start("dan").await?;
        let used_up = refused(&dan, &single).await?;
        assert!(used_up.contains("used up"), "{used_up}");
        for outsider in [&eve, &wrong_door, &control] {
            outsider.shutdown().await?;
        }
        for node in [&ant, &bat, &dan] {
            node.shutdown().await?;
        }
        Ok(())
    })
    .await
}
