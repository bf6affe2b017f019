//! Tickets, the home of their whole lifecycle: one live ticket per (customer, subject, class)
//! ([`key`]), created and counted as events arrive ([`batch`], written by [`apply`]), reopened
//! when a resolved ticket gets a new report, raised in severity with volume ([`severity`]),
//! worked by staff ([`work`]), closed when idle ([`idle`]), merged or emptied into another ([`merge`]), locked through what
//! they are about ([`target`], [`autolock`]), and read as the queue ([`queue`]) and as the
//! ticket page ([`page`]). Storage functions here are synchronous `fn(&mut DbConn, …)` and
//! compose inside one transaction.

mod apply;
mod apply_sqlite;
pub mod autolock;
pub mod batch;
pub mod detail;
pub mod idle;
pub mod key;
pub mod merge;
pub mod page;
pub mod queue;
mod severity;
pub mod store;
pub mod target;
mod types;
mod update;
pub mod work;

pub use apply::{add_reporters, add_source_ips};
pub use autolock::AutoLock;
pub use batch::{Batch, NewEvent};
pub use key::TicketKey;
pub use severity::{SeverityPolicy, Thresholds};
pub use types::{Class, Severity, Status, SubjectKind};
pub use work::WorkError;
