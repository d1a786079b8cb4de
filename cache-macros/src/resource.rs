//! Resources: `cache_core::resource!(user, id = user_id)` declares an entity once; its cached
//! functions (`#[cached(resource = user, suffix = "profile")]`) get the key
//! `user:profile:{user_id}` and the tag `user:{user_id}`, and `#[cache_invalidate(resource =
//! user)]` drops that tag, so every entry of one user at once.
//!
//! A proc macro cannot read another item, so the declaration is a `macro_rules!` that carries
//! it: an attribute naming a resource expands to a call of that macro with the attribute's
//! arguments and the function, and the macro hands them, with the resource's name and id, to
//! `__resource_apply`, which checks the id is a parameter and expands the attribute.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{braced, Ident, ItemFn, LitStr, Path, Token, Visibility};

use crate::attr::{CachedArgs, InvalidateArgs};
use crate::expand;

mod kw {
    syn::custom_keyword!(id);
}

/// `[vis] name, id = param`.
pub(crate) struct Declaration {
    vis: Visibility,
    name: Ident,
    id: Ident,
}

impl Parse for Declaration {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let vis: Visibility = input.parse()?;
        let name: Ident = input.parse()?;
        input.parse::<Token![,]>()?;
        input.parse::<kw::id>()?;
        input.parse::<Token![=]>()?;
        let id: Ident = input.parse()?;
        if !input.is_empty() {
            input.parse::<Token![,]>()?;
        }
        if !input.is_empty() {
            return Err(input.error(
                "expected `resource!(name, id = parameter)`, as in `resource!(user, id = user_id)`",
            ));
        }
        Ok(Self { vis, name, id })
    }
}

/// The `macro_rules!` carrying the declaration, imported under the resource's name.
pub(crate) fn declare(d: Declaration) -> TokenStream {
    let Declaration { vis, name, id } = d;
    let inner = format_ident!("__cache_resource_{}", name);
    quote! {
        #[doc(hidden)]
        #[allow(unused_macros)]
        macro_rules! #inner {
            ($kind:ident { $($args:tt)* } $($item:tt)*) => {
                ::cache_core::__private::resource_apply! { $kind { $($args)* } #name #id $($item)* }
            };
        }
        #[allow(unused_imports)]
        #vis use #inner as #name;
    }
}

/// An attribute naming `resource = path`: expand through the resource's macro.
pub(crate) fn forward(
    kind: &str,
    resource: &Path,
    args: TokenStream,
    item: TokenStream,
) -> TokenStream {
    let kind = Ident::new(kind, Span::call_site());
    quote!(#resource! { #kind { #args } #item })
}

/// What a resource's macro hands back: `kind { args } name id fn`.
pub(crate) struct Apply {
    kind: Ident,
    args: TokenStream,
    name: Ident,
    id: Ident,
    item: ItemFn,
}

impl Parse for Apply {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let kind = input.parse()?;
        let content;
        braced!(content in input);
        let args = content.parse()?;
        Ok(Self {
            kind,
            args,
            name: input.parse()?,
            id: input.parse()?,
            item: input.parse()?,
        })
    }
}

/// The id must be a parameter: an error at the user's `resource = ..` otherwise.
fn check_id(f: &ItemFn, name: &Ident, id: &Ident, at: &Path) -> syn::Result<()> {
    let scope = expand::scope(&f.sig);
    if scope.names.contains(&id.to_string()) {
        return Ok(());
    }
    let mut names: Vec<String> = scope.names.iter().map(|n| format!("`{n}`")).collect();
    if names.is_empty() {
        names.push("none".into());
    }
    Err(syn::Error::new_spanned(
        at,
        format!(
            "resource `{name}` is keyed by `{id}`: add a parameter `{id}` to this function (parameters: {})",
            names.join(", ")
        ),
    ))
}

/// `ts` with every token resolving names as if written at `ctx`, keeping its location: the
/// code comes back through the resource's `macro_rules!`, whose hygiene would otherwise hide
/// the generated locals from the tokens spanned at the user's code.
fn resolved_at(ts: TokenStream, ctx: Span) -> TokenStream {
    ts.into_iter()
        .map(|tt| match tt {
            proc_macro2::TokenTree::Group(g) => {
                let mut ng = proc_macro2::Group::new(g.delimiter(), resolved_at(g.stream(), ctx));
                ng.set_span(g.span().resolved_at(ctx));
                proc_macro2::TokenTree::Group(ng)
            }
            mut other => {
                other.set_span(other.span().resolved_at(ctx));
                other
            }
        })
        .collect()
}

pub(crate) fn apply(a: Apply) -> TokenStream {
    // The user's function: its tokens resolve in the user's code.
    let ctx = a.item.sig.fn_token.span;
    resolved_at(apply_inner(a), ctx)
}

fn apply_inner(a: Apply) -> TokenStream {
    let Apply {
        kind,
        args,
        name,
        id,
        item,
    } = a;
    let tag = format!("{name}:{{{id}}}");
    let out = if kind == "cached" {
        syn::parse2::<CachedArgs>(args).and_then(|mut args| {
            let at = args.resource.take().expect("forwarded with a resource");
            check_id(&item, &name, &id, &at)?;
            let key = match args.suffix.take() {
                Some(s) => format!("{name}:{}:{{{id}}}", s.value()),
                None => tag.clone(),
            };
            args.key = Some(LitStr::new(&key, at.span()));
            args.tags.insert(0, LitStr::new(&tag, at.span()));
            Ok(expand::cached(args, item.clone()))
        })
    } else {
        syn::parse2::<InvalidateArgs>(args).and_then(|mut args| {
            let at = args.resource.take().expect("forwarded with a resource");
            check_id(&item, &name, &id, &at)?;
            args.tags.insert(0, LitStr::new(&tag, at.span()));
            args.empty = false;
            Ok(expand::cache_invalidate(args, item.clone()))
        })
    };
    out.unwrap_or_else(|e| {
        let err = e.to_compile_error();
        quote!(#err #item)
    })
}
