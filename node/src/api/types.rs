//! The typed requests and answers of the [`Node`](crate::Node) API that are not views of
//! stored messages (those live in [`crate::view`]).

use std::time::Duration;

use crate::view::social::Order;

/// Which feed to read ([`crate::Node::feed_ranked`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedQuery {
    /// Group id or unique name; `None`: the only group joined.
    pub group: Option<String>,
    /// The order.
    pub order: Order,
    /// Only posts created within this long before now.
    pub window: Option<Duration>,
    /// Most items (at most [`crate::view::social::MAX_FEED_LIMIT`]).
    pub limit: usize,
    /// Include each item's score components.
    pub explain: bool,
}

impl FeedQuery {
    /// The newest `limit` posts of `group`.
    pub fn new_posts(group: Option<&str>, limit: usize) -> Self {
        Self {
            group: group.map(str::to_string),
            order: Order::New,
            window: None,
            limit,
            explain: false,
        }
    }
}
