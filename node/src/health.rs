//! Gossip health per group: what `cove status` says in words, what `cove up` warns about,
//! and what the metrics endpoint exposes.
//!
//! A group can fall silent without any error: gossipsub sends an own message only to
//! subscribed peers whose score is above the publish threshold, and answers "no peers
//! subscribed" when none is, even with every member connected. Members behind one address
//! once hit exactly that (issue 18). So the node reads the gossip layer's
//! [`TopicHealth`] for every group and turns it into a [`GroupHealth`] with a
//! [`GroupHealth::problem`] in words. The actor logs a warning when a problem appears and
//! a note when it clears (once each, see [`Warnings`]), not on every check.

use std::collections::HashMap;

use cove_gossip::TopicHealth;
use serde::{Deserialize, Serialize};

use cove_crypto::GroupId;

/// One group's gossip, as `cove status` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct GroupHealth {
    /// The group id.
    pub group: String,
    /// The group's name.
    pub name: String,
    /// Connected peers subscribed to the group's topic (members, as far as gossip knows).
    pub members_connected: usize,
    /// Members in our gossip mesh for the group (those we forward messages to).
    pub mesh_peers: usize,
    /// Connected members whose gossip score is below the gossip threshold (we exchange no
    /// gossip with them). Includes those below the lower thresholds.
    pub below_gossip: usize,
    /// Connected members below the publish threshold: our own messages skip them.
    pub below_publish: usize,
    /// Connected members below the graylist threshold: what they send is dropped unread.
    pub graylisted: usize,
    /// What is wrong, in words; `None` when gossip works.
    pub problem: Option<String>,
    /// When this node was last connected to a member of the group (unix ms), from the
    /// group's remembered peers (`crate::addr_book`); `None` if never.
    #[serde(default)]
    pub last_contact_ms: Option<u64>,
}

impl GroupHealth {
    /// `group`'s health from the gossip layer's view of its topic.
    pub fn new(group: &GroupId, name: &str, topic: TopicHealth) -> GroupHealth {
        GroupHealth {
            group: group.to_string(),
            name: name.to_string(),
            members_connected: topic.subscribed,
            mesh_peers: topic.mesh,
            below_gossip: topic.below_gossip,
            below_publish: topic.below_publish,
            graylisted: topic.graylisted,
            problem: problem(&topic),
            last_contact_ms: None,
        }
    }

    /// Adds when a member was last connected (`last_contact_ms`, unix ms) and, when none is
    /// connected now, says so in words with how long ago that was.
    pub fn with_last_contact(mut self, last_contact_ms: Option<u64>, now_ms: u64) -> Self {
        self.last_contact_ms = last_contact_ms;
        if self.members_connected == 0 {
            let when = match last_contact_ms {
                Some(t) => format!("last contact {}", ago(now_ms.saturating_sub(t))),
                None => "none contacted yet".to_string(),
            };
            self.problem = Some(format!(
                "no member reachable: {when}; posts wait in the outbox until one is"
            ));
        }
        self
    }

    /// Whether the problem is one `cove up` warns about: a connected group whose gossip is
    /// impaired by scores. Having no member online is normal for a small group and is only
    /// shown, not warned about.
    pub fn is_warning(&self) -> bool {
        self.problem.is_some() && self.members_connected > 0
    }
}

/// The worst thing wrong with gossip on a topic, in words a member can act on.
fn problem(topic: &TopicHealth) -> Option<String> {
    let n = topic.subscribed;
    if n == 0 {
        return Some("no member connected: posts wait in the outbox until one is".into());
    }
    if topic.publishable() == 0 {
        return Some(format!(
            "cannot publish: all {n} connected member(s) are below the publish threshold \
             (their scores fell for invalid messages or broken gossip promises); \
             posts wait in the outbox and reach the group only by sync"
        ));
    }
    if topic.graylisted > 0 {
        return Some(format!(
            "{} of {n} connected member(s) graylisted: everything they send is dropped",
            topic.graylisted
        ));
    }
    if topic.below_gossip > 0 {
        return Some(format!(
            "{} of {n} connected member(s) below the gossip threshold: no gossip is exchanged \
             with them",
            topic.below_gossip
        ));
    }
    None
}

/// `ms` in the largest whole unit that fits, for people: "40 s ago", "3 h ago", "2 d ago".
pub fn ago(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// Which groups currently have a warning logged, so that each problem is logged once when
/// it appears and once when it clears. Bounded by the number of groups joined.
#[derive(Debug, Default)]
pub struct Warnings {
    active: HashMap<GroupId, String>,
}

/// What to log after a health check of one group.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// A new (or different) problem: warn with its words.
    Appeared(String),
    /// The earlier problem is gone.
    Cleared,
    /// Nothing new.
    Same,
}

impl Warnings {
    /// Records `health` for `group` and says what changed since the last check.
    pub fn update(&mut self, group: GroupId, health: &GroupHealth) -> Change {
        match (health.is_warning(), self.active.get(&group)) {
            (true, Some(old)) if health.problem.as_ref() == Some(old) => Change::Same,
            (true, _) => {
                let problem = health.problem.clone().unwrap_or_default();
                self.active.insert(group, problem.clone());
                Change::Appeared(problem)
            }
            (false, Some(_)) => {
                self.active.remove(&group);
                Change::Cleared
            }
            (false, None) => Change::Same,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(subscribed: usize, below: [usize; 3]) -> TopicHealth {
        TopicHealth {
            subscribed,
            mesh: subscribed.min(6),
            below_gossip: below[0],
            below_publish: below[1],
            graylisted: below[2],
        }
    }

    fn health(t: TopicHealth) -> GroupHealth {
        GroupHealth::new(&GroupId::from_bytes([7; 32]), "club", t)
    }

    #[test]
    fn healthy_group_has_no_problem() {
        assert_eq!(health(topic(40, [0, 0, 0])).problem, None);
    }

    #[test]
    fn every_member_below_publish_is_said_in_words() {
        let h = health(topic(15, [15, 15, 15]));
        let problem = h.problem.as_deref().unwrap_or_default();
        assert!(problem.starts_with("cannot publish: all 15"), "{problem}");
        assert!(h.is_warning());
    }

    #[test]
    fn graylisted_and_low_scores_are_counted() {
        let h = health(topic(20, [2, 1, 1]));
        assert_eq!(
            h.problem.as_deref(),
            Some("1 of 20 connected member(s) graylisted: everything they send is dropped")
        );
        let h = health(topic(20, [3, 0, 0]));
        assert!(h.problem.unwrap_or_default().starts_with("3 of 20"));
    }

    #[test]
    fn alone_is_shown_but_not_warned() {
        let h = health(topic(0, [0, 0, 0]));
        assert!(h.problem.is_some());
        assert!(!h.is_warning());
    }

    #[test]
    fn no_member_reachable_says_how_long_ago_the_last_contact_was() {
        let now = 10 * 86_400_000;
        let h = health(topic(0, [0, 0, 0])).with_last_contact(Some(now - 3 * 3_600_000 - 5), now);
        assert_eq!(
            h.problem.as_deref(),
            Some(
                "no member reachable: last contact 3 h ago; posts wait in the outbox until one is"
            )
        );
        assert!(!h.is_warning());
        let h = health(topic(0, [0, 0, 0])).with_last_contact(None, now);
        assert!(h.problem.unwrap_or_default().contains("none contacted yet"));
        let h = health(topic(2, [0, 0, 0])).with_last_contact(Some(now), now);
        assert_eq!((h.problem, h.last_contact_ms), (None, Some(now)));
        assert_eq!(ago(59_999), "59 s ago");
        assert_eq!(ago(61_000), "1 min ago");
        assert_eq!(ago(3 * 86_400_000), "3 d ago");
    }

    #[test]
    fn a_problem_is_warned_once_and_its_end_once() {
        let mut warnings = Warnings::default();
        let group = GroupId::from_bytes([1; 32]);
        let bad = health(topic(15, [15, 15, 15]));
        let good = health(topic(15, [0, 0, 0]));
        assert!(matches!(warnings.update(group, &bad), Change::Appeared(_)));
        assert_eq!(warnings.update(group, &bad), Change::Same);
        assert_eq!(warnings.update(group, &good), Change::Cleared);
        assert_eq!(warnings.update(group, &good), Change::Same);
    }
}
