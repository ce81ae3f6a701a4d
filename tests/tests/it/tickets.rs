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
        via_bat.addrs = bat.status().await?.networks[0].listen_addrs.clone();
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
