//! The check of the value `#[cached]` stores: one error at the return type when the value
//! cannot be cached, naming the bound it misses (see `cache_core::__private::ValueProbe`).

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Path, Type};

use crate::expand::{respan, Shape};

/// Statements binding `__cache_verdict` (`Storable`, or `Unstorable<_>` naming the missing
/// bound) and checking it at the stored type: the `T` of `Result<T, E>` or `Option<T>`, or the
/// whole return type. The cache is then called through `__cache_verdict`, so a value that
/// cannot be stored fails there and nowhere else.
pub(crate) fn verdict(krate: &Path, marker: &TokenStream, ret: &Type) -> TokenStream {
    let (shape, inner) = Shape::of(ret);
    let at = match shape {
        Shape::Plain => ret.span(),
        Shape::Result | Shape::Option => inner.span(),
    };
    let value = quote!(<#marker as #krate::__private::Shape<#ret>>::Value);
    let checked = respan(quote!(::core::marker::PhantomData::<#value>), at);
    quote! {
        // The borrows are the probe's levels.
        #[allow(clippy::needless_borrow)]
        let __cache_verdict = {
            #[allow(unused_imports)]
            use #krate::__private::{
                ProbeNoClone as _, ProbeNoDeserialize as _, ProbeNoSend as _,
                ProbeNoSerialize as _, ProbeNoSync as _, ProbeStorable as _,
            };
            (&&&&&&#krate::__private::ValueProbe::<#value>::new()).verdict()
        };
        __cache_verdict.check(#checked);
    }
}
