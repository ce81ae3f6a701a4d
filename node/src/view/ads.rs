//! Authorised advertisers: grants, ads, on-device targeting and offers.
//!
//! Admins sign `grant`s naming an advertiser key; the advertiser signs `ad`s with that key
//! under a grant; validation (`decide::check_ad`) accepts an ad only within its grant's window,
//! quota and targeting. Matching runs here, on this member's device, against private interests
//! that never leave the store: nothing a member sees, matches or opens is sent anywhere.
//!
//! Which ads are *live* (shown at all) is decided the same way on every node: grant not
//! revoked and covering now, the ad among the first `daily_quota` of its grant's UTC day, and
//! its offer (if any) not expired.

use serde::{Deserialize, Serialize};

use cove_crypto::{GroupId, PublicKey};

use crate::error::{Input, NodeError};
use crate::message::{Ad, Advertiser, Content, Grant, MessageId, Offer, Targeting};
use crate::store::StoredMessage;
use crate::view::social::FeedItem;
use crate::view::View;

/// The feed shows one matched ad after every this many items.
pub const AD_INTERVAL: usize = 5;
/// A member's feed shows the same ad at most this many times per UTC day (local count).
pub const AD_DAILY_CAP: u64 = 3;
/// Most ads listed at once.
pub const MAX_ADS_LISTED: usize = 100;

/// An ad as shown to this member.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AdView {
    /// Ad id (hex).
    pub id: String,
    /// Group id (hex).
    pub group: String,
    /// Advertiser key (hex).
    pub advertiser: String,
    /// Name the admin approved in the grant.
    pub advertiser_name: String,
    /// The advertiser's own profile, if published.
    pub profile: Option<Advertiser>,
    /// Grant id (hex).
    pub grant: String,
    /// Created, unix ms.
    pub created_at: u64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Targeting expression.
    pub targeting: Targeting,
    /// Offer, if any (only while valid).
    pub offer: Option<Offer>,
    /// Whether this member's interests match the targeting.
    pub matched: bool,
    /// The interest keys that matched (`--explain`).
    pub matched_keys: Vec<String>,
}

/// A grant as listed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct GrantView {
    /// Grant id (hex).
    pub id: String,
    /// The grant.
    pub grant: Grant,
    /// Issuing admin (hex).
    pub issued_by: String,
    /// Revoked?
    pub revoked: bool,
}

pub(crate) fn parse_key(text: &str, what: &str) -> Result<PublicKey, NodeError> {
    text.trim()
        .parse()
        .map_err(|e| NodeError::invalid(Input::Advertiser, format!("{text:?} is not {what}: {e}")))
}

impl View {
    fn grant_of(&self, id: &MessageId) -> Result<Option<(StoredMessage, Grant)>, NodeError> {
        let Some(stored) = self.store().message(id)? else {
            return Ok(None);
        };
        match &stored.signed.message.content {
            Content::Grant(g) => {
                let g = g.clone();
                Ok(Some((stored, g)))
            }
            _ => Ok(None),
        }
    }

    /// Whether an ad is live now: grant unrevoked and covering `now`, within quota, offer valid.
    fn live(
        &self,
        stored: &StoredMessage,
        ad: &Ad,
        now_ms: u64,
    ) -> Result<Option<Grant>, NodeError> {
        let Some((_, grant)) = self.grant_of(&ad.grant)? else {
            return Ok(None);
        };
        let msg = &stored.signed.message;
        let in_window = grant.not_before <= now_ms && now_ms <= grant.not_after;
        let within_quota = self.store().ad_rank(&ad.grant, msg.created_at, &msg.id)?
            < u64::from(grant.daily_quota);
        let offer_valid = ad.offer.as_ref().is_none_or(|o| o.valid_until >= now_ms);
        let removed = self.store().withdrawn(&msg.id, &msg.author)?;
        Ok((in_window
            && within_quota
            && offer_valid
            && !removed
            && !self.store().revoked(&ad.grant)?)
        .then_some(grant))
    }

    fn ad_view(&self, stored: &StoredMessage, now_ms: u64) -> Result<Option<AdView>, NodeError> {
        let msg = &stored.signed.message;
        let Content::Ad(ad) = &msg.content else {
            return Ok(None);
        };
        let Some(grant) = self.live(stored, ad, now_ms)? else {
            return Ok(None);
        };
        let interests = self.store().interests()?;
        let mut matched_keys = Vec::new();
        let matched = ad.targeting.matches(&interests, &mut matched_keys);
        let profile = self
            .store()
            .advertiser(&msg.group, &msg.author)?
            .and_then(|p| match p.signed.message.content {
                Content::Advertiser(a) => Some(a),
                _ => None,
            });
        Ok(Some(AdView {
            id: msg.id.to_string(),
            group: msg.group.to_string(),
            advertiser: msg.author.to_string(),
            advertiser_name: grant.name,
            profile,
            grant: ad.grant.to_string(),
            created_at: msg.created_at,
            title: ad.title.clone(),
            body: ad.body.clone(),
            targeting: ad.targeting.clone(),
            offer: ad.offer.clone(),
            matched,
            matched_keys,
        }))
    }

    /// Live ads of a group that match this member's interests, newest first.
    pub fn matched_ads(&self, group: &GroupId, now_ms: u64) -> Result<Vec<AdView>, NodeError> {
        self.group_or_err(group)?;
        let mut out = Vec::new();
        for id in self.store().ads(group) {
            if out.len() >= MAX_ADS_LISTED {
                break;
            }
            if let Some(stored) = self.store().message(&id?)? {
                if let Some(view) = self.ad_view(&stored, now_ms)?.filter(|v| v.matched) {
                    out.push(view);
                }
            }
        }
        Ok(out)
    }

    /// One live ad, matched or not (the member asked for it by id).
    pub fn ad_show(&self, id: &str, now_ms: u64) -> Result<AdView, NodeError> {
        let id: MessageId = id.parse()?;
        let stored = self
            .store()
            .message(&id)?
            .filter(|m| self.group(&m.signed.message.group).is_some())
            .ok_or_else(|| NodeError::invalid(Input::Advertiser, format!("unknown ad {id}")))?;
        if !matches!(stored.signed.message.content, Content::Ad(_)) {
            return Err(NodeError::invalid(
                Input::Advertiser,
                format!(
                    "{id} is a {}, not an ad",
                    stored.signed.message.content.kind()
                ),
            ));
        }
        self.ad_view(&stored, now_ms)?.ok_or_else(|| {
            NodeError::invalid(Input::Advertiser, format!("ad {id} is no longer shown: its offer expired, or its grant expired or was revoked"))
        })
    }

    /// Inserts matched ads into a feed: one after every [`AD_INTERVAL`] items, each labelled
    /// (`kind: "ad"`), none shown [`AD_DAILY_CAP`] times today already. Showing is counted by
    /// whoever shows the feed (`Node::ads_shown`): a view never writes.
    pub fn interleave_ads(
        &self,
        group: &GroupId,
        items: Vec<FeedItem>,
        now_ms: u64,
    ) -> Result<Vec<FeedItem>, NodeError> {
        let mut ads = Vec::new();
        for ad in self.matched_ads(group, now_ms)? {
            if self.store().ad_views(&ad.id.parse()?, now_ms)? < AD_DAILY_CAP {
                ads.push(ad);
            }
        }
        let mut ads = ads.into_iter();
        let mut out = Vec::with_capacity(items.len() + items.len() / AD_INTERVAL);
        for (i, item) in items.into_iter().enumerate() {
            out.push(item);
            if (i + 1) % AD_INTERVAL == 0 {
                if let Some(ad) = ads.next() {
                    out.push(ad_item(ad));
                }
            }
        }
        Ok(out)
    }

    /// Grants of a group, newest first.
    pub fn grants(&self, group: &GroupId) -> Result<Vec<GrantView>, NodeError> {
        let mut out = Vec::new();
        for stored in self.store().grants(group)? {
            let msg = stored.signed.message;
            if let Content::Grant(grant) = msg.content {
                out.push(GrantView {
                    id: msg.id.to_string(),
                    revoked: self.store().revoked(&msg.id)?,
                    issued_by: msg.author.to_string(),
                    grant,
                });
            }
        }
        out.sort_by(|a, b| {
            b.grant
                .not_before
                .cmp(&a.grant.not_before)
                .then(b.id.cmp(&a.id))
        });
        Ok(out)
    }
}

/// An ad as a labelled feed item.
fn ad_item(ad: AdView) -> FeedItem {
    FeedItem {
        id: ad.id.clone(),
        kind: "ad".into(),
        author: ad.advertiser.clone(),
        fingerprint: ad.advertiser.get(..8).unwrap_or_default().to_string(),
        nickname: Some(format!("Ad · {}", ad.advertiser_name)),
        mine: false,
        created_at: ad.created_at,
        title: Some(ad.title.clone()),
        text: ad.body.clone(),
        edited: false,
        recommendations: 0,
        recommended_by_me: false,
        replies: 0,
        parent: None,
        explain: None,
        ad: Some(ad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Core;
    use crate::core::Rejection;
    use crate::message::Revoke;
    use crate::message::{sign, Place, SignedMessage};
    use crate::store::DAY_MS;
    use crate::testing::{each_store, Stores};
    use cove_crypto::Pseudonym;
    use cove_crypto::{Invite, MasterSeed};

    const NOW: u64 = 1_800_000_000_000;

    struct World {
        ant: Core,
        bat: Core,
        group: GroupId,
        shop: Pseudonym,
    }

    fn world(s: &mut Stores) -> World {
        let mut ant = s.core(1);
        let mut bat = s.core(2);
        let group = ant.create_group("club", NOW - 10 * DAY_MS).unwrap();
        let invite = Invite::decode(
            &ant.invite(&group, vec![], NOW / 1000 + 3600).unwrap(),
            NOW / 1000,
        )
        .unwrap();
        bat.join(&invite, NOW).unwrap();
        World {
            ant,
            bat,
            group,
            shop: Pseudonym::from_secret_bytes([9; 32]),
        }
    }

    fn grant(w: &World, signer: &Pseudonym, quota: u32) -> SignedMessage {
        let content = Content::Grant(Grant {
            advertiser: w.shop.public(),
            name: "Bean There".into(),
            not_before: NOW - DAY_MS,
            not_after: NOW + DAY_MS,
            daily_quota: quota,
            targeting: vec!["interest:coffee".into(), "area:gangnam".into()],
        });
        sign(signer, &w.group, NOW - DAY_MS, content).unwrap()
    }

    fn ad(
        w: &World,
        signer: &Pseudonym,
        grant: &SignedMessage,
        at: u64,
        key: &str,
    ) -> SignedMessage {
        let content = Content::Ad(Ad {
            grant: grant.message.id,
            title: "Latte".into(),
            body: "Two for one".into(),
            targeting: Targeting {
                key: Some(key.into()),
                ..Default::default()
            },
            offer: Some(Offer {
                place: Place {
                    name: "Bean There".into(),
                    address: "1 Main St".into(),
                    lat: None,
                    lon: None,
                },
                coupon: Some("LATTE2".into()),
                valid_until: NOW + DAY_MS,
            }),
        });
        sign(signer, &w.group, at, content).unwrap()
    }

    fn admin(w: &World) -> Pseudonym {
        MasterSeed::from_bytes([1; 32]).pseudonym(&w.group)
    }

    #[test]
    fn an_authorised_ad_is_accepted_and_matched_on_device() {
        each_store(|s| {
            let mut w = world(s);
            let g = grant(&w, &admin(&w), 5);
            w.bat.ingest_signed(&w.group, &g.bytes, NOW).unwrap();
            let a = ad(&w, &w.shop.clone(), &g, NOW, "interest:coffee");
            w.bat.ingest_signed(&w.group, &a.bytes, NOW).unwrap();
            assert!(
                w.bat.view().matched_ads(&w.group, NOW).unwrap().is_empty(),
                "no interests, no match"
            );
            w.bat.store().set_interest("interest:coffee", true).unwrap();
            let ads = w.bat.view().matched_ads(&w.group, NOW).unwrap();
            assert_eq!(ads.len(), 1);
            assert_eq!(ads[0].matched_keys, ["interest:coffee"]);
            assert_eq!(
                w.bat
                    .view()
                    .ad_show(&ads[0].id, NOW)
                    .unwrap()
                    .offer
                    .unwrap()
                    .coupon
                    .as_deref(),
                Some("LATTE2")
            );
            assert!(
                w.bat.view().ad_show(&ads[0].id, NOW + 2 * DAY_MS).is_err(),
                "expired offer hidden"
            );
            let _ = &mut w.ant;
        });
    }

    #[test]
    fn every_class_of_bad_ad_is_rejected_and_counted() {
        each_store(|s| {
            let mut w = world(s);
            let shop = w.shop.clone();
            let member = MasterSeed::from_bytes([2; 32]).pseudonym(&w.group);
            let good = grant(&w, &admin(&w), 1);
            // A grant signed by a non-admin is itself refused; its ads then have no grant.
            let forged = grant(&w, &member, 1);
            assert_eq!(
                w.bat.ingest_signed(&w.group, &forged.bytes, NOW),
                Err(Rejection::NotAdmin)
            );
            let cases: Vec<(SignedMessage, Rejection)> = vec![
                (
                    ad(&w, &shop, &forged, NOW, "interest:coffee"),
                    Rejection::NoGrant,
                ),
                (
                    ad(&w, &shop, &good, NOW + 2 * DAY_MS, "interest:coffee"),
                    Rejection::GrantExpired,
                ),
                (
                    ad(&w, &shop, &good, NOW - 2 * DAY_MS, "interest:coffee"),
                    Rejection::GrantNotYetValid,
                ),
                (
                    ad(&w, &shop, &good, NOW, "interest:wine"),
                    Rejection::TargetingNotAllowed("interest:wine".into()),
                ),
                (
                    ad(&w, &member, &good, NOW, "interest:coffee"),
                    Rejection::NotAdvertiser,
                ),
            ];
            assert_eq!(
                w.bat.ingest_signed(&w.group, &cases[0].0.bytes, NOW),
                Err(Rejection::NoGrant),
                "before the grant too"
            );
            w.bat.ingest_signed(&w.group, &good.bytes, NOW).unwrap();
            for (msg, expected) in &cases {
                assert_eq!(
                    w.bat
                        .ingest_signed(&w.group, &msg.bytes, NOW + 3 * DAY_MS)
                        .err()
                        .as_ref(),
                    Some(expected)
                );
            }
            // Tampered body: the signature no longer verifies.
            let honest = ad(&w, &shop, &good, NOW, "interest:coffee");
            let mut tampered = honest.bytes.clone();
            let pos = tampered.windows(5).position(|x| x == b"Latte").unwrap();
            tampered[pos] = b'M';
            assert!(matches!(
                w.bat.ingest_signed(&w.group, &tampered, NOW),
                Err(Rejection::BadMessage(
                    crate::message::MessageError::BadSignature(_)
                ))
            ));
            // Quota of one per day: the second ad that day is refused.
            w.bat.ingest_signed(&w.group, &honest.bytes, NOW).unwrap();
            let second = ad(&w, &shop, &good, NOW + 1, "area:gangnam");
            assert_eq!(
                w.bat.ingest_signed(&w.group, &second.bytes, NOW),
                Err(Rejection::OverQuota(1))
            );
            // Revocation: the live ad disappears, new ones are refused.
            w.bat.store().set_interest("interest:coffee", true).unwrap();
            assert_eq!(w.bat.view().matched_ads(&w.group, NOW).unwrap().len(), 1);
            let revoke = sign(
                &admin(&w),
                &w.group,
                NOW,
                Content::Revoke(Revoke {
                    grant: good.message.id,
                }),
            )
            .unwrap();
            w.bat.ingest_signed(&w.group, &revoke.bytes, NOW).unwrap();
            assert!(w.bat.view().matched_ads(&w.group, NOW).unwrap().is_empty());
            let after = ad(&w, &shop, &good, NOW + DAY_MS / 2, "interest:coffee");
            assert_eq!(
                w.bat.ingest_signed(&w.group, &after.bytes, NOW + DAY_MS),
                Err(Rejection::GrantRevoked)
            );
            let (_, counters) = w.bat.counters();
            for reason in [
                "not_admin",
                "no_grant",
                "grant_expired",
                "grant_not_yet_valid",
                "targeting_not_allowed",
                "not_advertiser",
                "bad_signature",
                "over_quota",
                "grant_revoked",
            ] {
                assert!(
                    counters.get(reason).copied().unwrap_or(0) >= 1,
                    "{reason} counted"
                );
            }
            // None of the refused ads was stored.
            for (msg, _) in &cases {
                assert!(!w.bat.store().contains(&msg.message.id).unwrap());
            }
        });
    }

    #[test]
    fn a_grant_arriving_after_its_ad_converges_and_quota_ties_resolve_the_same_everywhere() {
        each_store(|s| {
            let mut w = world(s);
            let g = grant(&w, &admin(&w), 1);
            let shop = w.shop.clone();
            let early = ad(&w, &shop, &g, NOW, "interest:coffee");
            let late = ad(&w, &shop, &g, NOW + 1, "interest:coffee");
            // bat sees the ad first: refused without penalty, not stored, so sync offers it again.
            assert_eq!(
                w.bat.ingest_signed(&w.group, &early.bytes, NOW),
                Err(Rejection::NoGrant)
            );
            assert!(!Rejection::NoGrant.is_penalised());
            w.bat.ingest_signed(&w.group, &g.bytes, NOW).unwrap();
            w.bat.ingest_signed(&w.group, &early.bytes, NOW).unwrap();
            // ant receives the two ads in the other order: both get in (each was first when it
            // arrived), but only the first of the day by (created_at, id) is shown, as at bat.
            w.ant
                .ingest_signed(&w.group, &g.bytes, NOW)
                .unwrap_or_else(|e| panic!("{e}"));
            w.ant.ingest_signed(&w.group, &late.bytes, NOW).unwrap();
            w.ant.ingest_signed(&w.group, &early.bytes, NOW).unwrap();
            for core in [&w.ant, &w.bat] {
                core.store().set_interest("interest:coffee", true).unwrap();
                let shown: Vec<String> = core
                    .view()
                    .matched_ads(&w.group, NOW)
                    .unwrap()
                    .into_iter()
                    .map(|a| a.id)
                    .collect();
                assert_eq!(shown, [early.message.id.to_string()]);
            }
        });
    }
}
