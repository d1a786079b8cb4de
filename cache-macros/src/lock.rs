//! The `lock` and `lease` options of `#[cached]`: `lock = false`, `lock = true`,
//! `lock = "local"`, `lock = "distributed"` (a lease in the shared store), and
//! `lease = "30s"` (how long that lease lasts).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::ParseStream;
use syn::{LitBool, LitStr};

/// `lock = …` as written.
pub(crate) enum LockArg {
    /// `true`, `false`, `"local"` (`true`) or `"off"` (`false`).
    Local(bool, Span),
    /// `"distributed"`.
    Distributed(Span),
}

impl LockArg {
    pub(crate) fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if !input.peek(LitStr) {
            let b: LitBool = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`lock` is `true`, `false`, `\"local\"` or `\"distributed\"`",
                )
            })?;
            return Ok(LockArg::Local(b.value, b.span()));
        }
        let lit: LitStr = input.parse()?;
        match lit.value().trim() {
            "distributed" => Ok(LockArg::Distributed(lit.span())),
            "local" => Ok(LockArg::Local(true, lit.span())),
            "off" => Ok(LockArg::Local(false, lit.span())),
            other => Err(syn::Error::new(
                lit.span(),
                format!("unknown lock {other:?}: use `\"local\"` (one load per process, the default), `\"distributed\"` (one load across processes sharing the store) or `false`"),
            )),
        }
    }
}

/// Checks that `lease` comes with `lock = "distributed"`.
pub(crate) fn check(lock: Option<&LockArg>, lease: Option<Span>) -> syn::Result<()> {
    match (lock, lease) {
        (Some(LockArg::Distributed(_)), _) | (_, None) => Ok(()),
        (_, Some(span)) => Err(syn::Error::new(
            span,
            "`lease` is the lease time of a lock across processes: add `lock = \"distributed\"`",
        )),
    }
}

/// The `SetOptions` calls for `lock` and `lease` (`lease` given as its duration tokens).
pub(crate) fn tokens(lock: Option<&LockArg>, lease: Option<TokenStream>) -> TokenStream {
    match (lock, lease) {
        (Some(LockArg::Distributed(_)), Some(d)) => quote!(.lease(#d)),
        (Some(LockArg::Distributed(span)), None) => quote_spanned!(*span=> .distributed_lock()),
        (Some(LockArg::Local(on, span)), _) => quote_spanned!(*span=> .lock(#on)),
        (None, _) => TokenStream::new(),
    }
}
