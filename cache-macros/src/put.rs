//! `#[cache_put(key = "user:{user.id}", ttl, tags)]`: write-through. After the function
//! succeeds, its value (the `Ok` or `Some` part) is stored under the key through
//! `Cache::set_with`, the encoding a `#[cached]` reader of the same key decodes.
//!
//! The key and tags are templates over the parameters, computed before the body runs (so the
//! body may consume them), and over `result` (the stored value, by reference), computed after.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, ItemFn, LitStr, Path, ReturnType, Type};

use crate::attr::{self, DurationArg};
use crate::expand::{self, Shape};
use crate::template;

mod kw {
    syn::custom_keyword!(key);
    syn::custom_keyword!(ttl);
    syn::custom_keyword!(tags);
    syn::custom_keyword!(cache);
}

/// The options of `#[cache_put]`.
#[derive(Default)]
pub(crate) struct PutArgs {
    key: Option<LitStr>,
    ttl: Option<DurationArg>,
    tags: Vec<LitStr>,
    cache: Option<Expr>,
    krate: Option<Path>,
}

impl Parse for PutArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut a = PutArgs::default();
        let mut tags = None;
        attr::options(input, |input| {
            let la = input.lookahead1();
            let span = input.span();
            if la.peek(kw::key) {
                input.parse::<kw::key>()?;
                attr::once(&mut a.key, span, input, "key", |i| i.parse())
            } else if la.peek(kw::ttl) {
                input.parse::<kw::ttl>()?;
                attr::once(&mut a.ttl, span, input, "ttl", |i| {
                    attr::duration(i, "ttl", true)
                })
            } else if la.peek(kw::tags) {
                input.parse::<kw::tags>()?;
                attr::once_list(&mut tags, &mut a.tags, span, input, "tags")
            } else if la.peek(kw::cache) {
                input.parse::<kw::cache>()?;
                attr::once(&mut a.cache, span, input, "cache", attr::expr)
            } else if la.peek(syn::Token![crate]) {
                input.parse::<syn::Token![crate]>()?;
                attr::once(&mut a.krate, span, input, "crate", attr::krate)
            } else {
                Err(crate::unknown::error(
                    input,
                    "cache_put",
                    crate::unknown::PUT,
                ))
            }
        })?;
        Ok(a)
    }
}

/// The name a template uses for the stored value.
const RESULT: &str = "result";

/// Whether `lit` has a `{result}` or `{result.field}` placeholder.
fn mentions_result(lit: &LitStr) -> bool {
    let text = lit.value();
    text.match_indices('{').any(|(i, _)| {
        let rest = text[i + 1..].trim_start();
        rest.strip_prefix(RESULT)
            .is_some_and(|r| r.trim_start().starts_with(['}', '.']))
    })
}

pub(crate) fn cache_put(args: PutArgs, f: ItemFn) -> TokenStream {
    expand::or_original(put_inner(args, &f), &f)
}

fn put_inner(args: PutArgs, f: &ItemFn) -> syn::Result<TokenStream> {
    let sig = &f.sig;
    expand::check_common(sig, "cache_put")?;
    expand::check_async(sig, "cache_put", "")?;
    expand::no_impl_trait_return(sig, "cache_put")?;
    let Some(key) = &args.key else {
        return Err(syn::Error::new(
            Span::call_site(),
            "`#[cache_put]` needs `key = \"..\"`: where to store the function's result",
        ));
    };
    let krate = expand::krate(args.krate);
    let mut scope = expand::scope(sig);
    // `result` is the stored value unless a parameter has that name.
    let result_is_value = scope.names.insert(RESULT.to_owned());
    let after = |lit: &LitStr| result_is_value && mentions_result(lit);
    let ret = expand::return_type(sig);
    let (shape, _) = Shape::of(&ret);
    let marker = shape.marker(&krate);
    let handle = format_ident!("__cache_handle");

    // Each template is computed before the body, or after it when it reads `result`.
    let (mut before, mut later) = (Vec::new(), Vec::new());
    let key_tokens = template::expand(key, &scope, &krate)?;
    if after(key) {
        later.push(quote!(let __cache_key: ::std::string::String = #key_tokens;));
    } else {
        before.push(quote!(let __cache_key: ::std::string::String = #key_tokens;));
    }
    let mut tag_names = Vec::new();
    for (i, t) in args.tags.iter().enumerate() {
        let name = format_ident!("__cache_tag{i}");
        let tokens = template::expand(t, &scope, &krate)?;
        let stmt = quote!(let #name: ::std::string::String = #tokens;);
        if after(t) {
            later.push(stmt);
        } else {
            before.push(stmt);
        }
        tag_names.push(name);
    }
    let mut opts = quote!(#krate::__private::SetOptions::new());
    if let Some(ttl) = &args.ttl {
        let d = expand::duration_tokens(ttl, &handle, &krate);
        opts.extend(quote!(.ttl(#d)));
    }
    if !tag_names.is_empty() {
        opts.extend(quote!(.tags([#(#tag_names),*])));
    }
    // Owned (an `Arc` clone), so the body may consume what `cache = ..` borrows from.
    let handle_let = match &args.cache {
        Some(e) => quote_spanned! {e.span()=>
            let __cache_owned: #krate::__private::Cache = #krate::__private::Cache::clone(&#e);
            let __cache_handle = &__cache_owned;
        },
        None => expand::cache_handle(None, &krate),
    };
    let result_ident = syn::Ident::new(RESULT, Span::call_site());
    let bind_result = if !later.is_empty() {
        quote!(let #result_ident = __cache_value;)
    } else {
        quote!()
    };
    let block = &f.block;
    let ret_annot = match &sig.output {
        ReturnType::Type(_, ty) if matches!(**ty, Type::ImplTrait(_)) => quote!(),
        _ => quote!(: #ret),
    };
    // Spanned at the return type, so "the trait `Serialize` is not implemented" points there.
    let stored = expand::respan(
        quote!(<#marker as #krate::__private::Stored<_>>::stored),
        ret.span(),
    );
    // The value's span, so "cannot be stored: not `Serialize`" points at it.
    let (_, inner) = Shape::of(&ret);
    let at = match shape {
        Shape::Plain => ret.span(),
        Shape::Result | Shape::Option => inner.span(),
    };
    // The whole call and its `.await` there, so its two uses of the bound are one error.
    let put_call = expand::respan(
        quote!(#krate::__private::put(__cache_handle, &__cache_key, __cache_value, __cache_opts).await),
        at,
    );
    let allows = expand::allows();
    let (attrs, vis) = (&f.attrs, &f.vis);
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #handle_let
            #(#before)*
            #allows
            let __cache_ret #ret_annot = async {
                let __cache_ret #ret_annot = #block;
                __cache_ret
            }
            .await;
            if let ::core::option::Option::Some(__cache_value) = #stored(&__cache_ret) {
                #bind_result
                #(#later)*
                let __cache_opts = #opts;
                #put_call;
            }
            __cache_ret
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_placeholders_are_recognised() {
        let lit = |s: &str| LitStr::new(s, Span::call_site());
        assert!(mentions_result(&lit("user:{result.id}")));
        assert!(mentions_result(&lit("{result}")));
        assert!(!mentions_result(&lit("user:{results}")));
        assert!(!mentions_result(&lit("user:{user.id}")));
    }
}
