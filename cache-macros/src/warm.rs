//! `#[cached(warm = true)]`: the registration of a refresh for the key being served, so a
//! `Warmer` can rerun the function for it.
//!
//! The function's body is emitted a second time, inside a closure over owned clones of the
//! arguments (`Clone + Send + Sync + 'static`, as for `background = true`); the registration
//! runs only while a warmer is attached to the cache and the key has none yet, so the clones
//! cost nothing otherwise.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Pat, Path, Type};

/// The statement registering the refresh, placed after `__cache_handle`, `__cache_verdict`,
/// `__cache_key` and `__cache_opts` are bound and before the body's future is built.
pub(crate) fn registration(
    f: &ItemFn,
    krate: &Path,
    marker: &TokenStream,
    ret: &Type,
    unless: &TokenStream,
) -> syn::Result<TokenStream> {
    let mut names = Vec::new();
    for arg in &f.sig.inputs {
        match arg {
            FnArg::Receiver(r) => {
                return Err(syn::Error::new(
                    r.span(),
                    "`warm = true` reruns the function on its own: it needs a free function (no `self`) whose arguments are owned `Clone + Send + Sync + 'static` values",
                ))
            }
            FnArg::Typed(pt) => match &*pt.pat {
                Pat::Ident(p) if p.subpat.is_none() && p.by_ref.is_none() => {
                    names.push(p.ident.clone());
                }
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "`warm = true` needs plain argument names (`id: u64`), which it clones into the refresh",
                    ))
                }
            },
        }
    }
    let clones = names.iter().map(|n| {
        quote_spanned!(n.span()=> #[allow(unused_mut, unused_variables)] let mut #n = ::core::clone::Clone::clone(&#n);)
    });
    let clones2 = clones.clone();
    let block = &f.block;
    Ok(quote! {
        if let ::core::option::Option::Some(__cache_w) =
            #krate::__private::warm_slot(__cache_handle, ::core::option::Option::as_deref(&__cache_key))
        {
            #(#clones)*
            __cache_verdict.register::<#marker, #ret, _, _, _>(
                __cache_w,
                move || {
                    #(#clones2)*
                    async move {
                        let __cache_ret: #ret = #block;
                        __cache_ret
                    }
                },
                ::core::clone::Clone::clone(&__cache_opts),
                #unless,
            );
        }
    })
}
