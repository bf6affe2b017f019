//! Newtype ids, so a ticket id cannot be passed where a customer id is meant.

use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, DieselNewType, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type!(
    /// `customers.id`
    CustomerId,
    /// `tickets.id`
    TicketId,
    /// `users.id`
    UserId,
    /// `raw_messages.id`
    RawMessageId,
    /// `events.id`
    EventId,
    /// `actions.id`
    ActionId,
    /// `api_tokens.id`
    TokenId,
);
