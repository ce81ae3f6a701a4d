//! Ads: the advertiser's own key and profile (`advertiser`), publishing and showing ads
//! (`ad`, `ads`), and the member's private interests they are matched against (`interests`).

use anyhow::Result;
use cove_node::control::Request;
use cove_node::data_dir::DataDir;
use cove_node::message::{Advertiser, Offer, Place};
use cove_node::view::ads::AdView;

use super::Ctx;
use crate::args::{AdCommand, AdvertiserCommand, InterestsCommand};
use crate::parse;

/// `cove advertiser init|show|profile`.
pub(crate) async fn advertiser(ctx: &Ctx, command: AdvertiserCommand) -> Result<()> {
    match command {
        AdvertiserCommand::Init => {
            ctx.out
                .advertiser_key(&DataDir::new(&ctx.data_dir).init_advertiser()?);
            Ok(())
        }
        AdvertiserCommand::Show => {
            ctx.out
                .advertiser_key(&DataDir::new(&ctx.data_dir).load_advertiser()?);
            Ok(())
        }
        AdvertiserCommand::Profile {
            group,
            name,
            place,
            address,
            lat,
            lon,
            contact,
        } => {
            let profile = Advertiser {
                name,
                place: Place {
                    name: place,
                    address,
                    lat,
                    lon,
                },
                contact,
            };
            let publish = Request::AdvertiserProfile { group, profile };
            ctx.create(&publish, "id", "advertiser profile published")
                .await
        }
    }
}

/// `cove ad publish|show`.
pub(crate) async fn ad(ctx: &Ctx, command: AdCommand) -> Result<()> {
    match command {
        AdCommand::Publish {
            group,
            title,
            body,
            target,
            offer_place,
            offer_address,
            coupon,
            offer_until,
        } => {
            let targeting = target.as_deref().map(parse::targeting).transpose()?;
            let offer = match (offer_place, offer_until) {
                (Some(name), Some(until)) => Some(Offer {
                    place: Place {
                        name,
                        address: offer_address.unwrap_or_default(),
                        lat: None,
                        lon: None,
                    },
                    coupon,
                    valid_until: parse::when("--offer-until", &until)?,
                }),
                _ => None,
            };
            let publish = Request::AdPublish {
                group,
                title,
                body,
                targeting,
                offer,
            };
            ctx.create(&publish, "id", "ad published").await
        }
        AdCommand::Show { id } => {
            let ad: AdView = ctx.view(&Request::AdShow { id }).await?;
            ctx.out.ads(std::slice::from_ref(&ad), true);
            Ok(())
        }
    }
}

/// `cove ads [--explain]`: live ads matching this member's interests.
pub(crate) async fn ads(ctx: &Ctx, group: Option<String>, explain: bool) -> Result<()> {
    let ads: Vec<AdView> = ctx.view(&Request::Ads { group }).await?;
    ctx.out.ads(&ads, explain);
    Ok(())
}

/// `cove interests add|remove|list`.
pub(crate) async fn interests(ctx: &Ctx, command: InterestsCommand) -> Result<()> {
    let (add, remove) = match command {
        InterestsCommand::Add { keys } => (keys, vec![]),
        InterestsCommand::Remove { keys } => (vec![], keys),
        InterestsCommand::List => (vec![], vec![]),
    };
    let list: Vec<String> = ctx.view(&Request::Interests { add, remove }).await?;
    ctx.out.interests(&list);
    Ok(())
}
