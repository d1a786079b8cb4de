//! `#[cache_invalidate(recache = [get_user(user_id), ..])]`: after the invalidation, run those
//! calls again so they load and store the fresh values. Each call is an ordinary expression over
//! the parameters, evaluated after the body; its future is boxed and handed to
//! `__private::recache`, which tells success from failure by the value's type (`Ok`/`Some`).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Expr, LitBool, LitInt, Path};

/// How many recache calls run at once when `recache_concurrency` is not given.
const DEFAULT_CONCURRENCY: usize = 4;

/// The recache options of `#[cache_invalidate]`.
#[derive(Default)]
pub(crate) struct RecacheArgs {
    pub(crate) calls: Option<Vec<Expr>>,
    pub(crate) concurrency: Option<LitInt>,
    pub(crate) background: Option<LitBool>,
}

impl RecacheArgs {
    /// Options that only make sense with `recache = [..]`.
    pub(crate) fn check(&self) -> syn::Result<()> {
        if self.calls.is_none() {
            let stray = self
                .concurrency
                .as_ref()
                .map(|c| (c.span(), "recache_concurrency"))
                .or(self
                    .background
                    .as_ref()
                    .map(|b| (b.span(), "recache_background")));
            if let Some((span, what)) = stray {
                return Err(syn::Error::new(
                    span,
                    format!("`{what}` needs `recache = [..]` (the calls to run again after the invalidation)"),
                ));
            }
        }
        Ok(())
    }

    /// Statements that run the calls; `handle` is a `&Cache` in scope.
    pub(crate) fn expand(&self, krate: &Path) -> TokenStream {
        let Some(calls) = &self.calls else {
            return quote!();
        };
        if calls.is_empty() {
            return quote!();
        }
        let background = self.background.as_ref().is_some_and(|b| b.value);
        let lifetime = if background {
            quote!('static)
        } else {
            quote!('_)
        };
        let concurrency = match &self.concurrency {
            Some(n) => quote!(#n),
            None => quote!(#DEFAULT_CONCURRENCY),
        };
        let calls = calls.iter().map(|e| {
            let text = e.to_token_stream().to_string();
            // Spanned at the call, so "not a future" or "cannot be sent" points there.
            let run = quote_spanned! {e.span()=>
                let __cache_f = #e;
                ::std::boxed::Box::pin(async move {
                    #[allow(unused_imports)]
                    use #krate::__private::{RecacheOutcome as _, RecachePlain as _};
                    let __cache_r = __cache_f.await;
                    (&__cache_r).recache_ok()
                }) as #krate::__private::RecacheFuture<#lifetime>
            };
            quote!((#text, { #run }))
        });
        let run = if background {
            quote!(#krate::__private::recache_background(#krate::__private::Cache::clone(__cache_handle), #concurrency, __cache_calls).await;)
        } else {
            quote!(#krate::__private::recache(__cache_handle, #concurrency, __cache_calls).await;)
        };
        quote! {
            let __cache_calls: ::std::vec::Vec<#krate::__private::RecacheCall<#lifetime>> =
                ::std::vec![#(#calls),*];
            #run
        }
    }
}
