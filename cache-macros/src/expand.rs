//! Code generation for the three attributes.
//!
//! The user's function keeps its attributes, visibility, signature (generics, `where` clauses,
//! `impl Trait` arguments) and body; only the body is wrapped. The body runs inside an `async`
//! block (or a closure for sync `#[memoize]`) so that its `return` and `?` stay local to it.
//! Generated locals start with `__cache_`, and every support item is reached through
//! `::cache_core::__private` (or the `crate = path` given).

use std::collections::BTreeSet;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{
    parse_quote, Expr, FnArg, GenericArgument, Ident, ItemFn, Pat, Path, PathArguments, ReturnType,
    Signature, Type,
};

use crate::attr::{CachedArgs, DurationArg, InvalidateArgs, MemoizeArgs, Preset};
use crate::template::{self, Scope};

/// What the return type looks like, which decides what is stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `Result<T, E>` (any path ending in `Result`): `Ok` values are stored.
    Result,
    /// `Option<T>`: `Some` values are stored.
    Option,
    /// Anything else: every value is stored.
    Plain,
}

impl Shape {
    pub(crate) fn of(ty: &Type) -> (Shape, Type) {
        if let Type::Path(tp) = ty {
            if let Some(last) = tp.path.segments.last() {
                let first_arg = match &last.arguments {
                    PathArguments::AngleBracketed(a) => a.args.iter().find_map(|g| match g {
                        GenericArgument::Type(t) => Some(t.clone()),
                        _ => None,
                    }),
                    _ => None,
                };
                if let Some(inner) = first_arg {
                    if last.ident == "Result" {
                        return (Shape::Result, inner);
                    }
                    if last.ident == "Option" {
                        return (Shape::Option, inner);
                    }
                }
            }
        }
        (Shape::Plain, ty.clone())
    }

    pub(crate) fn marker(self, krate: &Path) -> TokenStream {
        match self {
            Shape::Result => quote!(#krate::__private::ResultShape),
            Shape::Option => quote!(#krate::__private::OptionShape),
            Shape::Plain => quote!(#krate::__private::PlainShape),
        }
    }
}

/// The user's function, with the error (if any) emitted before it so follow-on errors stay few.
pub(crate) fn or_original(result: syn::Result<TokenStream>, f: &ItemFn) -> TokenStream {
    result.unwrap_or_else(|e| {
        let err = e.to_compile_error();
        quote!(#err #f)
    })
}

pub(crate) fn krate(path: Option<Path>) -> Path {
    path.unwrap_or_else(|| parse_quote!(::cache_core))
}

pub(crate) fn return_type(sig: &Signature) -> Type {
    match &sig.output {
        ReturnType::Default => parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    }
}

pub(crate) fn check_common(sig: &Signature, attr: &str) -> syn::Result<()> {
    if let Some(c) = &sig.constness {
        return Err(syn::Error::new(
            c.span(),
            format!("`#[{attr}]` cannot be used on a `const fn`: the cache is read at run time"),
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new(
            v.span(),
            format!("`#[{attr}]` cannot be used on a variadic function"),
        ));
    }
    Ok(())
}

pub(crate) fn check_async(sig: &Signature, attr: &str, hint: &str) -> syn::Result<()> {
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            format!(
                "`#[{attr}]` needs an `async fn`: the cache store is reached asynchronously{hint}"
            ),
        ));
    }
    Ok(())
}

pub(crate) fn no_impl_trait_return(sig: &Signature, attr: &str) -> syn::Result<()> {
    if let ReturnType::Type(_, ty) = &sig.output {
        if matches!(**ty, Type::ImplTrait(_)) {
            return Err(syn::Error::new(
                ty.span(),
                format!("`#[{attr}]` cannot store an `impl Trait` return value: name the type"),
            ));
        }
    }
    Ok(())
}

/// Collects the names a pattern binds (`Path(id)` binds `id`).
fn bound_names(pat: &Pat, out: &mut Vec<Ident>) {
    match pat {
        Pat::Ident(p) => {
            out.push(p.ident.clone());
            if let Some((_, sub)) = &p.subpat {
                bound_names(sub, out);
            }
        }
        Pat::TupleStruct(p) => p.elems.iter().for_each(|e| bound_names(e, out)),
        Pat::Tuple(p) => p.elems.iter().for_each(|e| bound_names(e, out)),
        Pat::Struct(p) => p.fields.iter().for_each(|f| bound_names(&f.pat, out)),
        Pat::Slice(p) => p.elems.iter().for_each(|e| bound_names(e, out)),
        Pat::Reference(p) => bound_names(&p.pat, out),
        Pat::Type(p) => bound_names(&p.pat, out),
        Pat::Paren(p) => bound_names(&p.pat, out),
        _ => {}
    }
}

/// A typed parameter: its type and the names it binds (one for `id: u64`, several for patterns).
pub(crate) struct Param<'a> {
    pub(crate) ty: &'a Type,
    pub(crate) names: Vec<Ident>,
    /// Written as a plain identifier (`id: u64`), not a pattern.
    pub(crate) simple: bool,
}

pub(crate) fn params(sig: &Signature) -> Vec<Param<'_>> {
    sig.inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(pt) => {
                let mut names = Vec::new();
                bound_names(&pt.pat, &mut names);
                Some(Param {
                    ty: &pt.ty,
                    names,
                    simple: matches!(&*pt.pat, Pat::Ident(p) if p.subpat.is_none()),
                })
            }
            FnArg::Receiver(_) => None,
        })
        .collect()
}

pub(crate) fn receiver(sig: &Signature) -> Option<&syn::Receiver> {
    sig.inputs.iter().find_map(|a| match a {
        FnArg::Receiver(r) => Some(r),
        FnArg::Typed(_) => None,
    })
}

pub(crate) fn scope(sig: &Signature) -> Scope {
    let names: BTreeSet<String> = params(sig)
        .iter()
        .flat_map(|p| p.names.iter().map(|n| n.to_string()))
        .collect();
    Scope {
        names,
        has_self: receiver(sig).is_some(),
    }
}

/// The last path segment of a type, if it is a path.
pub(crate) fn last_segment(ty: &Type) -> Option<&Ident> {
    match ty {
        Type::Path(tp) => tp.path.segments.last().map(|s| &s.ident),
        Type::Reference(r) => last_segment(&r.elem),
        _ => None,
    }
}

pub(crate) fn duration_tokens(d: &DurationArg, handle: &Ident, krate: &Path) -> TokenStream {
    match d {
        DurationArg::Fixed(d, span) => {
            let secs = d.as_secs();
            let nanos = d.subsec_nanos();
            quote_spanned!(*span=> #krate::__private::Duration::new(#secs, #nanos))
        }
        DurationArg::Preset(Preset::Short, span) => quote_spanned!(*span=> #handle.short_ttl()),
        DurationArg::Preset(Preset::Long, span) => quote_spanned!(*span=> #handle.long_ttl()),
        DurationArg::Expr(e) => {
            quote_spanned!(e.span()=> { let __cache_d: #krate::__private::Duration = #e; __cache_d })
        }
    }
}

pub(crate) fn cache_handle(cache: Option<&Expr>, krate: &Path) -> TokenStream {
    match cache {
        Some(e) => quote_spanned!(e.span()=> let __cache_handle: &#krate::__private::Cache = &#e;),
        None => {
            quote!(let __cache_handle: &#krate::__private::Cache = #krate::__private::Cache::global();)
        }
    }
}

/// Whether the signature names `Self` (an associated function of an impl).
pub(crate) fn mentions_self(sig: &Signature) -> bool {
    fn walk(ts: TokenStream) -> bool {
        ts.into_iter().any(|tt| match tt {
            proc_macro2::TokenTree::Ident(i) => i == "Self",
            proc_macro2::TokenTree::Group(g) => walk(g.stream()),
            _ => false,
        })
    }
    walk(sig.inputs.to_token_stream()) || walk(sig.output.to_token_stream())
}

/// `ts` with every token (and group) given `span`.
pub(crate) fn respan(ts: TokenStream, span: Span) -> TokenStream {
    ts.into_iter()
        .map(|tt| match tt {
            proc_macro2::TokenTree::Group(g) => {
                let mut ng = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                ng.set_span(span);
                proc_macro2::TokenTree::Group(ng)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

/// The key type of a free function, when every part can be named in a `static`: simple
/// parameters whose types hold no lifetime (beyond an outer `&`) and no `impl Trait`.
fn typed_key(sig: &Signature, skip: bool) -> Option<TokenStream> {
    fn nameable(ts: TokenStream) -> bool {
        ts.into_iter().all(|tt| match tt {
            proc_macro2::TokenTree::Punct(p) => p.as_char() != '\'',
            proc_macro2::TokenTree::Ident(i) => i != "impl" && i != "Self" && i != "_",
            proc_macro2::TokenTree::Group(g) => nameable(g.stream()),
            proc_macro2::TokenTree::Literal(_) => true,
        })
    }
    if skip || !nameable(sig.output.to_token_stream()) {
        return None;
    }
    let mut parts = Vec::new();
    for p in params(sig) {
        if !p.simple {
            return None;
        }
        let owned = match p.ty {
            Type::Reference(r) => {
                let elem = &r.elem;
                quote!(<#elem as ::std::borrow::ToOwned>::Owned)
            }
            ty => quote!(#ty),
        };
        let inner = match p.ty {
            Type::Reference(r) => r.elem.to_token_stream(),
            ty => ty.to_token_stream(),
        };
        if !nameable(inner) {
            return None;
        }
        parts.push(owned);
    }
    Some(match parts.len() {
        1 => parts.remove(0),
        _ => quote!((#(#parts),*)),
    })
}

/// Allows for lints that generated wrappers trip in user code.
pub(crate) fn allows() -> TokenStream {
    quote!(#[allow(unreachable_code, clippy::let_and_return, clippy::needless_return, clippy::redundant_closure_call)])
}

pub(crate) fn cached(args: CachedArgs, f: ItemFn) -> TokenStream {
    or_original(cached_inner(args, &f), &f)
}

fn cached_inner(args: CachedArgs, f: &ItemFn) -> syn::Result<TokenStream> {
    let sig = &f.sig;
    check_common(sig, "cached")?;
    check_async(
        sig,
        "cached",
        "; for a synchronous function use `#[memoize]`, which keeps values in an in-process table",
    )?;
    no_impl_trait_return(sig, "cached")?;
    let krate = krate(args.krate);
    let scope = scope(sig);
    let ret = return_type(sig);
    let (shape, _) = Shape::of(&ret);
    let marker = shape.marker(&krate);
    let handle = format_ident!("__cache_handle");

    let key = match &args.key {
        Some(lit) => {
            let k = template::expand(lit, &scope, &krate)?;
            quote!(::core::option::Option::Some(#k))
        }
        None => crate::default_key::default_key(f, &krate),
    };
    let mut opts = quote!(#krate::__private::SetOptions::new());
    if let Some(ttl) = &args.ttl {
        let d = duration_tokens(ttl, &handle, &krate);
        opts.extend(quote!(.ttl(#d)));
    }
    if let Some(stale) = &args.stale {
        let d = duration_tokens(stale, &handle, &krate);
        opts.extend(quote!(.stale(#d)));
    }
    let lease = args
        .lease
        .as_ref()
        .map(|d| duration_tokens(d, &handle, &krate));
    opts.extend(crate::lock::tokens(args.lock.as_ref(), lease));
    if !args.tags.is_empty() {
        let tags = args
            .tags
            .iter()
            .map(|t| template::expand(t, &scope, &krate))
            .collect::<syn::Result<Vec<_>>>()?;
        opts.extend(quote!(.tags([#(#tags),*])));
    }
    let condition = args.condition.as_ref().map(|c| {
        quote_spanned! {c.span()=>
            if !{ let __cache_c: bool = #c; __cache_c } {
                return __cache_body.await;
            }
        }
    });
    let unless = match &args.unless {
        Some(u) => quote!(#u),
        None => quote!(|_| false),
    };
    let background = args.background.as_ref().is_some_and(|b| b.value);
    let (handle_let, body_move, helper, handle_arg) = if background {
        // The refresh task needs an owned handle and a `'static` body: arguments move into it.
        let owned = match &args.cache {
            Some(e) => quote_spanned!(e.span()=> #krate::__private::Cache::clone(&#e)),
            None => quote!(#krate::__private::Cache::clone(#krate::__private::Cache::global())),
        };
        (
            quote! {
                let __cache_owned: #krate::__private::Cache = #owned;
                let __cache_handle = &__cache_owned;
            },
            quote!(move),
            quote!(cached_background),
            quote!(__cache_owned),
        )
    } else {
        (
            cache_handle(args.cache.as_ref(), &krate),
            quote!(),
            quote!(cached),
            quote!(#handle),
        )
    };
    let warm = match &args.warm {
        Some(w) if w.value => crate::warm::registration(f, &krate, &marker, &ret, &unless)?,
        _ => quote!(),
    };
    // The value's bounds are checked once, by the verdict; other errors of the call (a body
    // that is not `Send` with `background`) point at the return type.
    let verdict = crate::value_check::verdict(&krate, &marker, &ret);
    let call = respan(quote!(#helper::<#marker, _, _, _>), ret.span());
    let block = &f.block;
    let allows = allows();
    let (attrs, vis) = (&f.attrs, &f.vis);
    let fn_name = sig.ident.to_string();
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            // Per-function hit/miss counters, listed by `cache_core::stats::functions()`.
            static __CACHE_SITE: #krate::__private::FnSite =
                #krate::__private::FnSite::new(::core::concat!(::core::module_path!(), "::", #fn_name));
            #handle_let
            #verdict
            let __cache_key: ::core::option::Option<::std::string::String> = #key;
            let __cache_opts = #opts;
            #warm
            #allows
            let __cache_body = async #body_move {
                let __cache_ret: #ret = #block;
                __cache_ret
            };
            #condition
            __cache_verdict.#call(&__CACHE_SITE, #handle_arg, __cache_key, __cache_opts, __cache_body, #unless).await
        }
    })
}

pub(crate) fn cache_invalidate(args: InvalidateArgs, f: ItemFn) -> TokenStream {
    or_original(invalidate_inner(args, &f), &f)
}

fn invalidate_inner(args: InvalidateArgs, f: &ItemFn) -> syn::Result<TokenStream> {
    let sig = &f.sig;
    check_common(sig, "cache_invalidate")?;
    check_async(sig, "cache_invalidate", "")?;
    args.recache.check()?;
    if args.empty {
        return Err(syn::Error::new(
            Span::call_site(),
            "`#[cache_invalidate]` needs at least one of `keys = [..]`, `tags = [..]`, `patterns = [..]`, `resource = ..`",
        ));
    }
    let krate = krate(args.krate);
    let scope = scope(sig);
    let ret = return_type(sig);
    let (shape, _) = Shape::of(&ret);
    let marker = shape.marker(&krate);
    let list = |lits: &[syn::LitStr]| -> syn::Result<TokenStream> {
        let items = lits
            .iter()
            .map(|l| template::expand(l, &scope, &krate))
            .collect::<syn::Result<Vec<_>>>()?;
        Ok(quote!([#(#items),*]))
    };
    let keys = list(&args.keys)?;
    let tags = list(&args.tags)?;
    let patterns = list(&args.patterns)?;
    // Owned (an `Arc` clone), so the body may consume what `cache = ..` borrows from.
    let handle_let = match &args.cache {
        Some(e) => quote_spanned! {e.span()=>
            let __cache_owned: #krate::__private::Cache = #krate::__private::Cache::clone(&#e);
            let __cache_handle = &__cache_owned;
        },
        None => cache_handle(None, &krate),
    };
    let block = &f.block;
    let ret_annot = match &sig.output {
        ReturnType::Type(_, ty) if matches!(**ty, Type::ImplTrait(_)) => quote!(),
        _ => quote!(: #ret),
    };
    let recache = args.recache.expand(&krate);
    let allows = allows();
    let (attrs, vis) = (&f.attrs, &f.vis);
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #handle_let
            let __cache_keys: &[::std::string::String] = &#keys;
            let __cache_tags: &[::std::string::String] = &#tags;
            let __cache_patterns: &[::std::string::String] = &#patterns;
            #allows
            let __cache_ret #ret_annot = async {
                let __cache_ret #ret_annot = #block;
                __cache_ret
            }
            .await;
            if <#marker as #krate::__private::Shape<_>>::is_value(&__cache_ret) {
                #krate::__private::invalidate(__cache_handle, __cache_keys, __cache_tags, __cache_patterns).await;
                #recache
            }
            __cache_ret
        }
    })
}

pub(crate) fn memoize(args: MemoizeArgs, f: ItemFn) -> TokenStream {
    let accessor = accessor(&args, &f);
    let out = or_original(memoize_inner(args, &f), &f);
    quote!(#out #accessor)
}

/// The error, the function as written and its accessor (with the default capacity).
pub(crate) fn memoize_unchanged(e: syn::Error, f: &ItemFn) -> TokenStream {
    let accessor = accessor(&MemoizeArgs::default(), f);
    let err = e.to_compile_error();
    quote!(#err #f #accessor)
}

fn accessor_name(f: &ItemFn) -> Ident {
    format_ident!("{}_memo", f.sig.ident)
}

/// The `{fn}_memo()` accessor that owns the table; emitted even when the function has an error,
/// so uses of it do not add errors of their own.
fn accessor(args: &MemoizeArgs, f: &ItemFn) -> TokenStream {
    let krate = krate(args.krate.clone());
    let name = accessor_name(f);
    let capacity = args
        .capacity
        .as_ref()
        .map_or_else(|| quote!(10_000usize), |c| quote!(#c));
    let vis = &f.vis;
    let doc = format!(
        "The memo table of `{}` (made by `#[memoize]`): [`clear`]({krate}::memo::MemoHandle::clear) it, \
         [`invalidate`]({krate}::memo::MemoHandle::invalidate) one entry, read its \
         [`stats`]({krate}::memo::MemoHandle::stats).",
        f.sig.ident,
        // Intra-doc links take `cache_core::..`, not `::cache_core::..`.
        krate = krate.to_token_stream().to_string().replace(' ', "").trim_start_matches("::").to_owned()
    );
    quote! {
        #[doc = #doc]
        #[allow(dead_code)]
        #vis fn #name() -> #krate::__private::MemoHandle {
            static __CACHE_SLOT: #krate::__private::MemoSlot = #krate::__private::MemoSlot::new(#capacity);
            #krate::__private::MemoHandle::new(&__CACHE_SLOT)
        }
    }
}

fn memoize_inner(args: MemoizeArgs, f: &ItemFn) -> syn::Result<TokenStream> {
    let sig = &f.sig;
    check_common(sig, "memoize")?;
    no_impl_trait_return(sig, "memoize")?;
    if let Some(g) = sig.generics.type_params().next() {
        return Err(syn::Error::new(
            g.span(),
            "`#[memoize]` does not support generic functions: its table is one static per function; \
             memoize a non-generic wrapper, or use `#[cached]`",
        ));
    }
    if let Some(g) = sig.generics.const_params().next() {
        return Err(syn::Error::new(
            g.span(),
            "`#[memoize]` does not support const generic functions",
        ));
    }
    let krate = krate(args.krate);
    let ret = return_type(sig);
    let (shape, _) = Shape::of(&ret);
    let marker = shape.marker(&krate);

    // The key: the receiver (if any) and every argument, owned.
    let key = match &args.key {
        Some(k) => quote_spanned!(k.span()=> #krate::__private::memo_key(#k)),
        None => {
            let mut parts = Vec::new();
            if let Some(r) = receiver(sig) {
                if r.reference.as_ref().is_some_and(|_| r.mutability.is_some()) {
                    return Err(syn::Error::new(
                        r.span(),
                        "`#[memoize]` on a `&mut self` method: a memoized method must not change its receiver",
                    ));
                }
                let s = r.self_token;
                // `Self` must be `Hash + Eq + Clone`: the receiver is part of the key.
                parts.push(if r.reference.is_some() {
                    quote_spanned!(s.span()=> #krate::__private::memo_key(::core::clone::Clone::clone(#s)))
                } else {
                    quote_spanned!(s.span()=> #krate::__private::memo_key(::core::clone::Clone::clone(&#s)))
                });
            }
            for p in params(sig) {
                if let Type::ImplTrait(it) = p.ty {
                    return Err(syn::Error::new(
                        it.span(),
                        "`#[memoize]` does not support `impl Trait` arguments (the function would be generic)",
                    ));
                }
                let by_ref = matches!(p.ty, Type::Reference(_));
                for n in &p.names {
                    parts.push(if by_ref && p.simple {
                        quote_spanned!(n.span()=> #krate::__private::memo_key(::std::borrow::ToOwned::to_owned(#n)))
                    } else {
                        quote_spanned!(n.span()=> #krate::__private::memo_key(::core::clone::Clone::clone(&#n)))
                    });
                }
            }
            match parts.len() {
                1 => parts.remove(0),
                _ => quote!((#(#parts),*)),
            }
        }
    };
    let ttl = match &args.ttl {
        Some(DurationArg::Fixed(d, span)) => {
            let (secs, nanos) = (d.as_secs(), d.subsec_nanos());
            quote_spanned!(*span=> ::core::option::Option::Some(#krate::__private::Duration::new(#secs, #nanos)))
        }
        Some(DurationArg::Expr(e)) => {
            quote_spanned!(e.span()=> ::core::option::Option::Some({ let __cache_d: #krate::__private::Duration = #e; __cache_d }))
        }
        Some(DurationArg::Preset(_, span)) => {
            return Err(syn::Error::new(
                *span,
                "`#[memoize]` has no TTL presets; write a duration such as \"5m\"",
            ))
        }
        None => quote!(::core::option::Option::None),
    };
    let name = accessor_name(f);
    let in_impl = receiver(sig).is_some() || mentions_self(sig);
    let (typed_slot, table) = match typed_key(sig, args.key.is_some() || in_impl) {
        // A free function whose key and value types can be named: a typed static skips the
        // lookup by type on every hit.
        Some(key_ty) => {
            let value_ty = Shape::of(&ret).1;
            (
                quote! {
                    static __CACHE_TABLE: #krate::__private::TypedSlot<#key_ty, #value_ty> =
                        #krate::__private::TypedSlot::new(#name);
                },
                quote!(&__CACHE_TABLE),
            )
        }
        None if in_impl => (quote!(), quote!(Self::#name())),
        None => (quote!(), quote!(#name())),
    };
    let block = &f.block;
    let allows = allows();
    let (attrs, vis) = (&f.attrs, &f.vis);
    let run = if sig.asyncness.is_some() {
        quote! {
            #allows
            let __cache_body = async {
                let __cache_ret: #ret = #block;
                __cache_ret
            };
            #krate::__private::memo_async::<#marker, _, _, _>(#table, __cache_key, || #ttl, __cache_body).await
        }
    } else {
        quote! {
            #allows
            let __cache_body = || -> #ret #block;
            #krate::__private::memo_sync::<#marker, _, _>(#table, __cache_key, || #ttl, __cache_body)
        }
    };
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #typed_slot
            let __cache_key = #key;
            #run
        }
    })
}
