//! A setting that is wrong, and why: what each module's `validate` returns about its own
//! settings; the settings loader adds the table it is in.

/// One wrong setting: its key within the module's table, and what to do about it.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid {
    pub key: &'static str,
    pub reason: String,
}

impl Invalid {
    /// A refusal of `key` for `reason`, as the `Err` of a `validate`.
    pub fn of<T>(key: &'static str, reason: impl Into<String>) -> Result<T, Invalid> {
        Err(Invalid {
            key,
            reason: reason.into(),
        })
    }
}
